"""`cybermesh health` (the image's HEALTHCHECK) against a real local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from cybermesh.cli import main


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/v1/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[int]:
    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_health(server: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CYBERMESH_WEB_PORT", str(server))
    monkeypatch.delenv("CYBERMESH_HEALTH_PATH", raising=False)
    assert main(["health"]) == 0
    monkeypatch.setenv("CYBERMESH_HEALTH_PATH", "/metrics")
    assert main(["health"]) == 1
    assert f"http://127.0.0.1:{server}/metrics: HTTP 503" in capsys.readouterr().err
    assert main(["health", "--url", "http://127.0.0.1:1/"]) == 1
