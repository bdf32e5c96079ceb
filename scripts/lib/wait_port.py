"""Wait until a server could listen on 127.0.0.1:PORT: `wait_port.py PORT [SECONDS]`.

Our service ports lie in Linux's ephemeral range (32768-60999), so a client connection may hold
one as its local port, and keeps holding it in TIME_WAIT for a minute after it closes; a server's
bind fails meanwhile even with SO_REUSEADDR. This tries the bind the way servers do (SO_REUSEADDR,
then listen) until it succeeds. Exit 0 when the port is free, 1 when it is still taken at the end.
"""

from __future__ import annotations

import socket
import sys
import time


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            return False
    return True


def main(argv: list[str]) -> int:
    port = int(argv[0])
    deadline = time.monotonic() + (float(argv[1]) if len(argv) > 1 else 75.0)
    told = False
    while not bindable(port):
        if time.monotonic() >= deadline:
            return 1
        if not told:
            print(f"port {port} is held by another socket; waiting for it", file=sys.stderr)
            told = True
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
