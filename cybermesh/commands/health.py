"""`cybermesh health`: exit 0 when the local worker's web server answers a GET with HTTP 200.

  cybermesh health [--url URL] [--path PATH] [--timeout S]

The Docker image's HEALTHCHECK. Default URL: http://127.0.0.1:<settings web_port><PATH> (https
when the API serves TLS, `api.tls_cert`; a loopback liveness probe does not verify it), PATH
from --path, else env CYBERMESH_HEALTH_PATH, else /api/v1/health (the API's liveness view;
/metrics works too).
Exit codes: 0 healthy; 1 no answer or another status (the reason on stderr).
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "health",
        help="exit 0 when the local worker's web server answers (Docker HEALTHCHECK)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", help="full URL to GET (default: from settings web_port and --path)")
    p.add_argument("--path", help="path on the worker's web server (default: $CYBERMESH_HEALTH_PATH or /api/v1/health)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    p.set_defaults(func=run)


def target(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    from cybermesh.config import load_settings

    settings = load_settings()
    path = args.path or os.environ.get("CYBERMESH_HEALTH_PATH") or "/api/v1/health"
    scheme = "https" if settings.api.tls_cert is not None else "http"
    return f"{scheme}://127.0.0.1:{settings.web_port}{path}"


def run(args: argparse.Namespace) -> int:
    url = target(args)
    try:
        # loopback liveness probe: the API's certificate names the service, not 127.0.0.1
        context = ssl._create_unverified_context() if url.startswith("https:") else None
        with urllib.request.urlopen(url, timeout=args.timeout, context=context) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"health: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"health: {url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0
