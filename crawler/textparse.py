"""Pure text helpers for scraped Swedish (and English) pages: dates, money, HTML to text, URLs.

Nothing here does I/O or reads the clock: functions that need "now" take it as a parameter.
Every input is untrusted; every function returns ``None`` (or an empty result) for input it
cannot make sense of and never raises on bad text.

Dates are returned as aware UTC datetimes, computed from local time in ``tz``
(Europe/Stockholm by default). A bare date read as a deadline means the end of that day
(23:59:59 local time); read as an opening date it means the start of the day.
"""

from __future__ import annotations

import calendar
import html
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from w3lib.url import safe_url_string

STOCKHOLM = ZoneInfo("Europe/Stockholm")

#: Longest input any function here looks at; the rest is ignored (keeps huge pages cheap).
MAX_INPUT_CHARS = 1_000_000
#: Longest text searched for dates (the dates of a call are near the top of its page).
MAX_DATE_TEXT_CHARS = 200_000
MIN_YEAR, MAX_YEAR = 1990, 2100

MONTHS: dict[str, int] = {
    # Swedish
    "januari": 1, "februari": 2, "mars": 3, "april": 4, "maj": 5, "juni": 6, "juli": 7,
    "augusti": 8, "september": 9, "oktober": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "okt": 10, "nov": 11, "dec": 12,
    # English (where different)
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7, "august": 8,
    "october": 10, "oct": 10,
}  # fmt: skip

_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_TIME = (
    r"(?:\s*(?:,|-|–)?\s*(?:kl\.?|klockan|at)?\s*"
    r"(?P<hh>[01]?\d|2[0-4])[.:](?P<mi>[0-5]\d)(?::(?P<ss>[0-5]\d))?(?!\d))?"
)
_DAY_MONTH = re.compile(
    r"(?<![\w.])(?P<d>[0-3]?\d)(?::[ae]|st|nd|rd|th|\.)?\s+(?:of\s+)?"
    rf"(?P<mon>{_MONTH_RE})\.?(?![a-zåäö])(?:,?\s*(?P<y>(?:19|20|21)\d\d)(?!\d))?" + _TIME,
    re.IGNORECASE,
)
_MONTH_DAY = re.compile(
    rf"(?<![\w])(?P<mon>{_MONTH_RE})\.?\s+(?P<d>[0-3]?\d)(?:st|nd|rd|th)?,?\s+"
    r"(?P<y>(?:19|20|21)\d\d)(?!\d)" + _TIME,
    re.IGNORECASE,
)
_ISO = re.compile(
    r"(?<![\w-])(?P<y>(?:19|20|21)\d\d)-(?P<m>[01]?\d)-(?P<d>[0-3]?\d)(?![\d])"
    r"(?:(?:T|\s*(?:,|-|–)?\s*(?:kl\.?|klockan|at)?\s*)"
    r"(?P<hh>[01]?\d|2[0-3])[.:](?P<mi>[0-5]\d)(?::(?P<ss>[0-5]\d))?(?:\.\d+)?(?!\d))?",
)
_NUMERIC = re.compile(
    r"(?<![\w.])(?P<d>[0-3]?\d)[./](?P<m>[01]?\d)[./](?P<y>(?:19|20|21)\d\d)(?!\d)" + _TIME
)


def _zone(tz: tzinfo | str | None) -> tzinfo:
    if tz is None:
        return STOCKHOLM
    if isinstance(tz, str):
        return ZoneInfo(tz)
    return tz


