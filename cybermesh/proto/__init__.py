"""Generated protobuf bindings live in cybermesh.proto.v1."""
