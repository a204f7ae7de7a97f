"""Security helpers of the web app: CSRF tokens, security headers, HTTP basic auth and the
sign-up rate limiter.

CSRF uses a *signed double submit*: a random nonce lives in an HttpOnly cookie, and every form
carries the nonce signed with the secret key (itsdangerous, with its own salt). A POST is
accepted only when the signature is valid, not older than :data:`CSRF_MAX_AGE_SECONDS` and the
signed nonce equals the cookie. A cross-site page can neither read the cookie nor forge the
signature.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "bevaka_csrf"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE_SECONDS = 12 * 3600

# No inline script or style anywhere: the pages work without JavaScript.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    # Links carry tokens in their path: never send them to another site.
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response (error pages included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SlashRedirectMiddleware:
    """``/registrera/`` → 307 to ``/registrera``, with a *relative* Location: the host is never
    taken from the request's Host header (Starlette's own slash redirect did, so
    ``Host: evil.example`` sent people to evil.example). Leading slashes are collapsed and
    the path is percent-encoded, so ``//evil.example/`` cannot become a protocol-relative
    link either."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if len(path) > 1 and path.endswith("/") and not path.startswith("/static/"):
            location = "/" + quote(path.strip("/"), safe="/")
            query = scope.get("query_string", b"")
            if query:
                location += "?" + query.decode("latin-1")
            headers = [(b"location", location.encode("latin-1")), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 307, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


class CsrfProtect:
    """Signed double-submit CSRF tokens (see the module docstring)."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="bevaka-csrf")

    @staticmethod
    def nonce(request: Request) -> tuple[str, bool]:
        """The request's nonce and whether it is new (and must be set as a cookie)."""
        existing = request.cookies.get(CSRF_COOKIE)
        if (
            existing
            and 16 <= len(existing) <= 64
            and existing.replace("-", "").replace("_", "").isalnum()
        ):
            return existing, False
        return secrets.token_urlsafe(24), True

    def token_for(self, nonce: str) -> str:
        return self._serializer.dumps(nonce)

    def valid(self, request: Request, submitted: str | None) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie or not submitted:
            return False
        try:
            signed = self._serializer.loads(submitted, max_age=CSRF_MAX_AGE_SECONDS)
        except BadSignature:
            return False
        return isinstance(signed, str) and secrets.compare_digest(signed, cookie)


def check_basic_auth(header: str | None, user: str, password: str) -> bool:
    """True when an ``Authorization: Basic`` header carries exactly this user and password."""
    if not header or not header.lower().startswith("basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    given_user, sep, given_password = decoded.partition(":")
    if not sep:
        return False
    user_ok = secrets.compare_digest(given_user.encode(), user.encode())
    password_ok = secrets.compare_digest(given_password.encode(), password.encode())
    return user_ok and password_ok


class RateLimiter:
    """At most ``limit`` events per key in a sliding window (per process, in memory).

    The clock is passed in so tests control time. Bevaka runs one web process; behind several
    workers each would count on its own (see docs/web.md).
    """

    def __init__(
        self, limit: int, window: timedelta, clock: Callable[[], datetime], max_keys: int = 10_000
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._events: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Record one event for ``key``; False (and nothing recorded) when over the limit."""
        now = self.clock()
        with self._lock:
            if len(self._events) > self.max_keys:
                self._prune(now)
            events = self._events[key]
            while events and now - events[0] >= self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True

    def _prune(self, now: datetime) -> None:
        for key in list(self._events):
            events = self._events[key]
            while events and now - events[0] >= self.window:
                events.popleft()
            if not events:
                del self._events[key]