_FULL_MONTHS = "|".join(
    name for name, _ in sorted(MONTHS.items()) if len(name) > 4 or name == "maj"
)
#: month and year without a day: "Öppnar: Maj 2023"
_MONTH_YEAR = re.compile(
    rf"(?<![\w])(?P<mon>{_FULL_MONTHS}|mars|juni|juli|may|june|july)(?![a-zåäö])\s+"
    r"(?P<y>(?:19|20|21)\d\d)(?!\d)",
    re.IGNORECASE,
)
#: the first day of a range that shares its month: "18–" in "18–29 september 2023"
_DAY_RANGE = re.compile(r"(?<![\w.:])(?P<d>[0-3]?\d)\s*[–—-]\s*(?=[0-3]?\d\s+\w)")
#: a time written before its date: "kl. 16.00 den 20 mars 2024"
_TIME_BEFORE = re.compile(
    r"(?:kl\.?|klockan)\s*(?P<hh>[01]?\d|2[0-4])[.:](?P<mi>[0-5]\d)\s*,?\s*(?:den\s+|on\s+)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    year: int | None
    month: int
    #: 0 for a month without a day ("maj 2023")
    day: int
    at: time | None


def _clock(hh: str, mi: str, ss: str | None) -> time | None:
    """A time of day; "24.00" (Swedish for the day's end) is 23:59:59."""
    if int(hh) == 24:
        return time(23, 59, 59) if int(mi) == 0 else None
    return time(int(hh), int(mi), int(ss or 0))


def _scan(text: str) -> list[_Found]:
    """Every date-looking token in the text, in order, without overlaps."""
    found: list[_Found] = []
    for pattern in (_ISO, _NUMERIC, _MONTH_DAY, _DAY_MONTH):
        for m in pattern.finditer(text):
            g = m.groupdict()
            month = int(g["m"]) if g.get("m") else MONTHS[g["mon"].lower()]
            at = None
            if g.get("hh"):
                at = _clock(g["hh"], g["mi"], g.get("ss"))
            else:
                before = _TIME_BEFORE.search(text, max(0, m.start() - 30), m.start())
                if before is not None:
                    at = _clock(before["hh"], before["mi"], None)
            year = int(g["y"]) if g.get("y") else None
            found.append(_Found(m.start(), m.end(), year, month, int(g["d"]), at))
    # "18–29 september 2023": the first day shares the month (and year) of the second
    for m in _DAY_RANGE.finditer(text):
        second = _DAY_MONTH.match(text, m.end())
        if second is None:
            continue
        g = second.groupdict()
        year = int(g["y"]) if g.get("y") else None
        found.append(
            _Found(m.start(), m.end() - 1, year, MONTHS[g["mon"].lower()], int(m["d"]), None)
        )
    for m in _MONTH_YEAR.finditer(text):
        found.append(_Found(m.start(), m.end(), int(m["y"]), MONTHS[m["mon"].lower()], 0, None))
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    out: list[_Found] = []
    for item in found:
        if out and item.start < out[-1].end:
            continue
        out.append(item)
    return out


def _build(
    year: int, month: int, day: int, at: time | None, tz: tzinfo, end_of_day: bool
) -> datetime | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    if day == 0:  # a month without a day: its first day, or its last as a deadline
        day = calendar.monthrange(year, month)[1] if end_of_day else 1
    try:
        day_ = date(year, month, day)
    except ValueError:
        return None
    if at is None:
        at = time(23, 59, 59) if end_of_day else time(0, 0)
    return datetime.combine(day_, at, tzinfo=tz).astimezone(UTC)


def _year_for(day: int, month: int, now: datetime | None) -> int | None:
    """A year for a date written without one: the first such date not long before ``now``."""
    if now is None:
        return None
    base = now.date()
    for year in (base.year - 1, base.year, base.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= base - timedelta(days=60):
            return year
    return None


def parse_swedish_date(
    text: str | None,
    *,
    tz: tzinfo | str | None = STOCKHOLM,
    end_of_day: bool = True,
    year: int | None = None,
    now: datetime | None = None,
) -> datetime | None:
    """The first date in ``text`` as an aware UTC datetime, or None.

    Understands "12 september 2027", "12 sep 2027", "den 15:e mars", "2027-09-12",
    "15 mars 2021 kl. 16.00", "15.03.2027" and English "15 March 2027" / "March 15, 2027".
    A date without a year takes ``year``, else the year of ``now`` that puts it no more than
    60 days in the past, else None. Impossible dates ("31 februari 2027") give None.
    """
    if not text or not isinstance(text, str):
        return None
    zone = _zone(tz)
    for found in _scan(text[:MAX_DATE_TEXT_CHARS]):
        y = found.year or year or _year_for(found.day, found.month, now)
        if y is None:
            continue
        return _build(y, found.month, found.day, found.at, zone, end_of_day)
    return None


_ISO_FULL = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?\s*$",
    re.IGNORECASE,
)


def parse_date_any(
    value: object,
    *,
    tz: tzinfo | str | None = STOCKHOLM,
    end_of_day: bool = True,
    year: int | None = None,
) -> datetime | None:
    """A date from whatever a source gives: a datetime/date, ISO 8601 with or without offset
    (``2027-04-08T00:00:00.000+0000``), RFC 822 (``Tue, 14 Sep 2027 10:00:00 +0200``), or
    Swedish/English text. Times without an offset are local time in ``tz``; a bare date is the
    end (or, with ``end_of_day=False``, the start) of that day. Returns aware UTC or None."""
    zone = _zone(tz)
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)
    if isinstance(value, date):
        return _build(value.year, value.month, value.day, None, zone, end_of_day)
    if not isinstance(value, str):
        return None
    text = value[:1000].strip()
    if not text:
        return None
    m = _ISO_FULL.match(text)
    if m:
        y, mo, d, hh, mi, ss, off = m.groups()
        if hh is None:
            return _build(int(y), int(mo), int(d), None, zone, end_of_day)
        try:
            parsed = datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0))
        except ValueError:
            return None
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            return None
        if off is None:
            return parsed.replace(tzinfo=zone).astimezone(UTC)
        if off.upper() == "Z":
            return parsed.replace(tzinfo=UTC)
        sign = -1 if off[0] == "-" else 1
        digits = off[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if offset > timedelta(hours=14):
            return None
        return (parsed - sign * offset).replace(tzinfo=UTC)
    if re.match(r"^\s*(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}", text):
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            parsed = None
        if parsed is not None and MIN_YEAR <= parsed.year <= MAX_YEAR:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=zone)
            return parsed.astimezone(UTC)
    return parse_swedish_date(text, tz=zone, end_of_day=end_of_day, year=year)


