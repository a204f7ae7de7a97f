"""Local servers for the tests, safe under pytest-xdist: a free port, and an aiosmtpd
controller started on one (if another test takes the port between the probe and the bind,
another port is tried). Imported by name from the test folders' helpers."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from aiosmtpd.controller import Controller

#: how long a controller may take to start: a wait for its "ready" event, so a generous
#: limit costs nothing on a fast machine and keeps a busy one from failing
READY_TIMEOUT = 120.0


def free_port() -> int:
    """A port nothing listens on just now (for a server that cannot take an open socket)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_controller(make: Callable[..., Controller], attempts: int = 20) -> Controller:
    """``make(port=..., ready_timeout=...)`` a controller and start it on a free port."""
    for _ in range(attempts):
        controller = make(port=free_port(), ready_timeout=READY_TIMEOUT)
        try:
            controller.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return controller
    raise RuntimeError(f"no free port for an SMTP server after {attempts} tries")
