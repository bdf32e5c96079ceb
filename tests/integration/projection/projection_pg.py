"""Stopping and starting the test PostgreSQL server (used by the `pg_control` fixture)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


@dataclass
class PgControl:
    """Runs `command` with the action: a template string with `{action}` (shell) or argv."""

    command: list[str] | str

    def _run(self, action: str) -> None:
        if isinstance(self.command, str):
            subprocess.run(
                self.command.replace("{action}", action), shell=True, check=True, timeout=120
            )
        else:
            subprocess.run([*self.command, action], check=True, timeout=120)

    def stop(self) -> None:
        self._run("stop")

    def start(self) -> None:
        self._run("start")