# --- cue words: which date is a deadline, which an opening date ---------------------------

_CUES: list[tuple[str, str]] = [
    ("period", r"ansökningsperiod(?:en|er|erna)?|ansökningstid(?:en|er|erna)?|"
               r"utlysningsperiod(?:en)?|utlysningstid(?:en)?|"
               r"application period|submission period|period|sök(?:\s+\d{1,2})?\s*:|"
               r"öppen mellan|pågick mellan|pågår mellan|"
               r"(?:är |var )?öppe[nt] för ansökningar|är öppen|var öppen|"
               r"(?:is|are|will be) open(?: between)?|open between"),
    ("deadline", r"stänger|stängd|stängs|stänga|stänger den|sista ansökningsdag(?:en)?|"
                 r"sista ansökningsdatum|"
                 r"sista dag(?:en)? (?:att|för att) (?:ansöka|söka)|sista dag för ansökan|"
                 r"ansök senast|ansökan (?:ska|måste) vara inne senast|sök senast|senast|"
                 r"(?:ska|måste) vara (?:inne|inkommen|oss tillhanda)|ha kommit in|"
                 r"fram till(?: och med)?|"
                 r"deadline(?:s)?|closes|closing date|closed|submission deadline|"
                 r"deadline date|apply by|till och med|not later than|no later than|"
                 r"open until|(?:the )?deadline for [\w ]{1,40}? is"),
    ("opens", r"öppnar|öppnas|öppna|öppen från|öppen för ansökan från|öppningsdatum|"
              r"opens|opening date|planned opening(?: date)?|open from|från och med|från den|"
              r"starting on|starts on|opens on|opening on|will open on"),
    ("published", r"publicerad|publicerat|publiceringsdatum|published|posted|uppdaterad|updated|"
                  r"senast uppdaterad|sidan uppdaterades"),
    # dates that are not the call's: registration for a meeting, decisions, the project's own
    # time; a date in a clause naming one of these is never a deadline or an opening date
    ("other", r"anmäl(?:\s+dig|\s+er)?|anmälan|anmälningen|informationsmöte(?:t|n)?|"
              r"informationsträff(?:en|ar)?|webbinari(?:um|et|er)|webinar|seminari(?:um|et|er)|"
              r"prioriteras|prioritering(?:en)?|strukturfondspartnerskap(?:et)?|"
              r"beslut(?:as|et|ar)?|besked|projektstart|projektet (?:ska )?starta?r?|"
              r"projekttid(?:en)?|projektperiod(?:en)?|genomföras|genomförs|redovisning(?:en)?|"
              r"slutrapport(?:en)?|utbetalning(?:en)?|registration|register by|information session|"
              r"granskad|ändrad|reviewed|edited on|sammanträde\w*|möte(?:t|n|na)?|"
              r"beviljade?s?|beviljat"),
]  # fmt: skip
_CUE_RE = re.compile(
    "|".join(f"(?P<{name}>(?<![\\wåäö])(?:{words})(?![\\wåäö]))" for name, words in _CUES),
    re.IGNORECASE,
)
_RANGE_GAP = re.compile(
    r"^\s*(?:–|—|-|‐|till|to|until|och|and)\s*(?:den\s+|the\s+)?$", re.IGNORECASE
)
_LIST_GAP = re.compile(r"^\s*(?:,|och|samt|and|resp\.?|respektive)\s*(?:den\s+)?$", re.I)
_CUE_WINDOW = 80
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n|;")
#: after a "fram till" date: what lasts until then is the project, not the application
_SPAN_AFTER = re.compile(
    r"\s*,?\s*(?:kan|ska|får|måste)\s+(?:\w+\s+){0,3}?(?:pågå|genomföras|löpa|vara klara?|"
    r"vara avslutade?|avslutas|slutföras)",
    re.I,
)
#: the end of a clause: a sentence end, a line break or a semicolon
_CLAUSE_END = re.compile(r"[.!?](?=\s+[A-ZÅÄÖ])|\n|;|•")
#: a year heading or phrase that dates what follows: "Under 2021", "Utlysningar 2021", a line "2021"
_YEAR_CONTEXT = re.compile(
    r"(?:(?<![\wåäö])(?:under|inför|för|år|utlysningar|ansökningsomgång(?:en|ar|arna)?|"
    r"omgången|utlysningen)\s+"
    r"(?:(?:hela\s+)?(?:året|år|våren|hösten|sommaren|vintern)\s+)?"
    r"(?=(?:19|20|21)\d\d(?!\d))"
    r"|^[ \t#]*(?=(?:19|20|21)\d\d[ \t]*:?[ \t]*$))(?P<y>(?:19|20|21)\d\d)(?!\d)",
    re.IGNORECASE | re.MULTILINE,
)
#: "Stänger: Ej bestämt": the deadline is not known (yet)
_UNKNOWN_DEADLINE = re.compile(
    r"(?<![\wåäö])(?:stänger|sista ansökningsdag|deadline|ansök senast)\s*:?\s*"
    r"(?:är\s+)?(?:ej|inte|ännu inte|not)\s+(?:bestämt|bestämd|fastställt|fastställd|klart|"
    r"satt|beslutat|known|decided|set)|(?:datum|deadline)\s+meddelas\s+senare|"
    r"(?:stänger|deadline)\s*:?\s*(?:tba|tbc|to be (?:announced|confirmed))",
    re.IGNORECASE,
)
#: "Ansökan sker löpande": applications are taken all the time, there is no deadline
_ROLLING = re.compile(
    r"(?:(?<![\wåäö])(?:ansök\w*|sök\w*|stänger|deadline|ansökningsperiod\w*)"
    r"[^.\n;]{0,60}?(?<![\wåäö])löpande(?![\wåäö])"
    r"|(?<![\wåäö])löpande(?![\wåäö])[^.\n;]{0,40}?(?<![\wåäö])(?:ansök\w*|sök\w*|utlysning\w*)"
    r"|rolling basis|continuously open|open all year)",
    re.IGNORECASE,
)
#: a round described as over: "Utlysningen är stängd", "pågick mellan ..."
_CLOSED_WORDS = re.compile(
    r"(?<![\wåäö])(?:stängd|stängt|har stängt|stängde|pågick|avslutad|avslutades|"
    r"är stängd|var öppen|hade öppet|closed|was open|has closed)(?![\wåäö])",
    re.IGNORECASE,
)


