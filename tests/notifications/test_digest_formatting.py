"""Swedish formatting: dates, deadlines, money, weeks, URLs and header values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from notifications.formatting import (
    TEMPLATES_DIR,
    days_left,
    days_left_text,
    format_date,
    format_deadline,
    format_money,
    header_safe,
    make_environment,
    safe_url,
    week_key,
    week_label,
)

STHLM = ZoneInfo("Europe/Stockholm")


def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


def test_format_date_in_local_time():
    # 23:30 UTC on 14 March is already 15 March in Stockholm (UTC+1 in winter).
    assert format_date(datetime(2027, 3, 14, 23, 30, tzinfo=UTC), STHLM) == "15 mars 2027"
    assert format_date(date(2027, 10, 1)) == "1 oktober 2027"
    assert format_date(None) == ""


def test_format_deadline_shows_time_unless_end_of_day():
    assert (
        format_deadline(datetime(2027, 3, 15, 16, 0, tzinfo=UTC), STHLM) == "15 mars 2027 kl. 17.00"
    )
    # summer time: 15:00 UTC is 17.00 in Stockholm
    assert (
        format_deadline(datetime(2027, 6, 1, 15, 0, tzinfo=UTC), STHLM) == "1 juni 2027 kl. 17.00"
    )
    assert format_deadline(datetime(2027, 3, 15, 23, 59, tzinfo=STHLM), STHLM) == "15 mars 2027"
    assert format_deadline(datetime(2027, 3, 15, 0, 0, tzinfo=STHLM), STHLM) == "15 mars 2027"
    assert format_deadline(None) == ""


def test_days_left_counts_local_calendar_days():
    now = datetime(2027, 3, 14, 22, 30, tzinfo=UTC)  # 23.30 on 14 March in Stockholm
    deadline = datetime(2027, 3, 15, 16, 0, tzinfo=UTC)
    assert days_left(deadline, now, STHLM) == 1
    assert days_left_text(deadline, now, STHLM) == "1 dag kvar"
    assert days_left_text(deadline, datetime(2027, 3, 10, 8, tzinfo=UTC), STHLM) == "5 dagar kvar"
    assert (
        days_left_text(deadline, datetime(2027, 3, 15, 8, tzinfo=UTC), STHLM) == "sista dagen i dag"
    )
    assert days_left(deadline, datetime(2027, 3, 17, tzinfo=UTC), STHLM) == -2


@pytest.mark.parametrize(
    "amount,currency,expected",
    [
        (4_000_000, "EUR", "4 000 000 €"),
        (60_000_000, "SEK", "60 000 000 kr"),
        (1500.6, "sek", "1 501 kr"),
        (250_000, None, "250 000"),
        (None, "EUR", ""),
    ],
)
def test_format_money(amount, currency, expected):
    assert plain(format_money(amount, currency)) == expected


def test_week_label_is_iso_week_in_local_time():
    # Sunday 29 Nov 2026 23.30 UTC is Monday 30 Nov 00.30 in Stockholm: week 49.
    assert week_label(datetime(2026, 11, 29, 23, 30, tzinfo=UTC), STHLM) == (2026, 49)
    assert week_label(datetime(2026, 11, 29, 22, 30, tzinfo=UTC), STHLM) == (2026, 48)
    # 1 January 2027 (a Friday) belongs to ISO week 53 of 2026.
    assert week_key(datetime(2027, 1, 1, 12, tzinfo=UTC), STHLM) == "2026-W53"


@pytest.mark.parametrize(
    "url,expected",
    [
        ("https://ec.europa.eu/x?a=1&b=2", "https://ec.europa.eu/x?a=1&b=2"),
        ("http://vinnova.se/", "http://vinnova.se/"),
        ("javascript:alert(1)", "#"),
        ("JaVaScRiPt:alert(1)", "#"),
        ("data:text/html,<b>x</b>", "#"),
        ("/relative/path", "#"),
        ("https://", "#"),
        ("https://a.se/\nx", "https://a.se/x"),  # as a browser reads it
        ("https://www.tillväxtverket.se/sök", "https://www.xn--tillvxtverket-ffb.se/s%C3%B6k"),
        ("http://user:pw@example.se/", "#"),
        (None, "#"),
    ],
)
def test_safe_url(url, expected):
    assert safe_url(url) == expected


def test_header_safe_strips_breaks_and_controls():
    assert header_safe("Utlysning\r\nBcc: evil@example.com") == "Utlysning Bcc: evil@example.com"
    assert header_safe("a\x00b\x1b[31m\u2028c\u202ed  \t e") == "a b [31m c d e"
    long = header_safe("x" * 500, max_length=50)
    assert len(long) == 50 and long.endswith("…")
    assert header_safe(None) == ""
    assert header_safe("4\u00a0000\u00a0€\n") == "4\u00a0000\u00a0€"  # no-break spaces stay


def test_environment_autoescapes_and_has_filters(tmp_path):
    (tmp_path / "t.html").write_text(
        '<a href="{{ url | safe_url }}">{{ title }}</a> {{ d | format_deadline }} '
        "{{ amount | format_money('EUR') }} {{ d | days_left_text(now) }}",
        encoding="utf-8",
    )
    env = make_environment(tmp_path, extra_dirs=[TEMPLATES_DIR])
    html = env.get_template("t.html").render(
        url="javascript:alert(1)",
        title="<script>alert(1)</script>",
        d=datetime(2027, 3, 15, 16, 0, tzinfo=UTC),
        now=datetime(2027, 3, 1, 8, 0, tzinfo=UTC),
        amount=4_000_000,
    )
    assert plain(html) == (
        '<a href="#">&lt;script&gt;alert(1)&lt;/script&gt;</a> 15 mars 2027 kl. 17.00 '
        "4 000 000 € 14 dagar kvar"
    )


def _header_safe_by_characters(text: str, max_length: int) -> str:
    """header_safe's documented rule, character by character (no shortcut)."""
    import re
    import unicodedata

    kept, invisible = {"\u00a0", "\u202f"}, {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    cleaned = "".join(
        ch if ch in kept else (" " if unicodedata.category(ch) in invisible or ch.isspace() else ch)
        for ch in text
    )
    cleaned = re.sub(r" {2,}", " ", cleaned).strip(" ")
    if len(cleaned) > max_length:
        cleaned = cleaned[: max(max_length - 1, 0)].rstrip() + "…"
    return cleaned


def test_header_safe_shortcut_for_clean_values_changes_nothing():
    import random

    from notifications.formatting import header_safe

    rng = random.Random(48)
    pool = [chr(c) for c in range(0x3000)] + ["\U0001f600", "\ufeff", "\u200b", "\u2028"]
    for _ in range(20_000):
        plain = rng.random() < 0.7  # mostly values that take the shortcut
        text = "".join(rng.choice("ab cÅö-." if plain else pool) for _ in range(rng.randint(0, 30)))
        max_length = rng.choice([5, 10, 200])
        assert header_safe(text, max_length) == _header_safe_by_characters(text, max_length)
