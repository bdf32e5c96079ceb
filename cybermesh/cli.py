"""The `cybermesh` console script.

Each subcommand lives in its own module under `cybermesh/commands/` and exposes
`register(subparsers: argparse._SubParsersAction) -> None`, which adds its parser and sets
`func` (a callable taking the parsed args and returning an exit code). Modules are
discovered, so adding a command never edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import cybermesh.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cybermesh", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cybermesh.commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cybermesh.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
