"""A small, fixed example world for the digest: config, calls, tags, changes, mentions, source
runs and two subscribers. Used by the golden-file tests and by docs/make_screenshots.py, so
the documented screenshot shows exactly what the tests check.

``EXAMPLE_NOW`` is Monday 23 November 2026, 07.00 in Stockholm (ISO week 48).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session

from config.loader import Config
from config.schema import Audience, Need, NeedsFile, Settings, SourceEntry, SourcesFile
from storage.models import (
    Announcement,
    Call,
    CallChange,
    CallLink,
    CrawlRun,
    Subscriber,
    Subscription,
    Tag,
)

STHLM = ZoneInfo("Europe/Stockholm")
EXAMPLE_NOW = datetime(2026, 11, 23, 7, 0, tzinfo=STHLM).astimezone(UTC)


def example_needs() -> NeedsFile:
    def audience(key: str, name: str, terms: list[str]) -> Audience:
        return Audience(key=key, name=name, needs=[Need(name=name, any=terms)])

    return NeedsFile(
        departments=[
            audience("utbildning", "Utbildningsförvaltningen", ["skola*", "elevutbyte"]),
            audience("kommunledning", "Kommunledningsförvaltningen", ["twinning"]),
            audience("kultur-fritid", "Kultur- och fritidsförvaltningen", ["kultur*"]),
        ],
        topics=[
            audience("klimat-och-miljo", "Klimat och miljö", ["klimat*", "climate"]),
            audience("digitalisering", "Digitalisering", ["digital*"]),
        ],
    )


def example_sources() -> SourcesFile:
    return SourcesFile(
        sources=[
            SourceEntry(
                key="eu_portal",
                name="EU:s Funding & Tenders-portal",
                kind="eu_portal",
                url="https://ec.europa.eu/info/funding-tenders/opportunities/portal/",
            ),
            SourceEntry(
                key="vinnova", name="Vinnova", kind="vinnova", url="https://www.vinnova.se/"
            ),
        ]
    )


#: the example's BEVAKA_SECRET_KEY (example data, never a real key)
EXAMPLE_SECRET_KEY = "example-secret-key-9fK2mQ7xVb4Lp8Rz"  # noqa: S105


def example_config(
    directory: Path | None = None,
    *,
    public_url: str | None = "https://bevaka.lidkoping.se",
    secret_key: str | None = EXAMPLE_SECRET_KEY,
    **smtp: object,
) -> Config:
    settings = Settings().model_copy(
        update={
            "public_url": public_url,
            "secret_key": secret_key,
            "smtp": Settings().smtp.model_copy(
                update={"reply_to": "international@lidkoping.se", **smtp}
            ),
        }
    )
    return Config(directory or Path("."), settings, example_sources(), example_needs())


def _need_name(key: str) -> str:
    needs = example_needs()
    for audience in [*needs.departments, *needs.topics]:
        if audience.key == key:
            return audience.needs[0].name
    return key


def _tag(call: Call, key: str, kind: str, terms: list[tuple[str, str]], now: datetime) -> Tag:
    return Tag(
        call_id=call.id,
        key=key,
        kind=kind,
        score=3.0 + len(terms),
        reasons=[
            {"need": _need_name(key), "term": term, "field": field, "snippet": f"… {term} …"}
            for term, field in terms
        ],
        created_at=now,
    )


def seed_example(session: Session, now: datetime = EXAMPLE_NOW) -> dict[str, int]:
    """Insert the example world (flushes, does not commit); returns the ids by name."""
    week_ago = now - timedelta(days=7)
    month_ago = now - timedelta(days=30)

    def deadline(y: int, m: int, d: int, hh: int = 17, mm: int = 0) -> datetime:
        return datetime(y, m, d, hh, mm, tzinfo=STHLM).astimezone(UTC)

    def call(key: str, **kw) -> Call:
        deadlines = kw.pop("deadlines", [])
        c = Call(
            source=kw.pop("source", "eu_portal"),
            external_id=key,
            url=kw.pop(
                "url",
                f"https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/topic-details/{key}",
            ),
            deadlines=[d.isoformat() for d in deadlines],
            next_deadline=min((d for d in deadlines if d >= now), default=None),
            first_seen_at=kw.pop("first_seen_at", now - timedelta(days=2)),
            last_seen_at=now,
            updated_at=now,
            **kw,
        )
        session.add(c)
        session.flush()
        return c

    ids: dict[str, int] = {}
    erasmus = call(
        "ERASMUS-EDU-2027-PCOOP",
        title="Erasmus+: Samarbetspartnerskap inom skolområdet",
        programme="ERASMUS",
        status="open",
        deadlines=[deadline(2027, 3, 5, 12, 0)],
        budget=400_000,
        currency="EUR",
    )
    life = call(
        "LIFE-2027-CLIMA-CCA",
        title="LIFE: Klimatanpassning i små och medelstora kommuner",
        programme="LIFE",
        status="open",
        deadlines=[deadline(2027, 1, 20)],
        budget=4_000_000,
        currency="EUR",
    )
    kultur = call(
        "CREA-CULT-2027-COOP",
        title='Kreativa Europa: "Kultur & samarbete" <små projekt>',
        programme="CREA",
        status="open",
        deadlines=[deadline(2027, 2, 10, 23, 59)],
        budget_text="Upp till 200 000 euro per projekt",
    )
    cities = call(
        "HORIZON-MISS-2027-CIT",
        title="Horisont Europa: Klimatneutrala och smarta städer",
        programme="HORIZON",
        status="open",
        deadlines=[deadline(2026, 12, 3)],
        budget=60_000_000,
        currency="EUR",
        first_seen_at=month_ago,
    )
    vinnova = call(
        "vinnova-hallbara-kommuner",
        source="vinnova",
        url="https://www.vinnova.se/e/hallbara-kommuner-2027/",
        title="Vinnova: Digitala tjänster för hållbara kommuner",
        programme="VINNOVA",
        status="open",
        deadlines=[deadline(2027, 2, 18, 14, 0)],
        budget=60_000_000,
        currency="SEK",
        first_seen_at=month_ago,
    )
    interreg = call(
        "interreg-oks-2027",
        source="vinnova",
        url="https://www.interreg-oks.eu/utlysningar",
        title="Interreg Öresund-Kattegat-Skagerrak: Grön omställning",
        programme="INTERREG",
        status="forthcoming",
        opens_at=datetime(2027, 2, 1, tzinfo=STHLM).astimezone(UTC),
        deadlines=[deadline(2027, 4, 30)],
    )
    closed = call(
        "ERASMUS-YOUTH-2026",
        title="Erasmus+: Ungdomsutbyten (stängd)",
        programme="ERASMUS",
        status="closed",
        deadlines=[deadline(2026, 10, 1)],
    )
    news = call(
        "uhr-news-erasmus-skola",
        source="vinnova",
        kind="news",
        url="https://www.uhr.se/erasmus/skolsamarbeten-2027",
        title="UHR: Nu kan skolor söka Erasmus+ för 2027",
        status="unknown",
    )
    for name, c in (
        ("erasmus", erasmus),
        ("life", life),
        ("kultur", kultur),
        ("cities", cities),
        ("vinnova", vinnova),
        ("interreg", interreg),
        ("closed", closed),
        ("news", news),
    ):
        ids[name] = c.id

    session.add_all(
        [
            _tag(
                erasmus,
                "utbildning",
                "department",
                [("skola", "title"), ("elevutbyte", "description")],
                now,
            ),
            _tag(
                life,
                "klimat-och-miljo",
                "topic",
                [("klimatanpassning", "title"), ("climate", "keywords")],
                now,
            ),
            _tag(kultur, "kultur-fritid", "department", [("kultur", "title")], now),
            _tag(cities, "klimat-och-miljo", "topic", [("klimatneutrala", "title")], now),
            _tag(vinnova, "digitalisering", "topic", [("digitala", "title")], now),
            _tag(vinnova, "klimat-och-miljo", "topic", [("hållbara", "title")], now),
            _tag(interreg, "klimat-och-miljo", "topic", [("grön omställning", "title")], now),
            _tag(closed, "utbildning", "department", [("ungdomsutbyten", "title")], now),
            CallLink(
                from_call_id=news.id, to_call_id=erasmus.id, reason="identifier", created_at=now
            ),
            CallChange(
                call_id=vinnova.id,
                field="deadlines",
                old_value=[deadline(2027, 1, 28, 14, 0).isoformat()],
                new_value=[deadline(2027, 2, 18, 14, 0).isoformat()],
                changed_at=week_ago + timedelta(days=3),
            ),
            CallChange(
                call_id=vinnova.id,
                field="budget",
                old_value=40_000_000,
                new_value=60_000_000,
                changed_at=week_ago + timedelta(days=3),
            ),
            CrawlRun(
                source="eu_portal",
                started_at=now - timedelta(hours=20),
                finished_at=now - timedelta(hours=19),
                outcome="ok",
                seen=120,
            ),
            CrawlRun(
                source="vinnova", started_at=month_ago, finished_at=month_ago, outcome="ok", seen=14
            ),
            CrawlRun(
                source="vinnova",
                started_at=now - timedelta(days=2),
                finished_at=now - timedelta(days=2),
                outcome="failed",
                error="HTTP 503 från www.vinnova.se",
            ),
            CrawlRun(
                source="vinnova",
                started_at=now - timedelta(days=1),
                finished_at=now - timedelta(days=1),
                outcome="failed",
                error="HTTP 503 från www.vinnova.se",
            ),
        ]
    )
    anna = Subscriber(
        email="anna.berg@lidkoping.se",
        name="Anna Berg",
        department="utbildning",
        role="representative",
        created_at=month_ago - timedelta(days=1),
    )
    coordinator = Subscriber(
        email="international@lidkoping.se",
        name="Internationella gruppen",
        role="coordinator",
        created_at=month_ago - timedelta(days=1),
    )
    session.add_all([anna, coordinator])
    session.flush()
    session.add(Subscription(subscriber_id=anna.id, topic="klimat-och-miljo"))
    # Told earlier: the cities and Vinnova calls were in an earlier digest.
    for sub in (anna, coordinator):
        for c in (cities, vinnova):
            session.add(
                Announcement(subscriber_id=sub.id, call_id=c.id, reason="new", created_at=month_ago)
            )
    session.flush()
    ids["anna"] = anna.id
    ids["coordinator"] = coordinator.id
    return ids
