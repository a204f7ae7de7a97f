"""A real aiosmtpd SMTP server for the digest tests (plain, STARTTLS or implicit TLS,
optional AUTH) that records what it receives and can misbehave on purpose."""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "bevaka"
SMTP_PASSWORD = "s3cret-only-in-env"  # test server credential


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
    ``greylist``: recipients answered ``451`` once (then accepted).
    """

    received: list[Received] = field(default_factory=list)
    budget: int | None = None
    drop_every: int | None = None
    reject: dict[str, str] = field(default_factory=dict)
    greylist: set[str] = field(default_factory=set)  # answer 451 the first time
    greylisted: list[str] = field(default_factory=list)
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
        if address in self.greylist:
            self.greylist.discard(address)
            self.greylisted.append(address)
            return "451 4.7.1 Greylisted, try again later"
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
            "timeout_seconds": 60,  # a wait for the local server's answer, not a limit tested
        }
        values.update(extra)
        return values
