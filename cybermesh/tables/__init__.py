"""Faust table declarations: the mempool and the replay cache (RocksDB-backed)."""