#: a day number glued to the word before it ("Monday17 April"): a space goes between
_GLUED_DAY = re.compile(rf"(?<=[a-zåäö])(?=[0-3]?\d\s+(?:{_MONTH_RE})(?![a-zåäö]))", re.I)


def _year_near(day: int, month: int, ref: date) -> int | None:
    """The year that puts day/month on or after ``ref`` less 60 days (a date written
    without a year near a dated one, or on a page published on ``ref``)."""
    for year in (ref.year - 1, ref.year, ref.year + 1):
        try:
            candidate = date(year, month, max(day, 1))
        except ValueError:
            continue
        if candidate >= ref - timedelta(days=60):
            return year
    return None


def find_dates(
    text: str | None,
    *,
    tz: tzinfo | str | None = STOCKHOLM,
    year: int | None = None,
    now: datetime | None = None,
    default: str | None = None,
    anchor: datetime | date | None = None,
) -> dict:
    """Find the dates in a text and what they mean, from the cue word before each.

    Returns ``{"opens_at": datetime | None, "deadlines": [datetime, ...] (sorted, unique),
    "published": datetime | None, "dates": [every date found, in text order],
    "rolling": bool, "deadline_unknown": bool, "closed_words": bool}``.

    "Stänger/Stängd/Sista ansökningsdag/Ansök senast/senast den/fram till/Deadline" mark
    deadlines (end of day unless a time is given, also before the date: "kl. 16.00 den 20
    mars 2024"), "Öppnar/Öppen från/Opens" opening dates (start of day),
    "Ansökningsperiod/Ansökningstiden är/Sök 1: 1 mars – 15 april 2027" both. A month
    without a day ("Öppnar: Maj 2023") is its first day, as a deadline its last. A date in
    a clause about something else (registration for a meeting, a decision: "anmäl dig …
    senast den 21 februari", "Prioriteras i strukturfondspartnerskapet 11 december") has no
    role. "Stänger: Ej bestämt" sets ``deadline_unknown``; "ansökan sker löpande" sets
    ``rolling``; "stängd", "pågick" set ``closed_words``.

    A date without a year takes, in order: the year of the next date that has one close
    after it ("öppnar den 15 januari och stänger den 15 mars 2021"); the year of a heading
    or phrase before it ("Under 2021"); the year that puts it near or after the previous
    dated date, else near or after ``anchor`` (the page's own publication date; a
    "Publicerad …" date in the text counts); else ``year``; else, only when the caller
    passes ``now``, a year near ``now``. Otherwise it is skipped: the crawl's own day never
    dates a page.
    A date without a cue word gets the role ``default`` ("deadline", "opens" or
    "published") when given, else it is only listed under "dates".
    """
    result: dict = {
        "opens_at": None,
        "deadlines": [],
        "published": None,
        "dates": [],
        "rolling": False,
        "deadline_unknown": False,
        "closed_words": False,
    }
    if not text or not isinstance(text, str):
        return result
    text = _GLUED_DAY.sub(" ", text[:MAX_DATE_TEXT_CHARS])
    result["rolling"] = bool(_ROLLING.search(text))
    result["deadline_unknown"] = bool(_UNKNOWN_DEADLINE.search(text))
    result["closed_words"] = bool(_CLOSED_WORDS.search(text))
    zone = _zone(tz)
    tokens = _scan(text)
    roles: list[str | None] = []
    prev_end = 0
    for tok in tokens:
        window_start = max(prev_end, tok.start - _CUE_WINDOW)
        before = text[window_start : tok.start]
        clause_start = 0
        for m in _CLAUSE_END.finditer(before):
            clause_start = m.end()
        cues = [(m.start(), m.lastgroup) for m in _CUE_RE.finditer(before)]
        in_clause = [name for start, name in cues if start >= clause_start]
        if "other" in in_clause:
            role = "other"  # the clause is about a meeting, a decision, the project ...
        elif in_clause:
            role = in_clause[-1]
        else:
            # a cue of an earlier clause still names a date on the next line ("Stänger:\n
            # 15 mars"), unless it is about something else
            earlier = [name for _, name in cues if name != "other"]
            role = earlier[-1] if earlier else None
        roles.append(role or default)
        prev_end = tok.end
    # Year headings and phrases ("Under 2021"), by position.
    year_marks = [(m.start(), int(m["y"])) for m in _YEAR_CONTEXT.finditer(text)]
    if anchor is None:
        for tok, role in zip(tokens, roles, strict=True):
            if role == "published" and tok.year is not None:
                try:
                    anchor = date(tok.year, tok.month, max(tok.day, 1))
                except ValueError:
                    continue
                break
    if isinstance(anchor, datetime):
        anchor = anchor.astimezone(zone).date()
    # Fill in missing years.
    years: list[int | None] = [t.year for t in tokens]
    next_dated: list[_Found | None] = [None] * len(tokens)
    following: _Found | None = None
    for i in range(len(tokens) - 1, -1, -1):
        next_dated[i] = following
        if tokens[i].year is not None:
            following = tokens[i]
    previous: _Found | None = None
    for i, tok in enumerate(tokens):
        if tok.year is not None:
            previous = tok
            continue
        nxt = next_dated[i]
        heading = next((y for pos, y in reversed(year_marks) if pos < tok.start), None)
        if (
            nxt is not None
            and nxt.start - tok.end <= 200
            and not any(tok.end <= pos < nxt.start for pos, _ in year_marks)
        ):
            y = nxt.year
            if (tok.month, tok.day) > (nxt.month, nxt.day):
                y -= 1  # "15 december – 15 januari 2028"
            years[i] = y
        elif heading is not None:
            years[i] = heading
        elif previous is not None and previous.year is not None:
            try:
                ref = date(previous.year, previous.month, max(previous.day, 1))
            except ValueError:
                ref = None
            years[i] = _year_near(tok.day, tok.month, ref) if ref else previous.year
        elif anchor is not None:
            years[i] = _year_near(tok.day, tok.month, anchor)
        else:
            years[i] = year or _year_for(tok.day, tok.month, now)
    # Lists: "sista ansökningsdag 12 april och 1 december": the second shares the first's role.
    for i in range(1, len(tokens)):
        gap = text[tokens[i - 1].end : tokens[i].start]
        if (
            roles[i] in (None, default)
            and roles[i - 1] in ("deadline", "other")
            and _LIST_GAP.match(gap)
        ):
            roles[i] = roles[i - 1]
    # One sentence, two deadlines: "the deadline for small projects is 9 March 2022, whereas
    # for the core projects – 15 March 2022".
    for i in range(1, len(tokens)):
        gap = text[tokens[i - 1].end : tokens[i].start]
        if (
            roles[i] is None
            and roles[i - 1] == "deadline"
            and len(gap) <= 60
            and not _SENTENCE_END.search(gap)
        ):
            roles[i] = "deadline"
    # "Fram till och med september 2029 kan projekt pågå": the projects' time, not a deadline
    for i, tok in enumerate(tokens):
        if roles[i] == "deadline" and _SPAN_AFTER.match(text, tok.end):
            before = text[max(0, tok.start - 25) : tok.start]
            if re.search(r"(?:fram )?till(?: och med)?(?: den)?\s*$", before, re.I):
                roles[i] = "other"
    # Ranges: "1 mars – 15 april 2027" under a period/opens cue (or none) is opens + deadline.
    for i in range(len(tokens) - 1):
        gap = text[tokens[i].end : tokens[i + 1].start]
        if not _RANGE_GAP.match(gap) or roles[i] not in (None, default, "period", "opens"):
            continue
        # "A och B" / "A and B" is a range only under a period or opening cue ("pågick
        # mellan A och B"); bare, it lists two dates ("between 1 November 2026 and 30 April
        # 2029" of the projects' work)
        if re.match(r"^\s*(?:och|and)\b", gap, re.I) and roles[i] in (None, default):
            continue
        roles[i] = "opens"
        if roles[i + 1] in (None, default, "period"):
            roles[i + 1] = "deadline"
    deadlines: set[datetime] = set()
    for tok, y, role in zip(tokens, years, roles, strict=True):
        if y is None:
            continue
        is_deadline = role in ("deadline", "period")
        when = _build(y, tok.month, tok.day, tok.at, zone, end_of_day=is_deadline)
        if when is None:
            continue
        result["dates"].append(when)
        if is_deadline:
            deadlines.add(when)
        elif role == "opens" and result["opens_at"] is None:
            result["opens_at"] = when
        elif role == "published" and result["published"] is None:
            result["published"] = when
    result["deadlines"] = sorted(deadlines)
    return result


