"""`cybermesh db upgrade|current`: schema migrations of the SQL projection.

The URL comes from `--url`, else from the settings (`db_url`, env `CYBERMESH_DB_URL`); the
connection options (TLS: `db.sslmode`/`sslrootcert`/`sslcert`/`sslkey`, `db.statement_timeout_ms`,
`db.application_name`, ...) always come from the settings' `db` section (docs/DEPLOY.md).
"""

from __future__ import annotations

import argparse

from cybermesh.config import DbSettings
from cybermesh.storage.engine import redacted


def _target(args: argparse.Namespace) -> tuple[str, DbSettings]:
    """The URL (`--url`, else settings `db_url`) and the `db` settings (TLS, timeouts, pool)."""
    from cybermesh.config import load_settings

    settings = load_settings()
    return (str(args.url) if args.url else settings.db_url), settings.db


def _upgrade(args: argparse.Namespace) -> int:
    from cybermesh.storage import migrate

    url, db = _target(args)
    migrate.upgrade(url, args.revision, sql=args.sql, options=db)
    if not args.sql:
        print(f"{redacted(url)}: at revision {migrate.current(url, options=db)}")
    return 0


def _current(args: argparse.Namespace) -> int:
    from cybermesh.storage import migrate

    url, db = _target(args)
    rev = migrate.current(url, options=db)
    head = migrate.head()
    print(f"{redacted(url)}: revision {rev or '(none)'}, head {head}")
    return 0 if rev == head else 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = subparsers.add_parser("db", help="SQL projection schema migrations")
    sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = sub.add_parser("upgrade", help="migrate the projection database to the newest schema")
    up.add_argument("--url", help="SQLAlchemy URL (default: settings db_url)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.add_argument("--sql", action="store_true", help="print the DDL instead of running it")
    up.set_defaults(func=_upgrade)
    cur = sub.add_parser("current", help="show the revision (exit 1 if not at head)")
    cur.add_argument("--url", help="SQLAlchemy URL (default: settings db_url)")
    cur.set_defaults(func=_current)
