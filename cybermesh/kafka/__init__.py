"""Kafka adapters shared by the worker and the CLI (docs/DEPLOY.md).

- `client`  the one place that turns the `kafka` settings into aiokafka keyword arguments and
            Faust app settings (TLS, SASL, idempotent producer)
- `topics`  the topics a validator creates, with explicit partitions, replication and configs
- `check`   start-up checks against the broker, with errors that name the setting
"""