#: an opening date older than this, with no deadline and no "löpande", is a past round
STALE_OPENING = timedelta(days=365)


def status_hint(found: dict, now: datetime) -> str | None:
    """The status a page's dates allow when they do not settle it themselves (the stored
    status is derived from the dates first; see storage.records.derive_status):
    "open" for a rolling call ("löpande"); "closed" for a round described as over
    ("Utlysningen är stängd", "pågick") or one that opened over a year before ``now`` and
    names no deadline (also with "Stänger: Ej bestämt"); None otherwise (an opening date
    less than a year ago: open with an unknown deadline)."""
    if found.get("deadlines"):
        return None
    if found.get("rolling"):
        return "open"
    opens = found.get("opens_at")
    if found.get("closed_words") and not (opens and opens > now):
        return "closed"
    if opens and opens <= now - STALE_OPENING:
        return "closed"  # even with "Stänger: Ej bestämt": a page not updated for a year
    return None


# --- money -----------------------------------------------------------------------------

_NUM = r"(?P<num>\d{1,3}(?:[ \u00a0\u202f\u2009.,]\d{3})+(?:[.,]\d{1,2})?|\d{1,15}(?:[.,]\d{1,6})?)"
_MULT = (
    r"(?P<mult>miljarder|miljard|mdr|miljoner|miljon|milj\.?|mn|millions?|billions?|bn|"
    r"tusen|thousand|k|m)"
)
_CUR_AFTER = r"(?P<cur>msek|mkr|mnkr|tkr|ksek|sek|kronor|kr|euros?|eur|€)"
_MONEY_AFTER = re.compile(
    rf"(?P<neg>[-−–]\s*)?(?<![\w.,]){_NUM}\s*(?:{_MULT}\.?\s*)?{_CUR_AFTER}(?![a-zåäö])",
    re.IGNORECASE,
)
_MONEY_BEFORE = re.compile(
    rf"(?P<cur>sek|eur|€)\s*(?P<neg>[-−–]\s*)?{_NUM}(?:\s*{_MULT}(?![a-zåäö]))?",
    re.IGNORECASE,
)
_MULTIPLIERS = {
    "miljarder": 1e9, "miljard": 1e9, "mdr": 1e9, "billion": 1e9, "billions": 1e9, "bn": 1e9,
    "miljoner": 1e6, "miljon": 1e6, "milj": 1e6, "milj.": 1e6, "mn": 1e6, "million": 1e6,
    "millions": 1e6, "m": 1e6, "tusen": 1e3, "thousand": 1e3, "k": 1e3,
}  # fmt: skip
_CURRENCIES = {
    "msek": ("SEK", 1e6), "mkr": ("SEK", 1e6), "mnkr": ("SEK", 1e6), "tkr": ("SEK", 1e3),
    "ksek": ("SEK", 1e3), "sek": ("SEK", 1), "kronor": ("SEK", 1), "kr": ("SEK", 1),
    "eur": ("EUR", 1), "euro": ("EUR", 1), "euros": ("EUR", 1), "€": ("EUR", 1),
}  # fmt: skip
MAX_AMOUNT = 1e13


