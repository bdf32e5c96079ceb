"""CyberMesh validator: signed security detections from Kafka to an agreed ledger."""

__version__ = "0.1.0"
