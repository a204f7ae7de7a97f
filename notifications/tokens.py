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


def _serializer(
    secret_key: str, now: datetime | None, salt: str = "bevaka-subscriber-link"
) -> URLSafeTimedSerializer:
    if not secret_key:
        raise TokenError("no secret key configured (set BEVAKA_SECRET_KEY)")
    return URLSafeTimedSerializer(
        secret_key, salt=salt, signer=_ClockSigner, signer_kwargs={"now": now}
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
    subscriber_id, version, email = payload.get("s"), payload.get("v", 0), payload.get("e")
    # signed by us, but never trusted to have the right shape (an old or odd payload must
    # be an invalid link, not a server error)
    if not _is_int(version) or not (subscriber_id is None or _is_int(subscriber_id)):
        raise TokenError("the link is not valid")
    if email is not None and not isinstance(email, str):
        raise TokenError("the link is not valid")
    return TokenData(subscriber_id, version, payload["p"], email)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- links bound to one subscriber and one call (the digest's action links) -------------

CALL_PURPOSES = ("act", "share")


@dataclass(frozen=True)
class CallTokenData:
    subscriber_id: int
    version: int
    call_id: int
    purpose: str


CALL_SALT = "bevaka-call-link"


def make_call_token(
    secret_key: str,
    *,
    purpose: str,
    subscriber_id: int,
    version: int,
    call_id: int,
    now: datetime | None = None,
) -> str:
    """A link token for one subscriber and one call ("act": record the förvaltning's choice;
    "share": forward the call), stamped with ``now`` (the digest's clock; default the system
    clock). Like the unsubscribe token, it dies when ``token_version`` moves on; it is valid
    for one call only."""
    if purpose not in CALL_PURPOSES:
        raise ValueError(f"unknown call token purpose {purpose!r}")
    payload = {"s": subscriber_id, "v": version, "c": call_id, "p": purpose}
    return _serializer(secret_key, now, CALL_SALT).dumps(payload)


def read_call_token(
    secret_key: str,
    token: str,
    *,
    purpose: str,
    call_id: int,
    max_age_seconds: int,
    now: datetime | None = None,
) -> CallTokenData:
    """Verify signature, age (at ``now``; default the system clock), purpose and call. The
    caller compares ``version`` with the subscriber's ``token_version``."""
    try:
        payload = _serializer(secret_key, now, CALL_SALT).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise TokenError("the link has expired", expired=True) from None
    except BadSignature:
        raise TokenError("the link is not valid") from None
    if (
        not isinstance(payload, dict)
        or payload.get("p") != purpose
        or payload.get("c") != call_id
        or not isinstance(payload.get("s"), int)
        or not isinstance(payload.get("v"), int)
    ):
        raise TokenError("the link is not valid for this page")
    return CallTokenData(payload["s"], payload["v"], payload["c"], payload["p"])