def _number(raw: str, has_multiplier: bool) -> float | None:
    s = re.sub(r"[ \u00a0\u202f\u2009]", "", raw)
    seps = re.findall(r"[.,]", s)
    if not seps:
        return float(s)
    if len(seps) == 1:
        head, tail = re.split(r"[.,]", s)
        if len(tail) == 3 and not has_multiplier:
            return float(head + tail)  # "4.000" / "3,500" as thousands
        return float(f"{head}.{tail}")
    # several separators: the last one is decimal if it differs from the others
    last = seps[-1]
    if all(sep == seps[0] for sep in seps):
        groups = re.split(r"[.,]", s)
        if all(len(g) == 3 for g in groups[1:]):
            return float("".join(groups))
        return None
    head, _, tail = s.rpartition(last)
    return float(re.sub(r"[.,]", "", head) + "." + tail)


def parse_money(text: str | None) -> tuple[float | None, str | None]:
    """The first amount of money in a text and its currency: "60 miljoner kronor" →
    (60000000.0, "SEK"), "2 MSEK", "500 000 kr", "1,5 mkr", "EUR 4 000 000",
    "€ 3.5 million". Negative amounts and text without an amount give (None, None)."""
    if not text or not isinstance(text, str):
        return None, None
    text = clean_text(text[:MAX_INPUT_CHARS], multiline=False)
    matches = sorted(
        [*(_MONEY_AFTER.finditer(text)), *(_MONEY_BEFORE.finditer(text))],
        key=lambda m: m.start(),
    )
    for m in matches:
        if m.group("neg") and not re.search(r"\d\s*$", text[: m.start()]):
            continue  # a minus sign; "1–2 MSEK" is a range, not a negative amount
        mult_word = (m.group("mult") or "").lower()
        currency, unit = _CURRENCIES[m.group("cur").lower()]
        try:
            value = _number(m.group("num"), bool(mult_word) or unit > 1)
        except ValueError:
            value = None
        if value is None:
            continue
        value *= _MULTIPLIERS.get(mult_word, 1) * unit
        if not math.isfinite(value) or value <= 0 or value > MAX_AMOUNT:
            continue
        return value, currency
    return None, None


