"""Local servers the benchmarks measure against: a threaded HTTP server for pre-built
bodies (the SEDIA emulator and the RSS feeds) and an aiosmtpd SMTP sink.

The HTTP server answers every request from bytes built before the clock starts, so it
costs the same for every side; it honours ``If-None-Match`` (ETag) with ``304``."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Body = tuple[bytes, str]  # (body, content type)
Resolver = Callable[[str, str, dict[str, str], bytes], Body | None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        server: BenchHTTPServer = self.server  # type: ignore[assignment]
        server.count(method)
        found = server.resolver(method, parts.path, query, payload)
        if found is None:
            self._send(404, b"not found", "text/plain", None)
            return
        body, content_type = found
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", content_type, etag)
            return
        self._send(200, body, content_type, etag)

    def _send(self, status: int, body: bytes, content_type: str, etag: str | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_HEAD(self) -> None:
        self._answer("HEAD")


class BenchHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, resolver: Resolver):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.resolver = resolver
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def count(self, method: str) -> None:
        with self._lock:
            self.requests[method] = self.requests.get(method, 0) + 1

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = {}

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> BenchHTTPServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """A real aiosmtpd server on 127.0.0.1 that keeps (or only counts) what it receives."""

    def __init__(self, keep: bool = False):
        self.keep = keep
        self.messages_with_envelope: list[tuple[str, list[str], bytes]] = []
        self.count = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd API
        content = envelope.original_content or envelope.content
        with self._lock:
            self.count += 1
            self.bytes += len(content)
            if self.keep:
                self.messages_with_envelope.append(
                    (envelope.mail_from, list(envelope.rcpt_tos), bytes(content))
                )
        return "250 OK"

    def reset(self) -> None:
        with self._lock:
            self.messages_with_envelope = []
            self.count = 0
            self.bytes = 0

    def __enter__(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, data_size_limit=50_000_000
        )
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
