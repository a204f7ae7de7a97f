"""crawler.textparse: Swedish/English dates, money, HTML to text, URL helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crawler import textparse
from crawler.textparse import (
    _TextParser,
    clean_text,
    find_dates,
    html_to_text,
    parse_date_any,
    parse_money,
    parse_swedish_date,
    safe_http_url,
    sitevision_id,
)

TZ = ZoneInfo("Europe/Stockholm")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- parse_swedish_date -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # summer time: 23:59:59 CEST is 21:59:59 UTC
        ("12 september 2027", utc(2027, 9, 12, 21, 59, 59)),
        ("12 sep 2027", utc(2027, 9, 12, 21, 59, 59)),
        ("12 sept. 2027", utc(2027, 9, 12, 21, 59, 59)),
        ("2027-09-12", utc(2027, 9, 12, 21, 59, 59)),
        # winter time: CET is UTC+1
        ("15 mars 2021 kl. 16.00", utc(2021, 3, 15, 15, 0, 0)),
        ("den 15:e mars 2027 klockan 12:30", utc(2027, 3, 15, 11, 30, 0)),
        ("Stängd 12 september 2023", utc(2023, 9, 12, 21, 59, 59)),
        ("15 March 2027", utc(2027, 3, 15, 22, 59, 59)),
        ("March 15, 2027", utc(2027, 3, 15, 22, 59, 59)),
        ("15th March 2027 17:00", utc(2027, 3, 15, 16, 0, 0)),
        ("15.03.2027", utc(2027, 3, 15, 22, 59, 59)),
        ("1 MAJ 2027", utc(2027, 5, 1, 21, 59, 59)),
        ("29 februari 2028", utc(2028, 2, 29, 22, 59, 59)),
    ],
)
def test_parse_swedish_date(text: str, expected: datetime) -> None:
    assert parse_swedish_date(text, tz=TZ) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31 februari 2027",
        "29 februari 2027",
        "32 mars 2027",
        "2027-13-01",
        "2027-02-30",
        "den 15 januari",  # no year and no context
        "inget datum här",
        "",
        "12 september 3027",
        "99.99.2027",
    ],
)
def test_parse_swedish_date_refuses(text: str) -> None:
    assert parse_swedish_date(text, tz=TZ) is None


def test_start_of_day_when_not_a_deadline() -> None:
    assert parse_swedish_date("1 mars 2027", tz=TZ, end_of_day=False) == utc(2027, 2, 28, 23, 0)


def test_year_context() -> None:
    assert parse_swedish_date("den 15 januari", tz=TZ, year=2027) == utc(2027, 1, 15, 22, 59, 59)


def test_year_from_now_picks_the_coming_date() -> None:
    now = utc(2026, 12, 1)
    assert parse_swedish_date("den 15 januari", tz=TZ, now=now) == utc(2027, 1, 15, 22, 59, 59)


def test_tz_as_string() -> None:
    assert parse_swedish_date("12 september 2027", tz="Europe/Stockholm") == utc(
        2027, 9, 12, 21, 59, 59
    )


# --- parse_date_any ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-04-08T00:00:00.000+0000", utc(2027, 4, 8)),
        ("2024-01-01T01:00:00.000+0100", utc(2024, 1, 1)),
        ("2027-04-08T10:00:00+02:00", utc(2027, 4, 8, 8)),
        ("2027-04-08T10:00:00Z", utc(2027, 4, 8, 10)),
        ("2027-04-08T12:00:00", utc(2027, 4, 8, 10)),  # local Stockholm time
        ("2027-04-08", utc(2027, 4, 8, 21, 59, 59)),
        ("Tue, 14 Sep 2027 10:00:00 +0200", utc(2027, 9, 14, 8)),
        ("Tue, 14 Sep 2027 10:00:00 GMT", utc(2027, 9, 14, 10)),
        ("15 mars 2027", utc(2027, 3, 15, 22, 59, 59)),
        ("Deadline 15 March 2027", utc(2027, 3, 15, 22, 59, 59)),
        (datetime(2027, 4, 8, 12, 0), utc(2027, 4, 8, 10)),
        (datetime(2027, 4, 8, 12, 0, tzinfo=UTC), utc(2027, 4, 8, 12)),
    ],
)
def test_parse_date_any(value: object, expected: datetime) -> None:
    assert parse_date_any(value, tz=TZ) == expected


@pytest.mark.parametrize("value", [None, "", "nonsense", 42, "2027-02-30T00:00:00Z", [1, 2]])
def test_parse_date_any_refuses(value: object) -> None:
    assert parse_date_any(value, tz=TZ) is None


def test_parse_date_any_start_of_day() -> None:
    assert parse_date_any("2027-04-08", tz=TZ, end_of_day=False) == utc(2027, 4, 7, 22)


# --- find_dates -------------------------------------------------------------------------


def test_find_dates_closing_cue() -> None:
    found = find_dates("• Stänger 12 september 2027\n• Västra Götaland", tz=TZ)
    assert found["deadlines"] == [utc(2027, 9, 12, 21, 59, 59)]
    assert found["opens_at"] is None


@pytest.mark.parametrize(
    "text",
    [
        "Sista ansökningsdag: 30 april 2027",
        "Ansök senast 30 april 2027",
        "Sista dag att ansöka är den 30 april 2027",
        "Stängd 30 april 2027",
        "Deadline: 30 April 2027",
        "Sista ansökningsdag\n30 april 2027",
    ],
)
def test_find_dates_deadline_cues(text: str) -> None:
    found = find_dates(text, tz=TZ)
    assert found["deadlines"] == [utc(2027, 4, 30, 21, 59, 59)]


@pytest.mark.parametrize(
    "text", ["Öppnar 1 februari 2027", "Öppen från 1 februari 2027", "Opens 1 February 2027"]
)
def test_find_dates_opening_cues(text: str) -> None:
    found = find_dates(text, tz=TZ)
    assert found["opens_at"] == utc(2027, 1, 31, 23)
    assert found["deadlines"] == []


def test_find_dates_period_gives_both() -> None:
    found = find_dates("Ansökningsperiod: 1 mars – 15 april 2027", tz=TZ)
    assert found["opens_at"] == utc(2027, 2, 28, 23)
    assert found["deadlines"] == [utc(2027, 4, 15, 21, 59, 59)]


def test_find_dates_year_borrowed_and_time_kept() -> None:
    text = "Utlysningen öppnar den 15 januari och stänger den 15 mars 2021 kl. 16.00"
    found = find_dates(text, tz=TZ)
    assert found["opens_at"] == utc(2021, 1, 14, 23)
    assert found["deadlines"] == [utc(2021, 3, 15, 15)]


def test_find_dates_range_over_new_year() -> None:
    found = find_dates("Ansökningsperiod 15 december – 15 januari 2028", tz=TZ)
    assert found["opens_at"] == utc(2027, 12, 14, 23)


def test_find_dates_two_stage_deadlines_sorted_unique() -> None:
    text = "Deadline 1: 14 September 2027. Deadline 2: 8 April 2027. Deadline: 8 April 2027"
    found = find_dates(text, tz=TZ)
    assert found["deadlines"] == [utc(2027, 4, 8, 21, 59, 59), utc(2027, 9, 14, 21, 59, 59)]


def test_find_dates_published_and_uncued() -> None:
    found = find_dates("Publicerad 3 februari 2027. Konferensen hålls 5 maj 2027.", tz=TZ)
    assert found["published"] == utc(2027, 2, 2, 23)
    assert found["deadlines"] == []
    assert len(found["dates"]) == 2


def test_find_dates_impossible_date_skipped() -> None:
    found = find_dates("Sista ansökningsdag 31 februari 2027", tz=TZ)
    assert found["deadlines"] == []


@pytest.mark.parametrize("text", [None, "", "inga datum", "Stänger snart"])
def test_find_dates_nothing(text: str | None) -> None:
    assert find_dates(text, tz=TZ) == {
        "opens_at": None,
        "deadlines": [],
        "published": None,
        "dates": [],
        "rolling": False,
        "deadline_unknown": False,
        "closed_words": False,
    }


# --- parse_money ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60 miljoner kronor", (60e6, "SEK")),
        ("Totalt fördelas 60 miljoner kronor, maximalt 40 procent", (60e6, "SEK")),
        ("2 MSEK", (2e6, "SEK")),
        ("500 000 kr", (500_000.0, "SEK")),
        ("500\u00a0000 kronor", (500_000.0, "SEK")),
        ("1,5 mkr", (1.5e6, "SEK")),
        ("300 tkr", (300_000.0, "SEK")),
        ("3,5 miljarder kronor", (3.5e9, "SEK")),
        ("EUR 4 000 000", (4e6, "EUR")),
        ("€ 3.5 million", (3.5e6, "EUR")),
        ("€3,500,000", (3.5e6, "EUR")),
        ("10 miljoner euro", (10e6, "EUR")),
        ("1–2 MSEK per projekt", (2e6, "SEK")),
        ("SEK 250 000", (250_000.0, "SEK")),
    ],
)
def test_parse_money(text: str, expected: tuple[float, str]) -> None:
    value, currency = parse_money(text)
    assert currency == expected[1]
    assert value == pytest.approx(expected[0])


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "-5 kr",
        "EUR -4",
        "inga pengar",
        "40 procent",
        "1 000 000 000 000 000 000 kr",
        "kr",
        "9" * 100_000,
    ],
)
def test_parse_money_refuses(text: str | None) -> None:
    assert parse_money(text) == (None, None)


# --- html_to_text / clean_text ----------------------------------------------------------


def test_html_to_text_structure_and_entities() -> None:
    markup = (
        "<h1>Utlysning&nbsp;för skola</h1><script>alert('x')</script><style>p{}</style>"
        "<p>Första   stycket &amp; mer.</p><!-- kommentar --><ul><li>ett</li><li>två</li></ul>"
        "<p>Ogiltig &bogus; och &#xZZ; entitet</p>"
    )
    text = html_to_text(markup)
    assert text == (
        "Utlysning för skola\n\nFörsta stycket & mer.\n\n• ett\n• två\n\n"
        "Ogiltig &bogus; och &#xZZ; entitet"
    )


def test_html_to_text_drops_invisible_and_control_chars() -> None:
    text = html_to_text("<p>Ä\u200bld\u200dre\u202eomsorg\x00\x07\ufeff</p>")
    assert text == "Äldreomsorg"


def test_html_to_text_plain_input_is_unescaped() -> None:
    assert html_to_text("Skola &amp; förskola") == "Skola & förskola"


def test_html_to_text_bytes_and_broken_markup() -> None:
    assert html_to_text(b"<p>Hej<p>d\xc3\xa5 <b>unclosed") == "Hej\n\ndå unclosed"


def test_html_to_text_huge_input_is_bounded() -> None:
    text = html_to_text("<p>" + "ungdom <b>kultur</b> " * 55_000 + "</p><p>SLUT</p>")
    assert text.startswith("ungdom kultur")
    assert "SLUT" not in text  # beyond the 1 000 000 characters looked at


def test_parser_script_nesting_does_not_leak() -> None:
    parser = _TextParser()
    parser.feed("<script>var a = '<p>inte text</p>';</script><p>text</p>")
    assert "".join(parser.parts).strip() == "text"


@pytest.mark.parametrize(
    ("value", "multiline", "expected"),
    [
        ("  Skola \t och\n\n\n\n omsorg  ", True, "Skola och\n\nomsorg"),
        ("  Skola \t och\n\n omsorg  ", False, "Skola och omsorg"),
        ("a\u00a0b\u2009c", False, "a b c"),
        ("e\u0301", False, "é"),  # NFC
        ("\u2066rtl\u2069\u202d", False, "rtl"),
        (None, False, ""),
    ],
)
def test_clean_text(value: str | None, multiline: bool, expected: str) -> None:
    assert clean_text(value, multiline=multiline) == expected


# --- URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://tillvaxtverket.se/a/smartomstallning.4708.html", "4708"),
        ("https://skr.se/skr/nyheter/eu-medel.12345.html?x=1#top", "12345"),
        ("https://www.esf.se/utlysningar/", None),
        ("https://x.se/page.html", None),
        (None, None),
    ],
)
def test_sitevision_id(url: str | None, expected: str | None) -> None:
    assert sitevision_id(url) == expected


BASE = "https://www.esf.se/utlysningar/"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.esf.se/a", "https://www.esf.se/a"),
        ("/utlysningar/skola/", "https://www.esf.se/utlysningar/skola/"),
        ("detalj?id=1", "https://www.esf.se/utlysningar/detalj?id=1"),
        ("/a b", "https://www.esf.se/a%20b"),
        # an IDN host becomes its xn-- form, a non-ASCII path UTF-8 percent-encoding
        (
            "https://www.tillväxtverket.se/finansiering/sök",
            "https://www.xn--tillvxtverket-ffb.se/finansiering/s%C3%B6k",
        ),
        ("https://x.se/%C3%A5", "https://x.se/%C3%A5"),  # already encoded: kept
        ("//other.example/x", "https://other.example/x"),
        ("javascript:alert(1)", None),
        (" java\tscript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,<b>x</b>", None),
        ("mailto:someone@example.se", None),
        ("http://user:pw@example.se/", None),
        ("https://", None),
        ("", None),
        ("https://x.se/" + "a" * 5000, None),
    ],
)
def test_safe_http_url(url: str, expected: str | None) -> None:
    assert safe_http_url(url, BASE) == expected


def test_safe_http_url_relative_without_base_is_refused() -> None:
    assert safe_http_url("/utlysningar/") is None


# --- more date shapes and hostile input ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-03-15 kl 12:00", utc(2027, 3, 15, 11, 0)),
        ("2027-03-15T12:00", utc(2027, 3, 15, 11, 0)),
        ("Sista ansökningsdag: 2027-03-15 12.30", utc(2027, 3, 15, 11, 30)),
        ("\u200b15\u00a0mars\u00a02027", utc(2027, 3, 15, 22, 59, 59)),
        ("Stänger\u202e 15 mars 2027", utc(2027, 3, 15, 22, 59, 59)),
    ],
)
def test_more_date_shapes(text: str, expected: datetime) -> None:
    assert parse_swedish_date(clean_text(text), tz=TZ) == expected


def test_find_dates_megabyte_input_is_bounded() -> None:
    text = "Öppnar 1 mars 2027. " * 52_000 + "Sista ansökningsdag 15 april 2027"  # 1 MB
    found = find_dates(text, tz=TZ)
    assert found["opens_at"] == utc(2027, 2, 28, 23)
    assert found["deadlines"] == []  # beyond the 200 000 characters looked at


def test_find_dates_many_yearless_dates_is_linear() -> None:
    found = find_dates("den 1 mars, " * 20_000, tz=TZ)
    assert found["dates"] == []


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TOKENS = st.sampled_from(
    list("0123456789 .,:-–/\n\tkrMSEKeur€abcdefghijklmnopqrstuvwxyzåäö<>&;#")
    + ["mars", "maj", "kl.", "Stänger ", "Öppnar ", "miljoner ", "kronor", "&amp;", "<p>"]
    + ["</p>", "<script>", "\u200b", "\u202e", "\x00", "javascript:", "http://", "2027"]
)
TEXT = st.lists(TOKENS, max_size=80).map("".join)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_parsers_never_raise(text: str) -> None:
    found = find_dates(text, tz=TZ)
    assert all(d.tzinfo is not None for d in found["dates"])
    value, currency = parse_money(text)
    assert (value is None) == (currency is None)
    assert value is None or value > 0
    out = html_to_text(text)
    assert "\u202e" not in out and "\x00" not in out and "\u200b" not in out
    url = safe_http_url(text, BASE)
    assert url is None or url.startswith(("http://", "https://"))
    parse_date_any(text, tz=TZ)
    sitevision_id(text)


def test_spaces_but_newline_is_every_space_but_the_newline() -> None:
    every = {chr(i) for i in range(0x110000) if chr(i).isspace()}
    assert set(textparse.SPACES_BUT_NEWLINE) == every - {"\n"}
    assert len(textparse.SPACES_BUT_NEWLINE) == len(every) - 1


def test_clean_text_collapses_spaces_like_the_plain_rule() -> None:
    """Runs of spaces of any kind become one " " (the fast pattern only touches what changes);
    checked against the plain rule on random mixes of letters, spaces and newlines."""
    import random
    import re

    rng = random.Random(7)
    alphabet = ["a", "ö", " ", " ", "\u00a0", "\u2003", "\u3000", "\n", "\t", "x"]
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        plain = re.sub(r"[^\S\n]+", " ", value.replace("\t", " "))
        expected = re.sub(r"\n{3,}", "\n\n", "\n".join(s.strip() for s in plain.split("\n")))
        assert textparse.clean_text(value) == expected.strip(), repr(value)
        assert textparse.clean_text(value, multiline=False) == " ".join(value.split())