# --- text ------------------------------------------------------------------------------

_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_REMOVED = re.compile(f"{_INVISIBLE.pattern}|{_CONTROL.pattern}")
#: every character ``str.isspace`` calls a space except the newline (a test checks that)
SPACES_BUT_NEWLINE = (
    " \t\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SPACES = re.compile(f"[{SPACES_BUT_NEWLINE}]+")
# most text has only " " for space: finding that out and collapsing runs of " " alone is
# several times faster on long text than the general pattern
_ODD_SPACE = re.compile(f"[{SPACES_BUT_NEWLINE[1:]}]")
_SPACE_RUN = re.compile("  +")


def clean_text(value: str | None, *, multiline: bool = True) -> str:
    """Plain text made safe and tidy: NFC, no control or zero-width/bidi-override
    characters, runs of spaces collapsed, at most one blank line between paragraphs.
    With ``multiline=False`` everything is joined on one line (for titles)."""
    if not value:
        return ""
    if not isinstance(value, str):
        value = str(value)
    value = value[:MAX_INPUT_CHARS]
    value = unicodedata.normalize("NFC", value)
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    value = value.replace("\u2029", "\n\n").replace("\t", " ")
    value = _REMOVED.sub("", value)
    if not multiline:
        return " ".join(value.split())
    if _ODD_SPACE.search(value):
        value = _SPACES.sub(" ", value)
    elif "  " in value:
        value = _SPACE_RUN.sub(" ", value)
    out = "\n".join([line.strip() for line in value.split("\n")])
    if "\n\n\n" in out:
        out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


_BLOCK = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "aside",
        "nav",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "dl",
        "table",
        "tr",
        "blockquote",
        "pre",
        "figure",
        "figcaption",
        "form",
        "fieldset",
        "address",
        "hr",
        "details",
        "summary",
    ]
)
_LINE = frozenset(["br", "li", "dt", "dd", "td", "th", "caption", "option"])
_SKIP = frozenset(
    ["script", "style", "noscript", "template", "head", "title", "svg", "math", "iframe", "object"]
)


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag in _LINE:
            self.parts.append("\n")
            if tag == "li":
                self.parts.append("• ")
            elif tag in ("td", "th"):
                self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in ("br", "hr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag in ("dt", "dd", "tr"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)


def html_to_text(markup: str | bytes | None) -> str:
    """HTML (or plain text with entities) to safe plain text: scripts, styles and comments
    dropped, block elements become paragraph breaks, list items "• ", entities unescaped
    (invalid ones are kept as text), whitespace collapsed, control and zero-width chars
    removed. Input beyond 1 000 000 characters is ignored."""
    if not markup:
        return ""
    if isinstance(markup, bytes):
        markup = markup.decode("utf-8", errors="replace")
    if not isinstance(markup, str):
        return ""
    markup = markup[:MAX_INPUT_CHARS]
    if "<" not in markup:
        return clean_text(html.unescape(markup))
    parser = _TextParser()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # HTMLParser is lenient; never let odd markup crash a crawl
        return clean_text(html.unescape(re.sub(r"<[^>]{0,2000}>", " ", markup)))
    text = "".join(parser.parts)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return clean_text(text)


# --- URLs ------------------------------------------------------------------------------

_SITEVISION_ID = re.compile(r"\.(\d+)\.html?$", re.IGNORECASE)
MAX_URL_CHARS = 2048


def sitevision_id(url: str | None) -> str | None:
    """The stable id of a Sitevision page: ``…/smartomstallning.4708.html`` → ``"4708"``."""
    if not url or not isinstance(url, str):
        return None
    try:
        path = urlsplit(url.strip()[:MAX_URL_CHARS]).path
    except ValueError:
        return None
    m = _SITEVISION_ID.search(path)
    return m.group(1) if m else None


def safe_http_url(url: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL, resolved against ``base`` and made safe by w3lib (an IDN host
    in its ``xn--`` form, the path and query percent-encoded as UTF-8); None for anything
    else (``javascript:``, ``data:``, ``mailto:``, empty, too long, no host, user info).
    The one URL check: the digest and the web use it too (``notifications.formatting``)."""
    if not url or not isinstance(url, str):
        return None
    if len(url) > MAX_URL_CHARS:
        return None
    cleaned = _CONTROL.sub("", _INVISIBLE.sub("", url)).strip()
    # Browsers drop tabs and newlines anywhere in a URL ("java\tscript:").
    cleaned = re.sub(r"[\t\n\r]", "", cleaned)
    if not cleaned:
        return None
    try:
        own = urlsplit(cleaned)
        if own.scheme and (own.scheme.lower() not in ("http", "https") or not own.hostname):
            return None
        absolute = urljoin(base, cleaned) if base else cleaned
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username or parts.password:
        return None
    try:
        return safe_url_string(absolute)
    except ValueError:  # a host that IDNA refuses
        return None
