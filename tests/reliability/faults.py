"""Reusable fault injection for the reliability tests.

:class:`FaultServer` is a real ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) whose
paths answer with a chosen fault: an HTTP error, then recovery; 429 with Retry-After; a
connection that is accepted and never answered (bounded: the handler thread gives up after
``hang_limit`` seconds or when the server stops); an answer that comes, slowly; a connection reset in the middle of the
body; truncated JSON; a malformed XML feed; a changed HTML layout; a 50 MB body streamed in
chunks (never held in memory); a redirect loop; a body in another charset than declared::

    with FaultServer() as server:
        server.route("/feed", Sequence(Status(500), Body(rss, "application/rss+xml")))
        url = server.url("/feed")
        ...
        assert server.hits("/feed") == 2

:class:`SmtpFaultServer` is a real aiosmtpd server (in its own thread) whose behaviour is
set by :class:`SmtpFaults`: 421 on connect, 4xx/5xx for given recipients, a connection
dropped after N messages, a server that stops answering after MAIL FROM, STARTTLS with a
certificate the client does not trust. Everything it accepted is in ``server.messages``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from net_support import start_controller

from crawler.mirror import LocalHTTPServer

# --- HTTP --------------------------------------------------------------------------------


class Fault:
    """How one request to a path is answered. ``hit`` counts from 1 for that path."""

    def answer(self, handler: _Handler, hit: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Body(Fault):
    """A normal answer (``status`` may be an error). ``{base}`` in the body is replaced
    by the server's base URL."""

    body: bytes | str
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self, handler: _Handler) -> bytes:
        data = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        return data.replace(b"{base}", handler.server.fault_server.base_url.encode())

    def answer(self, handler: _Handler, hit: int) -> None:
        handler.send_all(self.status, self.payload(handler), self.content_type, self.headers)


def Status(status: int, body: str = "error\n", **headers: str) -> Body:
    """An error status with a small text body."""
    return Body(body, "text/plain; charset=utf-8", status, dict(headers))


def TooManyRequests(retry_after: int = 1) -> Body:
    return Body("slow down\n", "text/plain", 429, {"Retry-After": str(retry_after)})


@dataclass
class Sequence(Fault):
    """The n-th request it answers gets the n-th fault; the last one repeats."""

    faults: tuple[Fault, ...]

    def __init__(self, *faults: Fault):
        self.faults = faults
        self.answered = 0
        self._lock = threading.Lock()

    def answer(self, handler: _Handler, hit: int) -> None:
        with self._lock:
            self.answered += 1
            n = self.answered
        self.faults[min(n, len(self.faults)) - 1].answer(handler, n)


@dataclass
class Hang(Fault):
    """Accept the request and never answer (until ``hang_limit`` or the server stops)."""

    def answer(self, handler: _Handler, hit: int) -> None:
        server = handler.server.fault_server
        server.stopping.wait(server.hang_limit)
        handler.close_connection = True


@dataclass
class Slow(Fault):
    """Answer with ``fault`` after ``seconds`` (a site that answers, but slowly)."""

    seconds: float
    fault: Fault

    def answer(self, handler: _Handler, hit: int) -> None:
        if handler.server.fault_server.stopping.wait(self.seconds):
            handler.close_connection = True
            return
        self.fault.answer(handler, hit)


