"""Generated protobuf bindings (scripts/gen-proto). Never edit by hand."""
