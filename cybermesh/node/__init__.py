"""The validator node: payload (pure) and the commit pipeline (adapters)."""
