"""Every shipped Swedish (and transnational) ``feed``/``listing`` source against its recorded
fixture (tests/files/<key>/: real page text in the markup the site's CMS uses; see each
folder's README.md), crawled as ``bevaka sources check`` does: the shipped config entry is
pointed at a real local HTTP server (crawler.mirror.Mirror) and run by
:func:`crawler.runner.inspect_source` in a Scrapy child process, with an injected ``now``.

For each source the test names every call it must extract (title, opening date, deadlines,
status, budget) and the dates that must never become a deadline (registration, decision and
meeting dates, past rounds). Where one CMS has two markups, the same text is served in each
and both must give the same calls.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from crawl_support import FILES

from config.loader import load_config
from crawler.mirror import Mirror, load_recording
from crawler.settings import BENCH_SETTINGS
from storage.records import CallData, derive_status

STOCKHOLM = ZoneInfo("Europe/Stockholm")

#: a test waiting for a crawler rule is marked xfail(strict=True) with the rule's name, so it
#: fails loudly once the rule lands (the engine's notes: /work/notes/sources-engine.md)
YEARLESS = "yearless dates anchored to the page's year/publication date, not today (engine)"


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=STOCKHOLM).astimezone(UTC)


def end_of_day(y: int, m: int, d: int) -> datetime:
    return local(y, m, d, 23, 59, 59)


@dataclass(frozen=True)
class Call:
    """One call (or news item) a source must extract."""

    title: str
    status: str
    opens: datetime | None = None
    deadlines: tuple[datetime, ...] = ()
    budget: float | None = None
    #: for news: the publication date (local)
    published: date | None = None


@dataclass(frozen=True)
class Case:
    key: str
    now: datetime
    calls: tuple[Call, ...]
    #: entry paths of other markups of the same text (the fixture's routes.yaml entry first)
    variants: tuple[str, ...] = ()
    #: dates (local) that must not be any call's deadline
    never_deadline: tuple[date, ...] = ()
    #: no extracted item may be open or forthcoming (every date on the pages is past)
    all_past: bool = False
    #: xfail reason per variant ("" = the routes.yaml entry), or for all variants ("*")
    xfail: dict[str, str] = field(default_factory=dict)


CASES: list[Case] = [
    Case(
        "esf",
        now=local(2023, 1, 15, 10),
        variants=("/esf/b/utlysningsplan/",),
        calls=(
            Call(
                "Utlysning 1:2023",
                "open",
                opens=local(2022, 12, 2),
                deadlines=(end_of_day(2023, 3, 6),),
            ),
            Call("Utlysning 2:2023", "forthcoming", opens=local(2023, 5, 1)),
        ),
        never_deadline=(date(2023, 12, 11), date(2023, 6, 1)),
    ),
    Case(
        "esf_nyheter",
        now=local(2022, 11, 1, 10),
        calls=(
            # "beräknas öppna i december 2022/januari 2023 och stänga i mars 2023": the
            # estimate, month only (the first and the last day)
            Call(
                "Information om kommande utlysningar – ESF+ Stockholmsregionen",
                "forthcoming",
                opens=local(2022, 12, 1),
                deadlines=(end_of_day(2023, 3, 31),),
                published=date(2022, 10, 24),
            ),
            # "beräknas öppna den 2 december 2022 och stänga i början av mars 2023"
            Call(
                "Information om kommande utlysningar i Sydsverige inom ESF+",
                "forthcoming",
                opens=local(2022, 12, 2),
                deadlines=(end_of_day(2023, 3, 31),),
                published=date(2022, 10, 5),
            ),
            Call(
                "De första utlysningarna inom ESF+ är publicerade",
                "unknown",
                published=date(2022, 7, 8),
            ),
            Call(
                "Nyhetsbrev från Svenska ESF-rådet i Västsverige april 2015",
                "closed",  # "Nu har vi stängt de första utlysningarna"
                published=date(2015, 4, 7),
            ),
        ),
        never_deadline=(date(2022, 12, 6), date(2022, 12, 7), date(2023, 1, 17)),
        xfail={
            "*": "a news item naming several calls' sums ('Tillgängligt belopp i utlysningen "
            "är 62 miljoner kronor', one of six) has no one budget"
        },
    ),
    Case(
        "uhr",
        now=local(2021, 9, 1, 10),
        variants=("/uhr/b/sok-finansiering/",),
        calls=(
            Call(
                "Ackreditering för långsiktig utveckling",
                "open",
                deadlines=(local(2021, 10, 19, 12),),
            ),
            Call("Erasmus+ ackreditering skola", "unknown"),
        ),
    ),
    Case(
        "interreg_oks",
        now=local(2027, 1, 15, 10),
        variants=("/interreg_oks/b/forersomvillansoka.488.html",),
        calls=(
            Call(
                "Tack för alla ansökningar",
                "closed",
                opens=local(2024, 1, 12),
                deadlines=(end_of_day(2024, 2, 8),),
            ),
            Call("Rekordmånga söker finansiering från Interreg", "closed"),
            Call(
                "Nya projektansökningar till programmet",
                "closed",
                opens=local(2017, 1, 23),
                deadlines=(end_of_day(2017, 2, 17),),
            ),
        ),
        never_deadline=(date(2027, 1, 12), date(2027, 2, 8), date(2027, 1, 23), date(2027, 2, 17)),
        all_past=True,
    ),
    Case(
        "vgr",
        now=local(2027, 1, 15, 10),
        calls=(Call("Ansök om projektstöd", "open"),),
    ),
    Case(
        "lansstyrelsen_vg",
        now=local(2019, 1, 15, 10),
        variants=("/lansstyrelsen_vg/b/utlysningar.html",),
        calls=(
            Call(
                "Särskild utlysning inom Landsbygdsprogrammet",
                "open",
                opens=local(2018, 10, 1),
                deadlines=(end_of_day(2019, 1, 31),),
            ),
            Call(
                "Nu kan man söka bidrag till lokala vattenvårdsprojekt (LOVA)",
                "open",
                deadlines=(end_of_day(2019, 2, 28),),
            ),
        ),
        never_deadline=(date(2019, 4, 12), date(2019, 12, 1), date(2021, 4, 12)),
    ),
    Case(
        "lona_vg",
        now=local(2021, 3, 1, 10),
        calls=(
            Call(
                "Lokala naturvårdssatsningen (LONA)",
                "open",
                deadlines=(end_of_day(2021, 4, 12), end_of_day(2021, 12, 1)),
            ),
        ),
    ),
    Case(
        "skr",
        now=local(2024, 7, 1, 10),
        calls=(
            Call("Viktiga EU-stöd behöver värnas", "unknown", published=date(2024, 6, 14)),
            Call(
                "Sverige behöver agera för att säkerställa EU-fonder",
                "unknown",
                published=date(2024, 4, 22),
            ),
        ),
    ),
    Case(
        "skolverket",
        now=local(2023, 1, 20, 10),
        calls=tuple(
            Call(title, "open", opens=local(2023, 1, 15), deadlines=(end_of_day(2023, 2, 15),))
            for title in (
                "Behörighetsgivande utbildning för yrkeslärare 2023",
                "Personalförstärkning inom elevhälsan och specialpedagogik 2023",
                "Entreprenörskap för organisationer 2023",
                "Fortbildning förskollärare 2023",
            )
        ),
    ),
    Case(
        "leader_nv_skaraborg",
        now=local(2023, 3, 15, 10),
        calls=(
            Call("Vi är redo att stötta fler projekt", "unknown", published=date(2023, 3, 1)),
            Call(
                "Som start på 2019 stöttar LEADER verksamhetsutveckling till företag och "
                "föreningar",
                "unknown",
                published=date(2019, 3, 5),
            ),
        ),
        never_deadline=(date(2019, 3, 1), date(2023, 3, 1), date(2024, 3, 1)),
    ),
    Case(
        "jordbruksverket_leader",
        now=local(2023, 3, 15, 10),
        calls=(Call("Stöd till Leader 2023-2027", "unknown"),),
        never_deadline=(date(2022, 10, 28),),
    ),
    Case(
        "skaraborg",
        now=local(2025, 6, 15, 10),
        calls=(
            Call("Söka projektstöd", "unknown"),
            Call(
                "Att söka projekt hos Tillväxtverket",
                "closed",
                deadlines=(end_of_day(2025, 2, 17),),
            ),
        ),
        never_deadline=(date(2026, 2, 17), date(2029, 9, 30)),
        xfail={
            "*": f"{YEARLESS}: 'den senaste perioden stängde 17 feb' on a page of 2025 gives no "
            "deadline"
        },
    ),
    Case(
        "klimatklivet",
        now=local(2023, 9, 1, 10),
        calls=(
            Call(
                "Klimatklivet – stöd till klimatinvesteringar",
                "forthcoming",
                opens=local(2023, 9, 18),
                deadlines=(end_of_day(2023, 9, 29),),
            ),
        ),
        never_deadline=(date(2024, 6, 30),),
    ),
    Case(
        "mucf",
        now=local(2024, 9, 1, 10),
        variants=("/mucf/b/bidrag",),
        calls=(
            Call(
                "Projekt för att öka ungas delaktighet",
                "open",
                deadlines=(local(2024, 10, 1, 12),),
            ),
            Call("Ungdomsutbyte", "closed", deadlines=(local(2023, 10, 4, 12),)),
        ),
    ),
    Case(
        "energimyndigheten",
        now=local(2021, 9, 15, 10),
        calls=(
            Call(
                "Stöd till utökad kommunal energi- och klimatrådgivning år 2021–2022",
                "open",
                deadlines=(local(2021, 10, 20, 17),),
                budget=10_000_000.0,
            ),
        ),
    ),
    Case(
        "interreg_baltic",
        now=local(2022, 2, 15, 10),
        calls=(
            Call(
                "New funding: open calls for project applications",
                "open",
                opens=local(2022, 2, 8),
                deadlines=(
                    end_of_day(2022, 3, 9),
                    end_of_day(2022, 3, 15),
                    end_of_day(2022, 3, 30),
                    end_of_day(2022, 4, 26),
                ),
            ),
        ),
    ),
    Case(
        "interreg_north_sea",
        now=local(2025, 8, 1, 10),
        variants=("/interreg_north_sea/b/future-calls",),
        calls=(
            Call(
                "Call 3: The dates are set",
                "closed",
                opens=local(2023, 4, 17),
                deadlines=(end_of_day(2023, 6, 30),),
            ),
            Call(
                "Previous calls",
                "closed",
                opens=local(2021, 12, 16),
                deadlines=tuple(
                    end_of_day(*d)
                    for d in (
                        (2022, 3, 7),
                        (2022, 4, 22),
                        (2022, 11, 14),
                        (2023, 6, 30),
                        (2024, 3, 8),
                        (2025, 7, 22),
                    )
                ),
            ),
        ),
        never_deadline=(date(2023, 10, 25), date(2023, 10, 26), date(2023, 2, 8)),
        all_past=True,
        xfail={
            "*": "a decision date ('decisions on Call 3applications on 25-26 October') is no "
            "deadline; a call's list of deadlines ('Small-scale project applications: 7 March "
            "2022') and 'Call 1 opened on 16 December 2021' (engine)"
        },
    ),
    Case(
        "interreg_europe",
        now=local(2026, 12, 1, 10),
        calls=(
            Call(
                "Call for projects",
                "closed",
                opens=local(2022, 4, 5),
                deadlines=(local(2022, 5, 31, 12), local(2023, 6, 9, 12), local(2024, 6, 7, 12)),
            ),
        ),
        all_past=True,
        xfail={"*": "a time in parentheses after the date ('7 June 2024 (12:00 noon CEST')"},
    ),
    Case(
        "urbact",
        now=local(2026, 4, 15, 10),
        calls=(
            Call(
                "URBACT answers your questions about the call for Action Networks",
                "open",
                opens=local(2026, 3, 17),
                deadlines=(end_of_day(2026, 6, 17),),
            ),
        ),
        never_deadline=(date(2029, 4, 30), date(2026, 11, 1)),
    ),
    Case(
        "boverket",
        now=local(2018, 5, 1, 10),
        calls=(
            Call(
                "Stöd till utemiljöer i socioekonomiskt utsatta områden",
                "open",
                opens=local(2018, 4, 17),
                deadlines=(end_of_day(2018, 4, 16), end_of_day(2018, 7, 31)),
            ),
        ),
    ),
    Case(
        "arvsfonden",
        now=local(2027, 1, 15, 10),
        calls=(Call("Ansök om pengar", "open"),),
    ),
    Case(
        "kulturradet",
        now=local(2015, 1, 20, 10),
        calls=(
            Call(
                "Nu är det ny ansökningstid för skapande skola",
                "open",
                deadlines=(end_of_day(2015, 2, 10),),  # "kl 24.00": the end of that day
            ),
        ),
    ),
]

BY_KEY = {case.key: case for case in CASES}


def _params() -> Iterator:
    for case in CASES:
        for variant in ("", *case.variants):
            reason = case.xfail.get(variant) or case.xfail.get("*")
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(case.key, variant, marks=marks, id=f"{case.key}{variant or ''}")


@pytest.fixture(scope="module")
def shipped():
    return load_config()


@pytest.fixture(scope="module")
def mirror() -> Iterator[Mirror]:
    keys = sorted({case.key for case in CASES} | {"lona_vg"})
    with Mirror(FILES, keys=keys) as server:
        yield server


def check(shipped, mirror: Mirror, key: str, variant: str, now: datetime) -> list[CallData]:
    """What ``bevaka sources check KEY`` extracts from the fixture (the entry at ``variant``)."""
    from crawler.runner import inspect_source

    recording = load_recording(FILES / key)
    (entry,) = [e for e in shipped.sources.sources if e.key == key]
    first = mirror.base_url + (variant or recording.entry)
    extra = [] if variant else _other_pages(entry, recording, mirror.base_url)
    mirrored = entry.model_copy(update={"url": first, "urls": extra, "enabled": True})
    config = SimpleNamespace(
        settings=shipped.settings,
        sources=shipped.sources.model_copy(update={"sources": [mirrored]}),
    )
    report = inspect_source(config=config, key=key, now=now, settings_overrides=BENCH_SETTINGS)
    assert report.result.outcome == "ok", report.result.error
    return report.calls


def _other_pages(entry, recording, base: str) -> list[str]:
    """The fixture pages standing for the entry's further ``urls`` (matched by their last
    path segment)."""
    out = []
    for url in entry.urls:
        tail = url.rstrip("/").rsplit("/", 1)[-1]
        paths = [r.path for r in recording.routes if r.path.rstrip("/").endswith(tail)]
        assert paths, f"{entry.key}: no fixture page for {url}"
        out.append(base + paths[0])
    return out


def status_of(call: CallData, now: datetime) -> str:
    return derive_status(
        opens_at=call.opens_at, deadlines=call.deadlines, now=now, hint=call.status
    )


def published(call: CallData) -> date | None:
    value = call.extra.get("published")
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(STOCKHOLM).date()


@pytest.mark.slow  # a Scrapy child process per crawl
@pytest.mark.parametrize(("key", "variant"), list(_params()))
def test_source_extracts_the_real_calls(shipped, mirror, key: str, variant: str) -> None:
    case = BY_KEY[key]
    calls = check(shipped, mirror, key, variant, case.now)
    if case.calls or not case.all_past:
        assert sorted(c.title for c in calls) == sorted(c.title for c in case.calls)
    got = {c.title: c for c in calls}
    for want in case.calls:
        call = got[want.title]
        assert call.opens_at == want.opens, want.title
        assert call.deadlines == list(want.deadlines), want.title
        assert status_of(call, case.now) == want.status, want.title
        assert call.budget == want.budget, want.title
        if want.published is not None:
            assert published(call) == want.published, want.title
    _never_invented(case, calls)


#: a day after every date on every fixture page (the latest is 30 April 2029)
LONG_AFTER = local(2031, 1, 1, 10)


@pytest.mark.slow  # a Scrapy child process per source
@pytest.mark.parametrize("key", sorted(BY_KEY))
def test_when_every_date_is_past_nothing_is_open_or_forthcoming(shipped, mirror, key) -> None:
    """The real pages, read long after every date on them: no call is open or forthcoming,
    except a rolling one (applications all year, no date at all)."""
    for call in check(shipped, mirror, key, "", LONG_AFTER):
        status = status_of(call, LONG_AFTER)
        if status not in ("open", "forthcoming"):
            continue
        assert not call.deadlines and call.opens_at is None, f"{key}: {call.title!r} {status}"
        assert call.extra.get("rolling"), f"{key}: {call.title!r} is {status} without a date"


def _unseen_markup(html: str) -> str:
    """The same page in markup nobody configured for: no class, id or role attributes, no
    ``<main>`` element (a plain ``<div>``)."""
    html = re.sub(r"\s(?:class|id|role)=\"[^\"]*\"", "", html)
    return re.sub(r"<(/?)main\b", r"<\1div", html)


@pytest.fixture(scope="module")
def unseen(tmp_path_factory) -> Iterator[Mirror]:
    """Every fixture with its HTML pages in :func:`_unseen_markup`, served like the others."""
    root = tmp_path_factory.mktemp("unseen")
    for key in sorted(set(BY_KEY) | {"lona_vg"}):
        shutil.copytree(FILES / key, root / key)
        for page in (root / key).glob("*.html"):
            page.write_text(_unseen_markup(page.read_text(encoding="utf-8")), encoding="utf-8")
    with Mirror(root) as server:
        yield server


#: sources that read HTML pages (the others read a feed or the WordPress API only)
HTML_SOURCES = {
    e.key
    for e in load_config().sources.sources
    if e.kind == "listing" or e.options.get("follow_links")
}


def _unseen_params() -> Iterator:
    for case in CASES:
        if case.key not in HTML_SOURCES:
            continue
        reason = case.xfail.get("") or case.xfail.get("*")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(case.key, marks=marks, id=case.key)


@pytest.mark.slow  # a Scrapy child process per source
@pytest.mark.parametrize("key", list(_unseen_params()))
def test_the_same_calls_from_markup_nobody_has_seen(shipped, unseen, key) -> None:
    case = BY_KEY[key]
    calls = check(shipped, unseen, key, "", case.now)
    if case.calls or not case.all_past:
        assert sorted(c.title for c in calls) == sorted(c.title for c in case.calls)
    got = {c.title: c for c in calls}
    for want in case.calls:
        call = got[want.title]
        assert (call.opens_at, call.deadlines) == (want.opens, list(want.deadlines)), want.title
        assert status_of(call, case.now) == want.status, want.title
        assert call.budget == want.budget, want.title
    _never_invented(case, calls)


def _never_invented(case: Case, calls: list[CallData]) -> None:
    for call in calls:
        days = {d.astimezone(STOCKHOLM).date() for d in call.deadlines}
        bad = days & set(case.never_deadline)
        assert not bad, f"{call.title!r}: {sorted(bad)} is no deadline"
        if case.all_past:
            assert status_of(call, case.now) not in ("open", "forthcoming"), call.title
        assert all(d.year <= case.now.year + 1 for d in call.deadlines), call.title


def test_every_shipped_generic_source_has_a_case_and_a_fixture(shipped) -> None:
    generic = {
        e.key
        for e in shipped.sources.sources
        if e.kind in ("feed", "listing", "wordpress", "sitemap") and e.url
    }
    assert generic == set(BY_KEY)
    for key in generic:
        readme = FILES / key / "README.md"
        assert readme.is_file(), f"{key}: a fixture says what is real in README.md"
        text = readme.read_text(encoding="utf-8")
        assert "**Real text.**" in text and "**Reconstructed.**" in text, key


def test_v6_stays_disabled_until_its_url_is_known(shipped) -> None:
    (v6,) = [e for e in shipped.sources.sources if e.key == "v6"]
    assert not v6.enabled and not v6.url


def test_markup_variants_carry_the_same_text() -> None:
    """Two markups of one page differ in markup only: their visible text is the same."""
    from parsel import Selector

    from crawler.textparse import html_to_text

    def words(path) -> list[str]:
        page = Selector(text=path.read_text(encoding="utf-8"))
        (main,) = page.xpath("//main | //*[@role='main']")[:1]
        return [w for w in html_to_text(main.get()).split() if w not in "•·-–"]

    pairs = {
        "esf": ("utlysningsplan.html", "utlysningsplan-block.html"),
        "lansstyrelsen_vg": ("utlysningar.html", "utlysningar-envision.html"),
        "interreg_oks": ("forersomvillansoka.html", "forersomvillansoka-envision.html"),
        "mucf": ("bidrag.html", "bidrag-cards.html"),
        "interreg_north_sea": ("future-calls.html", "future-calls-paragraphs.html"),
        "uhr": ("sok-finansiering.html", "sok-finansiering-linklist.html"),
    }
    for key, (a, b) in pairs.items():
        first, second = words(FILES / key / a), words(FILES / key / b)
        assert first == second, key


def test_demo_recordings_are_made_from_the_fixtures() -> None:
    """``bevaka demo`` serves the fixtures with their years moved (tests/tools/...)."""
    import sys

    sys.path.insert(0, str(FILES.parent / "tools"))
    import demo_recordings

    for key, years in demo_recordings.SHIFT.items():
        assert key in BY_KEY or key == "lona_vg"
        recorded = demo_recordings.RECORDINGS / key
        expected = demo_recordings.render(key)
        assert sorted(p.name for p in recorded.iterdir()) == sorted(expected), key
        for name, text in expected.items():
            assert (recorded / name).read_text(encoding="utf-8") == text, f"{key}/{name}"
        if years:
            pages = [n for n in expected if n.endswith((".html", ".xml"))]
            fixture = FILES / key
            changed = [
                n
                for n in pages
                if (fixture / n).is_file()
                and expected[n] != (fixture / n).read_text(encoding="utf-8")
            ]
            assert changed, f"{key}: no year moved"
