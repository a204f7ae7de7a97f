"""Swedish formatting shared by the digest mails and the web pages.

Everything a person reads goes through here: dates ("15 mars 2027"), deadlines
("15 mars 2027 kl. 17.00"), money ("4 000 000 €", "60 000 000 kr"), ISO week labels, and
the Jinja2 environment (autoescape on) that exposes these as filters.

Numbers use Babel's Swedish digit grouping, which is U+00A0 (no-break space), so
``format_money(4_000_000, "EUR") == "4\\u00a0000\\u00a0000\\u00a0€"``; compare with
``.replace("\\u00a0", " ")`` when a test needs plain spaces.

``header_safe`` must be applied to every mail header value derived from data.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from os import PathLike
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_currency as _babel_currency
from babel.numbers import format_decimal as _babel_decimal
from jinja2 import Environment, FileSystemLoader, select_autoescape

LOCALE = "sv_SE"
DEFAULT_TZ = ZoneInfo("Europe/Stockholm")
HEADER_MAX_LENGTH = 200

TzLike = ZoneInfo | str | None


def _tz(tz: TzLike) -> ZoneInfo:
    if tz is None:
        return DEFAULT_TZ
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _local(dt: datetime | date, tz: TzLike) -> datetime | date:
    if isinstance(dt, datetime):
        if dt.tzinfo is None:  # stored values are UTC; a naive one is taken to be UTC
            dt = dt.replace(tzinfo=ZoneInfo("UTC"))
        return dt.astimezone(_tz(tz))
    return dt


def format_date(dt: datetime | date | None, tz: TzLike = None) -> str:
    """``15 mars 2027`` (the date in ``tz``, default Europe/Stockholm). None → ``""``."""
    if dt is None:
        return ""
    return _babel_date(_local(dt, tz), "d MMMM y", locale=LOCALE)


def is_end_of_day(dt: datetime, tz: TzLike = None) -> bool:
    """True when the local time is 23:59 or 00:00: a date-only deadline, shown without a time."""
    local = _local(dt, tz)
    return isinstance(local, datetime) and (local.hour, local.minute) in ((23, 59), (0, 0))


def format_deadline(dt: datetime | date | None, tz: TzLike = None) -> str:
    """``15 mars 2027 kl. 17.00``; the time is left out when it is 23:59 or 00:00 local time
    (an end-of-day deadline), and for plain dates. None → ``""``."""
    if dt is None:
        return ""
    if not isinstance(dt, datetime) or is_end_of_day(dt, tz):
        return format_date(dt, tz)
    return _babel_datetime(_local(dt, tz), "d MMMM y 'kl'. HH.mm", locale=LOCALE)


def days_left(dt: datetime | date, now: datetime, tz: TzLike = None) -> int:
    """Calendar days from ``now`` to ``dt`` in local time (0 = today, negative = passed)."""
    target = _local(dt, tz)
    target_day = target.date() if isinstance(target, datetime) else target
    today = _local(now, tz)
    today_day = today.date() if isinstance(today, datetime) else today
    return (target_day - today_day).days


def days_left_text(dt: datetime | date, now: datetime, tz: TzLike = None) -> str:
    """``3 dagar kvar`` / ``1 dag kvar`` / ``sista dagen i dag`` / ``passerad``."""
    n = days_left(dt, now, tz)
    if n < 0:
        return "passerad"
    if n == 0:
        return "sista dagen i dag"
    return f"{n} dag kvar" if n == 1 else f"{n} dagar kvar"


def format_number(value: float | int) -> str:
    """``4 000 000`` with Swedish grouping (no-break spaces), no decimals."""
    return _babel_decimal(value, "#,##0", locale=LOCALE)


def format_money(amount: float | int | None, currency: str | None = None) -> str:
    """``4 000 000 €``, ``60 000 000 kr``; no decimals. Without a currency just the number;
    an unknown code is shown as is (``100 XYZ``). None → ``""``."""
    if amount is None:
        return ""
    if not currency:
        return format_number(amount)
    code = currency.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        return f"{format_number(amount)}\u00a0{header_safe(currency, max_length=8)}"
    return _babel_currency(
        amount, code, format="#,##0\u00a0¤", currency_digits=False, locale=LOCALE
    )


def week_label(now: datetime, tz: TzLike = None) -> tuple[int, int]:
    """The ISO (year, week) of ``now`` in local time, e.g. ``(2026, 48)``."""
    local = _local(now, tz)
    iso = local.isocalendar()
    return iso[0], iso[1]


def week_key(now: datetime, tz: TzLike = None) -> str:
    """``2026-W48``: the key of the digest ledger (Delivery.week)."""
    year, week = week_label(now, tz)
    return f"{year}-W{week:02d}"


def safe_url(url: Any) -> str:
    """The URL made safe by the crawler's one URL check (``safe_http_url``: absolute http(s)
    with a host, IDN host as ``xn--``, percent-encoded) or ``"#"`` (no ``javascript:``,
    ``data:`` or relative links from scraped data)."""
    from crawler.textparse import safe_http_url

    return (safe_http_url(url) if isinstance(url, str) else None) or "#"


_KEPT_SPACES = {"\u00a0", "\u202f"}  # no-break spaces (Swedish digit grouping) stay
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def header_safe(text: Any, max_length: int = HEADER_MAX_LENGTH) -> str:
    """A single-line value for a mail header: CR/LF, other control and format characters
    removed (replaced by a space), whitespace collapsed (no-break spaces kept), capped at ``max_length``
    characters (with "…")."""
    if text is None:
        return ""
    value = str(text)
    if (
        len(value) <= max_length
        and value.isprintable()  # no control, format or separator characters but " "
        and "  " not in value
        and not value.startswith(" ")
        and not value.endswith(" ")
    ):
        return value  # already a safe single line: what the loop below would return
    cleaned = "".join(
        ch
        if ch in _KEPT_SPACES
        else (" " if unicodedata.category(ch) in _INVISIBLE_CATEGORIES or ch.isspace() else ch)
        for ch in value
    )
    cleaned = re.sub(r" {2,}", " ", cleaned).strip(" ")
    if len(cleaned) > max_length:
        cleaned = cleaned[: max(max_length - 1, 0)].rstrip() + "…"
    return cleaned


def swedish_plural(n: int, one: str, many: str) -> str:
    """``1 ny utlysning`` / ``7 nya utlysningar``."""
    return f"{n} {one if n == 1 else many}"


def make_environment(
    package_templates_dir: str | PathLike[str],
    extra_dirs: Iterable[str | PathLike[str]] = (),
    *,
    tz: TzLike = None,
) -> Environment:
    """A Jinja2 environment with autoescape ON for .html/.htm/.xml (and for templates
    rendered from strings) and these filters:

    ``format_date``, ``format_deadline``, ``format_money(currency)``, ``format_number``,
    ``days_left(now)``, ``days_left_text(now)``, ``safe_url``, ``header_safe``.

    Templates are looked up in ``package_templates_dir`` first, then ``extra_dirs`` (so the
    web pages can ``{% include %}`` the digest's partials by adding
    ``notifications.formatting.TEMPLATES_DIR``).
    """
    zone = _tz(tz)
    search = [Path(package_templates_dir), *(Path(d) for d in extra_dirs)]
    env = Environment(
        loader=FileSystemLoader([str(p) for p in search]),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"),
            default_for_string=True,
            default=False,
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        {
            "format_date": lambda dt: format_date(dt, zone),
            "format_deadline": lambda dt: format_deadline(dt, zone),
            "format_money": format_money,
            "format_number": format_number,
            "days_left": lambda dt, now: days_left(dt, now, zone),
            "days_left_text": lambda dt, now: days_left_text(dt, now, zone),
            "safe_url": safe_url,
            "header_safe": header_safe,
        }
    )
    env.globals["tz"] = zone
    return env


TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

__all__ = [
    "DEFAULT_TZ",
    "TEMPLATES_DIR",
    "days_left",
    "days_left_text",
    "format_date",
    "format_deadline",
    "format_money",
    "format_number",
    "header_safe",
    "is_end_of_day",
    "make_environment",
    "safe_url",
    "swedish_plural",
    "week_key",
    "week_label",
]
