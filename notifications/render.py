"""Rendering a Digest into a mail: Jinja2 HTML + text (autoescape on), CSS inlined with
css_inline, and a multipart/alternative EmailMessage whose every data-derived header value
went through ``header_safe``. Rendering never sends."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from typing import Any

import css_inline
from jinja2 import Environment

from config.schema import Settings
from notifications.digest import Digest
from notifications.formatting import TEMPLATES_DIR, header_safe, make_environment

SUBJECT_MAX = 180


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


_header_safe_cached = lru_cache(maxsize=16384)(header_safe)


def _header_safe_filter(text: Any, *args: Any) -> str:
    """``header_safe`` remembered per value: the same titles recur in many digests."""
    try:
        return _header_safe_cached(text, *args)
    except TypeError:  # an unhashable value
        return header_safe(text, *args)


@lru_cache(maxsize=4)
def _environment(tz_name: str) -> Environment:
    env = make_environment(TEMPLATES_DIR, tz=tz_name)
    env.filters["header_safe"] = _header_safe_filter
    return env


@lru_cache(maxsize=1)
def _css() -> str:
    return (TEMPLATES_DIR / "digest.css").read_text(encoding="utf-8")


_INLINER = css_inline.CSSInliner(keep_style_tags=True)


def render_digest(digest: Digest, *, timezone: str = "Europe/Stockholm") -> Rendered:
    """HTML (CSS inlined, a <style> block kept for the phone layout) and plain text."""
    env = _environment(timezone)
    html = env.get_template("digest.html").render(digest=digest, css=_css())
    text = env.get_template("digest.txt").render(digest=digest)
    return Rendered(
        subject=header_safe(digest.subject, SUBJECT_MAX),
        html=_INLINER.inline(html),
        text=text,
    )


def sender_domain(settings: Settings) -> str:
    address = parseaddr(settings.smtp.sender)[1]
    domain = address.rpartition("@")[2]
    return header_safe(domain, 200) or "bevaka.invalid"


def new_message_id(settings: Settings, *, week: str, subscriber_id: int | None) -> str:
    """``<bevaka.2026-W48.12.5f2c…@lidkoping.se>``: made once per delivery and stored in the
    ledger before sending, so a resend reuses it."""
    token = secrets.token_hex(8)
    who = subscriber_id if subscriber_id is not None else "x"
    return f"<bevaka.{header_safe(week, 16)}.{who}.{token}@{sender_domain(settings)}>"


def _mailbox(name: str | None, email: str) -> str:
    address = header_safe(email, 320)
    display = header_safe(name or "", 100)
    if not display:
        return address
    try:  # validates the address; EmailMessage encodes a non-ASCII display name
        return str(Address(display_name=display, addr_spec=address))
    except (ValueError, IndexError):
        return formataddr((display, address))


def build_message(
    *,
    settings: Settings,
    to_name: str | None,
    to_email: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    list_unsubscribe: str | None = None,
    one_click: bool = False,
) -> EmailMessage:
    """A text (+ HTML alternative) message with the standard headers. Every value that may
    come from data passes through ``header_safe``."""
    msg = EmailMessage()
    msg["Subject"] = header_safe(subject, SUBJECT_MAX)
    msg["From"] = header_safe(settings.smtp.sender, 320)
    msg["To"] = _mailbox(to_name, to_email)
    if settings.smtp.reply_to:
        msg["Reply-To"] = header_safe(settings.smtp.reply_to, 320)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = header_safe(message_id, 250)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if list_unsubscribe:
        msg["List-Unsubscribe"] = f"<{header_safe(list_unsubscribe, 900)}>"
        if one_click:
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


def digest_message(
    digest: Digest,
    *,
    settings: Settings,
    message_id: str,
    rendered: Rendered | None = None,
) -> EmailMessage:
    """The whole digest mail for one subscriber."""
    rendered = rendered or render_digest(digest, timezone=settings.timezone)
    unsubscribe = digest.unsubscribe_url or digest.unsubscribe_mailto
    return build_message(
        settings=settings,
        to_name=digest.subscriber.name,
        to_email=digest.subscriber.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=digest.now,
        list_unsubscribe=unsubscribe,
        one_click=digest.unsubscribe_url is not None,
    )
