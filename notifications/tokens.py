"""Signed, expiring tokens for subscriber links (preferences page, unsubscribe, calendar).

A token carries the subscriber id, its ``token_version`` and a purpose. Bumping
``Subscriber.token_version`` (done on unsubscribe) invalidates every earlier token.
The key comes from ``BEVAKA_SECRET_KEY`` (settings.secret_key), never from YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

PURPOSES = ("prefs", "unsubscribe", "calendar", "signup")


class TokenError(Exception):
    """The token is forged, expired or for another purpose. ``expired`` tells which."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class TokenData:
    subscriber_id: int | None
    version: int
    purpose: str
    email: str | None = None


class _ClockSigner(TimestampSigner):
    """A timestamp signer whose "now" is given (the caller's clock), not read from the system:
    a token made and read at a given time is the same on every machine and every run."""

    def __init__(self, *args, now: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        if self._now is None:
            return super().get_timestamp()
        return int(self._now.timestamp())


def _serializer(secret_key: str, now: datetime | None) -> URLSafeTimedSerializer:
    if not secret_key:
        raise TokenError("no secret key configured (set BEVAKA_SECRET_KEY)")
    return URLSafeTimedSerializer(
        secret_key, salt="bevaka-subscriber-link", signer=_ClockSigner, signer_kwargs={"now": now}
    )


def make_token(
    secret_key: str,
    *,
    purpose: str,
    subscriber_id: int | None = None,
    version: int = 1,
    email: str | None = None,
    now: datetime | None = None,
) -> str:
    """A signed token stamped with ``now`` (an aware datetime; default the system clock)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    payload = {"s": subscriber_id, "v": version, "p": purpose}
    if email is not None:
        payload["e"] = email
    return _serializer(secret_key, now).dumps(payload)


def read_token(
    secret_key: str,
    token: str,
    *,
    purpose: str,
    max_age_seconds: int,
    now: datetime | None = None,
) -> TokenData:
    """Verify signature, age (at ``now``; default the system clock) and purpose. The caller
    must still compare ``version`` with the subscriber's current ``token_version``."""
    try:
        payload = _serializer(secret_key, now).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise TokenError("the link has expired", expired=True) from None
    except BadSignature:
        raise TokenError("the link is not valid") from None
    if not isinstance(payload, dict) or payload.get("p") != purpose:
        raise TokenError("the link is not valid for this page")
    return TokenData(payload.get("s"), int(payload.get("v", 0)), payload["p"], payload.get("e"))
