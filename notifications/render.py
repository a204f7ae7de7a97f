"""Rendering a Digest into a mail: Jinja2 HTML + text (autoescape on), CSS inlined with
css_inline, and a multipart/alternative message whose every data-derived header value
went through ``header_safe``. Rendering never sends.

``build_mail`` writes the message's bytes directly (a :class:`notifications.sender.Mail`):
headers folded as the standard library's ``email`` package folds them (its folding is used,
remembered per value, for every value that is not plain short ASCII), bodies in 7bit or
quoted-printable, so the message is 7-bit clean and needs no 8BITMIME. ``build_message``
makes the same message as an ``EmailMessage`` for the other mails (web, alerts).
"""

from __future__ import annotations

import binascii
import random
import re
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from functools import lru_cache
from typing import Any

import css_inline
from jinja2 import Environment, pass_context
from markupsafe import Markup

from config.schema import Settings
from notifications.digest import Digest
from notifications.formatting import TEMPLATES_DIR, header_safe, make_environment
from notifications.sender import Mail

SUBJECT_MAX = 180


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str
    # the same as parts (entries apart, see render_digest): "".join(html_parts) == html
    html_parts: tuple[str, ...] = ()
    text_parts: tuple[str, ...] = ()


_header_safe_cached = lru_cache(maxsize=16384)(header_safe)


def _header_safe_filter(text: Any, *args: Any) -> str:
    """``header_safe`` remembered per value: the same titles recur in many digests."""
    try:
        return _header_safe_cached(text, *args)
    except TypeError:  # an unhashable value
        return header_safe(text, *args)


