"""Fixtures for the digest tests: a real aiosmtpd SMTP server (plain, STARTTLS or implicit
TLS, optional AUTH) that records what it receives and can misbehave on purpose, and the
example world from notifications.example."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from notifications.example import (
    EXAMPLE_NOW,
    example_config,
    example_needs,
    example_sources,
    seed_example,
)

SMTP_USER = "bevaka"
SMTP_PASSWORD = "s3cret-only-in-env"  # noqa: S105 - test server credential


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class Recorder:
    """The SMTP handler: records every accepted message.

    ``budget``: accept this many messages in total, then close the connection on DATA.
    ``drop_every``: close each connection after it has carried this many messages.
    ``reject``: recipient → SMTP reply (e.g. ``"550 5.1.1 User unknown"``).
    """

    received: list[Received] = field(default_factory=list)
    budget: int | None = None
    drop_every: int | None = None
    reject: dict[str, str] = field(default_factory=dict)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        if not getattr(session, "counted", False):
            session.counted = True
            with self.lock:
                self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.budget is not None and len(self.received) >= self.budget:
                server.transport.close()
                return "421 4.3.2 Service shutting down"
            raw = envelope.original_content or envelope.content
            self.received.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    raw=raw,
                    message=email.message_from_bytes(raw, policy=email.policy.default),
                    tls=server.transport.get_extra_info("ssl_object") is not None,
                    login=(
                        session.auth_data.login.decode()
                        if isinstance(session.auth_data, LoginPassword)
                        else None
                    ),
                )
            )
        session.carried = getattr(session, "carried", 0) + 1
        if self.drop_every and session.carried >= self.drop_every:
            server.loop.call_soon(server.transport.close)
        return "250 OK queued"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class SmtpServer:
    port: int
    recorder: Recorder
    client_tls: ssl.SSLContext | None
    security: str

    def smtp_settings(self, **extra) -> dict:
        values = {
            "host": "127.0.0.1",
            "port": self.port,
            "security": self.security,
            "retry_backoff_seconds": 0,
            "max_attempts": 3,
            "timeout_seconds": 10,
        }
        values.update(extra)
        return values


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory):
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_ctx, client_ctx, ca_file


@pytest.fixture
def smtp_factory(tls_pair):
    """``smtp_factory(security="none"|"starttls"|"tls", auth=False)`` → a running server."""
    controllers: list[Controller] = []

    def start(security: str = "none", auth: bool = False) -> SmtpServer:
        server_ctx, client_ctx, _ = tls_pair
        recorder = Recorder()
        port = free_port()
        kwargs: dict = {}
        if security == "starttls":
            kwargs.update(tls_context=server_ctx, require_starttls=True)
        if security == "tls":
            kwargs.update(ssl_context=server_ctx)
        if auth:
            kwargs.update(
                authenticator=_authenticator,
                auth_required=True,
                auth_require_tls=security == "starttls",
            )
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer(port, recorder, client_ctx if security != "none" else None, security)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp(smtp_factory) -> SmtpServer:
    return smtp_factory("none")


@pytest.fixture
def world(session) -> dict[str, int]:
    """The example world in the test database (committed)."""
    ids = seed_example(session)
    session.commit()
    return ids


@pytest.fixture
def make_config(tmp_path):
    def make(server: SmtpServer | None = None, **kw):
        smtp = server.smtp_settings(**kw.pop("smtp", {})) if server else kw.pop("smtp", {})
        cfg = example_config(
            tmp_path, **{k: v for k, v in kw.items() if k in ("public_url", "secret_key")}, **smtp
        )
        digest_updates = {k: v for k, v in kw.items() if k not in ("public_url", "secret_key")}
        digest_updates.setdefault("outbox_dir", str(tmp_path / "outbox"))
        settings = cfg.settings.model_copy(
            update={"digest": cfg.settings.digest.model_copy(update=digest_updates)}
        )
        return type(cfg)(cfg.directory, settings, cfg.sources, cfg.needs)

    return make


def write_example_config(config_dir: Path) -> None:
    """Make a test config directory use the example förvaltningar, topics and sources."""
    for name, model in (("needs.yaml", example_needs()), ("sources.yaml", example_sources())):
        (config_dir / name).write_text(
            yaml.safe_dump(model.model_dump(mode="json"), allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )


NOW = EXAMPLE_NOW