@dataclass
class ResetMidBody(Fault):
    """Headers promise the whole body; half of it is sent, then the connection is reset
    (TCP RST through SO_LINGER 0)."""

    body: bytes | str
    content_type: str = "application/json"

    def answer(self, handler: _Handler, hit: int) -> None:
        data = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        handler.send_response(200)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[: len(data) // 2])
        handler.wfile.flush()
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        handler.connection.close()


@dataclass
class Huge(Fault):
    """``size`` bytes of a valid-looking body, generated chunk by chunk (never held in
    memory); stops quietly when the client hangs up. ``sent`` counts the bytes written.
    ``declare_length=False``: no Content-Length, the body ends when the connection closes
    (the client only learns the size by reading)."""

    size: int = 50 * 1024 * 1024
    content_type: str = "text/html; charset=utf-8"
    declare_length: bool = True
    chunk: bytes = b"<p>" + b"x" * 16377 + b"</p>\n"
    sent: int = 0

    def answer(self, handler: _Handler, hit: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", self.content_type)
        if self.declare_length:
            handler.send_header("Content-Length", str(self.size))
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        remaining = self.size
        try:
            while remaining > 0 and not handler.server.fault_server.stopping.is_set():
                piece = self.chunk[: min(len(self.chunk), remaining)]
                handler.wfile.write(piece)
                remaining -= len(piece)
                self.sent += len(piece)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            pass
        handler.close_connection = True


@dataclass
class Redirect(Fault):
    """``302`` to ``location`` (a path on this server or an absolute URL)."""

    location: str
    status: int = 302

    def answer(self, handler: _Handler, hit: int) -> None:
        location = self.location
        if location.startswith("/"):
            location = handler.server.fault_server.base_url + location
        handler.send_all(self.status, b"", "text/plain", {"Location": location})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that sends nothing cannot hold a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        return

    def send_all(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = urlsplit(self.path).path
        server = self.server.fault_server
        with server.lock:
            server.requests.append((self.command, self.path, time.monotonic()))
            server.counts[path] = server.counts.get(path, 0) + 1
            hit = server.counts[path]
        for hook in list(server.on_request):
            hook(self.command, path, hit)
        fault = server.routes.get(path)
        if fault is None:
            self.send_all(404, b"not here\n", "text/plain")
            return
        fault.answer(self, hit)

    do_GET = _answer
    do_POST = _answer
    do_HEAD = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fault_server: FaultServer

    def handle_error(self, request, client_address) -> None:
        return  # resets and hang-ups are the point here; keep test output quiet


class FaultServer(LocalHTTPServer):
    """A local HTTP server whose paths answer with faults (see the module docstring)."""

    thread_name = "fault server"

    def __init__(self, hang_limit: float = 10.0):
        super().__init__()
        self.hang_limit = hang_limit
        self.routes: dict[str, Fault] = {}
        self.requests: list[tuple[str, str, float]] = []
        self.counts: dict[str, int] = {}
        self.on_request: list[Callable[[str, str, int], None]] = []
        self.lock = threading.Lock()

    def make_server(self) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fault_server = self
        return server

    def route(self, path: str, fault: Fault) -> str:
        """Answer ``path`` with ``fault``; returns the full URL."""
        self.routes[path] = fault
        return self.url(path) if self._server else path

    def url(self, path: str) -> str:
        return self.base_url + path

    def hits(self, path: str) -> int:
        with self.lock:
            return self.counts.get(path, 0)


# --- SMTP --------------------------------------------------------------------------------


@dataclass
class SmtpFaults:
    """What the SMTP server does wrong. All counters are over the server's lifetime."""

    #: the first N connections are greeted with ``421`` and closed
    refuse_connections: int = 0
    #: recipient → reply for RCPT TO, given ``times`` times (None: always)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    rcpt_times: int | None = None
    #: after this many accepted messages, drop the connection instead of answering DATA
    #: (once; later connections work)
    drop_after: int | None = None
    #: after this many accepted messages, stop answering at MAIL FROM (until ``hang_limit``)
    hang_after: int | None = None
    hang_limit: float = 10.0
    #: called with (number of messages accepted so far) after each accepted message
    on_message: Callable[[int], None] | None = None
    #: the messages of the first connection wait at DATA until this event is set (the
    #: server sets ``holding`` when the first one arrives); other connections go on
    hold_first_connection: threading.Event | None = None
    #: every DATA is answered with this reply (e.g. "554 5.7.1 ...") instead of accepted
    data_reply: str | None = None


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message

    @property
    def message_id(self) -> str:
        return str(self.message.get("Message-ID", ""))

    @property
    def to(self) -> str:
        return self.rcpt_tos[0].lower() if self.rcpt_tos else ""


class _FaultHandler:
    def __init__(self, owner: SmtpFaultServer):
        self.owner = owner
        self.rcpt_given: dict[str, int] = {}
        self.dropped = False

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        faults = self.owner.faults
        if faults.hang_after is not None and len(self.owner.messages) >= faults.hang_after:
            self.owner.hangs += 1
            self.owner.hung.set()
            await asyncio.get_running_loop().run_in_executor(
                None, self.owner.stopping.wait, faults.hang_limit
            )
            return "421 4.4.2 gave up"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        faults = self.owner.faults
        reply = faults.rcpt_replies.get(address.lower())
        if reply is not None:
            given = self.rcpt_given.get(address.lower(), 0)
            if faults.rcpt_times is None or given < faults.rcpt_times:
                self.rcpt_given[address.lower()] = given + 1
                self.owner.refusals.append((address.lower(), reply))
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope):
        faults = self.owner.faults
        if (
            faults.drop_after is not None
            and not self.dropped
            and len(self.owner.messages) >= faults.drop_after
        ):
            self.dropped = True
            self.owner.drops += 1
            server.transport.close()
            return "421 4.4.2 dropped"
        if faults.data_reply is not None:
            self.owner.refusals.append((",".join(envelope.rcpt_tos), faults.data_reply))
            return faults.data_reply
        if faults.hold_first_connection is not None:
            with self.owner.lock:
                if self.owner.first_session is None:
                    self.owner.first_session = session
            if session is self.owner.first_session:
                self.owner.holding.set()
                gate = faults.hold_first_connection
                await asyncio.get_running_loop().run_in_executor(None, gate.wait, 60)
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            message=message_from_bytes(envelope.original_content or envelope.content),
        )
        with self.owner.lock:
            self.owner.messages.append(received)
            count = len(self.owner.messages)
        if faults.on_message is not None:
            faults.on_message(count)
        return "250 Message accepted for delivery"


class _FaultSMTP(SMTP):
    async def _handle_client(self) -> None:
        owner: SmtpFaultServer = self._fault_owner
        if not owner.ready.is_set():  # the controller's own start-up probe
            await super()._handle_client()
            return
        with owner.lock:
            owner.connections += 1
            refuse = owner.connections <= owner.faults.refuse_connections
        if refuse:
            owner.refused_connections += 1
            await self.push("421 4.3.2 service not available, closing channel")
            self.transport.close()
            return
        await super()._handle_client()


class _Controller(Controller):
    def __init__(self, owner: SmtpFaultServer, **kwargs: Any):
        self.owner = owner
        super().__init__(_FaultHandler(owner), **kwargs)

    def factory(self) -> SMTP:
        smtp = _FaultSMTP(self.handler, **self.SMTP_kwargs)
        smtp._fault_owner = self.owner
        return smtp


class SmtpFaultServer:
    """A real aiosmtpd server on 127.0.0.1 with injected faults (see :class:`SmtpFaults`).

    ``tls_context``: offer STARTTLS with this server context (``require_starttls`` off);
    other keyword arguments go to aiosmtpd's SMTP (e.g. ``authenticator``)."""

    def __init__(
        self,
        faults: SmtpFaults | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        **smtp_kwargs: Any,
    ):
        self.faults = faults or SmtpFaults()
        self.smtp_kwargs = smtp_kwargs
        self.tls_context = tls_context
        self.messages: list[Received] = []
        self.refusals: list[tuple[str, str]] = []
        self.connections = 0
        self.drops = 0
        self.hangs = 0
        self.refused_connections = 0
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.hung = threading.Event()  # a connection has stopped being answered
        self.holding = threading.Event()  # the first connection's message is held
        self.first_session: Any = None
        self.port = 0
        self._controller: _Controller | None = None

    def start(self) -> SmtpFaultServer:
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", **self.smtp_kwargs}
        if self.tls_context is not None:
            kwargs["tls_context"] = self.tls_context
            kwargs["require_starttls"] = False
        self._controller = start_controller(lambda **free: _Controller(self, **free, **kwargs))
        self.port = self._controller.port
        self.ready.set()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpFaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def to(self, address: str) -> list[Received]:
        """The messages accepted for ``address`` (digest recipients are one per message)."""
        return [m for m in self.messages if address.lower() in [r.lower() for r in m.rcpt_tos]]