def _remembered(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``function`` remembered per (hashable) argument value. The same Entry object recurs
    in every digest of its group: it is found by identity first (hashing a frozen
    dataclass means hashing all its fields, every time)."""
    by_value = lru_cache(maxsize=4096)(function)
    by_identity: dict[int, tuple[Any, Any]] = {}  # id → (the object itself, result)

    def call(value: Any) -> Any:
        hit = by_identity.get(id(value))
        if hit is not None and hit[0] is value:  # the object is held: its id is not reused
            return hit[1]
        try:
            result = by_value(value)
        except TypeError:  # an unhashable value (e.g. lists in a hook's entry)
            return function(value)
        if len(by_identity) >= 4096:
            by_identity.clear()
        by_identity[id(value)] = (value, result)
        return result

    return call


class _Entries:
    """The per-call partials (``_entry.html``, ``_entry.txt``; they read only ``entry``)
    rendered, and the HTML one CSS-inlined, once per entry value: the same calls recur in
    many digests of a run, and an Entry is a frozen (hashable) value.

    Each entry holds the subscriber's own action links (``_actions.html``/``.txt``) where
    the partial has ``actions_marker``: they are rendered (and inlined) once per call with a
    placeholder for the token, which is replaced per subscriber (a plain string)."""

    def __init__(self, env: Environment):
        templates = _templates(env)
        marker = {"actions_marker": Markup(_ACTIONS_HTML)}  # noqa: S704 - a constant
        self.html = _remembered(
            lambda entry: Markup(templates["_entry.html"].render(entry=entry, **marker))  # noqa: S704 - autoescaped output
        )
        self.text = _remembered(
            lambda entry: templates["_entry.txt"].render(entry=entry, actions_marker=_ACTIONS_TEXT)
        )
        self.inlined_html = _remembered(
            lambda entry: _INLINER.inline_fragment(str(self.html(entry)), _css())
        )

        def actions(kind: str, call_id: int, base: str) -> str:
            context = {"call_id": call_id, "base": base, "token": _TOKEN, "choices": _choices()}
            return templates[f"_actions.{kind}"].render(context)

        self._actions = lru_cache(maxsize=8192)(actions)
        self._inlined_actions = lru_cache(maxsize=8192)(
            lambda call_id, base: _INLINER.inline_fragment(actions("html", call_id, base), _css())
        )

    def actions_html(self, digest: Digest, entry: Any, *, inlined: bool) -> str:
        token = digest.call_tokens.get(entry.call_id) if entry.call_id is not None else None
        if not token or not digest.public_url:
            return ""
        if inlined:
            html = self._inlined_actions(entry.call_id, digest.public_url)
        else:
            html = self._actions("html", entry.call_id, digest.public_url)
        return html.replace(_TOKEN, token) + "\n"

    def actions_text(self, digest: Digest, entry: Any) -> str:
        token = digest.call_tokens.get(entry.call_id) if entry.call_id is not None else None
        if not token or not digest.public_url:
            return ""
        return self._actions("txt", entry.call_id, digest.public_url).replace(_TOKEN, token) + "\n"

    def woven_html(self, digest: Digest, entry: Any) -> list[str]:
        """The entry's inlined HTML in parts: before the actions, the actions, after."""
        before, _, after = self.inlined_html(entry).partition(_ACTIONS_HTML + "\n")
        actions = self.actions_html(digest, entry, inlined=True)
        return [before, actions, after] if actions else [before, after]

    def woven_text(self, digest: Digest, entry: Any) -> list[str]:
        before, _, after = self.text(entry).partition(_ACTIONS_TEXT + "\n")
        actions = self.actions_text(digest, entry)
        return [before, actions, after] if actions else [before, after]

    def whole_html(self, digest: Digest, entry: Any) -> str:
        return str(self.html(entry)).replace(
            _ACTIONS_HTML + "\n", self.actions_html(digest, entry, inlined=False)
        )

    def whole_text(self, digest: Digest, entry: Any) -> str:
        return self.text(entry).replace(_ACTIONS_TEXT + "\n", self.actions_text(digest, entry))


@lru_cache(maxsize=1)
def _choices() -> tuple[tuple[str, str], ...]:
    from followup.decisions import CHOICES

    return tuple((key, label) for key, (_, label) in CHOICES.items())


def _templates(env: Environment) -> dict[str, Any]:
    """The digest's templates, loaded once (get_template checks the file on every call)."""
    if "templates" not in env.globals:
        names = (
            "digest.html",
            "digest.txt",
            "_entry.html",
            "_entry.txt",
            "_actions.html",
            "_actions.txt",
        )
        env.globals["templates"] = {name: env.get_template(name) for name in names}
    return env.globals["templates"]


@lru_cache(maxsize=4)
def _environment(tz_name: str) -> Environment:
    env = make_environment(TEMPLATES_DIR, tz=tz_name)
    env.filters["header_safe"] = _header_safe_filter
    entries = _Entries(env)
    env.globals["entries"] = entries

    @pass_context
    def entries_html(context: Any, items: Any) -> Markup:
        digest = context["digest"]
        return Markup("".join(entries.whole_html(digest, e) for e in items))  # noqa: S704 - autoescaped partials

    @pass_context
    def entries_text(context: Any, items: Any) -> str:
        digest = context["digest"]
        return "".join("\n" + entries.whole_text(digest, e) for e in items)

    env.globals["entries_html"] = entries_html
    env.globals["entries_text"] = entries_text
    return env


@lru_cache(maxsize=1)
def _css() -> str:
    return (TEMPLATES_DIR / "digest.css").read_text(encoding="utf-8")


_INLINER = css_inline.CSSInliner(keep_style_tags=True)
# Stands for an entry in the outer templates; random, so no data can forge it.
_SLOT = f"bevaka-entry-{secrets.token_hex(12)}"
# Where an entry holds the subscriber's action links, and the token in them until replaced.
_ACTIONS_HTML = f"<!--bevaka-actions-{secrets.token_hex(12)}-->"
_ACTIONS_TEXT = f"[bevaka-actions-{secrets.token_hex(12)}]"
_TOKEN = f"bevakatoken{secrets.token_hex(12)}"


def _woven(outer: str, marker: str, pieces: list[list[str]]) -> tuple[str, ...] | None:
    """``outer`` with each ``marker`` replaced by its pieces, as the list of parts (outer
    text and pieces); None when the markers do not match the pieces."""
    chunks = outer.split(marker)
    if len(chunks) != len(pieces) + 1:
        return None
    parts: list[str] = [chunks[0]]
    for slot_pieces, chunk in zip(pieces, chunks[1:], strict=True):
        parts += slot_pieces
        parts.append(chunk)
    return tuple(parts)


def render_digest(digest: Digest, *, timezone: str = "Europe/Stockholm") -> Rendered:
    """HTML (CSS inlined, a <style> block kept for the phone layout) and plain text.

    The entries are rendered (and their CSS inlined) once per entry value and woven into
    the rest of the digest, which alone is rendered and inlined per subscriber; the result
    is what rendering and inlining the whole document gives (checked in the tests; the CSS
    has no selector that reaches into an entry from outside it)."""
    env = _environment(timezone)
    entries: _Entries = env.globals["entries"]
    html_slot, text_slot = f"<!--{_SLOT}-->", f"[{_SLOT}]"
    html_pieces: list[list[str]] = []  # per slot: the pieces that stand in for it
    text_pieces: list[list[str]] = []

    def html_entries(items: Any) -> Markup:
        html_pieces.append([piece for e in items for piece in entries.woven_html(digest, e)])
        return Markup(html_slot)  # noqa: S704 - a constant

    def text_entries(items: Any) -> str:
        text_pieces.append(
            [piece for e in items for piece in ("\n", *entries.woven_text(digest, e))]
        )
        return text_slot

    templates = _templates(env)
    outer_html = templates["digest.html"].render(
        digest=digest, css=_css(), entries_html=html_entries
    )
    outer_text = templates["digest.txt"].render(digest=digest, entries_text=text_entries)
    html_parts = _woven(_INLINER.inline(outer_html), html_slot, html_pieces)
    text_parts = _woven(outer_text, text_slot, text_pieces)
    if html_parts is None:  # not expected; the whole document the plain way
        html = templates["digest.html"].render(digest=digest, css=_css())
        html_parts = (_INLINER.inline(html),)
    if text_parts is None:
        text_parts = (templates["digest.txt"].render(digest=digest),)
    return Rendered(
        subject=header_safe(digest.subject, SUBJECT_MAX),
        html="".join(html_parts),
        text="".join(text_parts),
        html_parts=html_parts,
        text_parts=text_parts,
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
    if _PLAIN_NAME.match(display) and _PLAIN_ADDRESS.match(address):
        return f"{display} <{address}>"  # what Address gives for plain words and address
    try:  # validates the address; EmailMessage encodes a non-ASCII display name
        return str(Address(display_name=display, addr_spec=address))
    except (ValueError, IndexError):
        pass
    try:
        return formataddr((display, address))
    except UnicodeEncodeError:  # an internationalised (SMTPUTF8) address: sent as UTF-8
        quoted = display.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'


# --- the message's bytes, without EmailMessage ---------------------------------------

MAX_LINE = 78  # the email package's (and RFC 5322's recommended) line length
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender"})
_DOT_ATOM = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# Values the email package writes back unchanged (checked in the tests): plain words of
# printable ASCII separated by single spaces, and simple addresses and message ids.
_PLAIN = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*\Z")
_SIMPLE_ADDRESS = re.compile(
    rf"(?:(?:[A-Za-z0-9]+(?: [A-Za-z0-9]+)* )?<{_DOT_ATOM}@{_DOMAIN}>|{_DOT_ATOM}@{_DOMAIN})\Z"
)
_SIMPLE_MSG_ID = re.compile(rf"<{_DOT_ATOM}@{_DOMAIN}>\Z")
_ANGLE_URI = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>\Z")  # one <URI>, no spaces or <>


_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*\Z")
_PLAIN_ADDRESS = re.compile(rf"{_DOT_ATOM}@{_DOMAIN}\Z")


@lru_cache(maxsize=64)
def _envelope_address(mailbox: str) -> str:
    return parseaddr(mailbox)[1] or mailbox


def _recipients_of(to: str) -> tuple[str, ...]:
    if _PLAIN_ADDRESS.match(to):
        return (to,)
    display, _, rest = to.rpartition(" <")
    if _PLAIN_NAME.match(display) and rest.endswith(">") and _PLAIN_ADDRESS.match(rest[:-1]):
        return (rest[:-1],)
    return tuple(addr for _, addr in getaddresses([to]) if addr)


class _NotDirect(Exception):
    """The message cannot be written directly (e.g. an address needing SMTPUTF8)."""


@lru_cache(maxsize=4096)
def _folded(name: str, value: str) -> bytes:
    """The header as the email package writes it for SMTP (policy ``SMTP``: parsed by the
    header's type, RFC 2047 encoded words for non-ASCII, folded at 78 characters)."""
    folded = SMTP_POLICY.header_factory(name, value).fold(policy=SMTP_POLICY)
    try:
        return folded.encode("ascii")
    except UnicodeEncodeError:
        raise _NotDirect(name) from None


def header_line(name: str, value: str) -> bytes:
    """One header field, CRLF-terminated, as the email package would write it (except
    ``List-Unsubscribe``, see below). Refuses CR and LF in the value."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"line break in the {name} header value")
    lower = name.lower()
    if lower in _ADDRESS_HEADERS:
        direct = _SIMPLE_ADDRESS.match(value) is not None
    elif lower == "message-id":
        direct = _SIMPLE_MSG_ID.match(value) is not None
    elif lower in ("date", "mime-version", "content-type", "content-transfer-encoding"):
        direct = False  # same value all run long: remembered by _folded
    else:  # unstructured
        direct = _PLAIN.match(value) is not None and "=?" not in value
    if direct and len(name) + 2 + len(value) <= MAX_LINE:
        return f"{name}: {value}\r\n".encode("ascii")
    if (
        lower == "list-unsubscribe"
        and _ANGLE_URI.match(value)
        and len(name) + 2 + len(value) <= 998
    ):
        # RFC 2369: angle-bracketed URIs, never RFC 2047 encoded words (which the email
        # package would write for a URI longer than a line); a long line is allowed (998).
        return f"{name}: {value}\r\n".encode("ascii")
    return _folded(name, value)


def _lines_crlf(text: str) -> tuple[bool, bytes]:
    """(ASCII with lines of at most 78 characters, the text in UTF-8 with CRLF line ends
    ending in CRLF; "" stays empty)."""
    if not text:
        return True, b""
    lines = text.encode("utf-8").splitlines()
    data = b"\r\n".join(lines) + b"\r\n"
    return data.isascii() and max(map(len, lines), default=0) <= MAX_LINE, data


@lru_cache(maxsize=4096)
def _encoded_part(text: str) -> tuple[bool, bytes, bytes]:
    """A part of a body that ends a line: (7bit is fine, CRLF data, quoted-printable). QP
    encodes line by line, so the parts' encodings joined are the whole body's encoding;
    the entries recur in many digests, so theirs are remembered."""
    short_ascii, data = _lines_crlf(text)
    return short_ascii, data, binascii.b2a_qp(data, istext=True)


def _encode_body(body: str | Sequence[str]) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body with CRLF line ends ending in CRLF): 7bit when ASCII
    with lines of at most 78 characters, otherwise quoted-printable (lines of at most 76).
    ``body`` may come in parts (``Rendered.html_parts``), each but the last ending a line."""
    parts = [body] if isinstance(body, str) else [part for part in body if part]
    if not all(part.endswith("\n") for part in parts[:-1]):
        parts = ["".join(parts)]
    encoded = [_encoded_part(part) for part in parts]
    if not any(data for _, data, _ in encoded):
        return "7bit", b"\r\n"  # an empty body is one empty line, as the email package has it
    if all(short_ascii for short_ascii, _, _ in encoded):
        return "7bit", b"".join(data for _, data, _ in encoded)
    return "quoted-printable", b"".join(qp for _, _, qp in encoded)


_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


def _boundary(bodies: list[bytes]) -> bytes:
    """A boundary in the email package's style that occurs in none of the bodies."""
    while True:
        token = random.randrange(sys.maxsize)  # uniqueness, not secrecy
        boundary = f"==============={token:0{_BOUNDARY_DIGITS}d}==".encode("ascii")
        if not any(boundary in body for body in bodies):
            return boundary


def _part_headers(subtype: str, cte: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    ).encode("ascii")


def build_mail(
    *,
    settings: Settings,
    to_name: str | None,
    to_email: str,
    subject: str,
    text: str | Sequence[str],
    html: str | Sequence[str] | None,
    message_id: str,
    date: datetime,
    list_unsubscribe: str | None = None,
    one_click: bool = False,
) -> Mail:
    """The message of :func:`build_message`, written directly as bytes (see the module
    docstring): the same headers with the same values, each from ``header_safe``. ``text``
    and ``html`` may come in parts (``Rendered.text_parts``/``html_parts``)."""
    sender = header_safe(settings.smtp.sender, 320)
    to = _mailbox(to_name, to_email)
    headers = [
        ("Subject", header_safe(subject, SUBJECT_MAX)),
        ("From", sender),
        ("To", to),
    ]
    if settings.smtp.reply_to:
        headers.append(("Reply-To", header_safe(settings.smtp.reply_to, 320)))
    headers += [
        ("Date", format_datetime(date)),
        ("Message-ID", header_safe(message_id, 250)),
        ("Auto-Submitted", "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
    ]
    if list_unsubscribe:
        headers.append(("List-Unsubscribe", f"<{header_safe(list_unsubscribe, 900)}>"))
        if one_click:
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    envelope_from = _envelope_address(sender)
    recipients = _recipients_of(to)
    try:
        if not (envelope_from.isascii() and all(r.isascii() for r in recipients)):
            raise _NotDirect("address")
        head = [header_line(name, value) for name, value in headers]
        head.append(b"MIME-Version: 1.0\r\n")
        text_cte, text_body = _encode_body(text)
        if html is None:
            head.append(_part_headers("plain", text_cte))
            data = b"".join(head) + b"\r\n" + text_body
        else:
            html_cte, html_body = _encode_body(html)
            boundary = _boundary([text_body, html_body])
            head.append(b'Content-Type: multipart/alternative;\r\n boundary="%s"\r\n' % boundary)
            data = b"".join(
                [
                    *head,
                    b"\r\n--%s\r\n" % boundary,
                    _part_headers("plain", text_cte),
                    b"\r\n",
                    text_body,
                    b"\r\n--%s\r\n" % boundary,
                    _part_headers("html", html_cte),
                    b"\r\n",
                    html_body,
                    b"\r\n--%s--\r\n" % boundary,
                ]
            )
    except _NotDirect:
        message = build_message(
            settings=settings,
            to_name=to_name,
            to_email=to_email,
            subject=subject,
            text=text if isinstance(text, str) else "".join(text),
            html=html if html is None or isinstance(html, str) else "".join(html),
            message_id=message_id,
            date=date,
            list_unsubscribe=list_unsubscribe,
            one_click=one_click,
        )
        return Mail(
            sender=envelope_from,
            recipients=recipients,
            message_id=header_safe(message_id, 250),
            message=message,
        )
    return Mail(
        sender=envelope_from,
        recipients=recipients,
        message_id=header_safe(message_id, 250),
        data=data,
    )


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


def digest_mail(
    digest: Digest,
    *,
    settings: Settings,
    message_id: str,
    rendered: Rendered | None = None,
) -> Mail:
    """The whole digest mail for one subscriber, ready to send or write."""
    rendered = rendered or render_digest(digest, timezone=settings.timezone)
    unsubscribe = digest.unsubscribe_url or digest.unsubscribe_mailto
    return build_mail(
        settings=settings,
        to_name=digest.subscriber.name,
        to_email=digest.subscriber.email,
        subject=rendered.subject,
        text=rendered.text_parts or rendered.text,
        html=rendered.html_parts or rendered.html,
        message_id=message_id,
        date=digest.now,
        list_unsubscribe=unsubscribe,
        one_click=digest.unsubscribe_url is not None,
    )


def digest_message(
    digest: Digest,
    *,
    settings: Settings,
    message_id: str,
    rendered: Rendered | None = None,
) -> EmailMessage:
    """The digest mail of :func:`digest_mail` as an EmailMessage."""
    return digest_mail(
        digest, settings=settings, message_id=message_id, rendered=rendered
    ).as_message()
