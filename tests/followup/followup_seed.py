"""A year (2026) of seeded follow-up history, written through the real repository functions
with explicit times, plus a config whose needs.yaml names the förvaltningar used here.

What the seed holds (the report test checks these numbers by hand):

calls (kind "call") first seen in 2026 (Europe/Stockholm): c1..c7 = 7
  programmes: ERASMUS 2 (c1, c2), HORIZON 1, LIFE 1, CERV 1, AMIF 1, none 1 (c6)
  förvaltning tags: utbildning 3 (c1, c2, c7), kommunledning 2 (c2, c5),
                    samhallsbyggnad 2 (c3, c4), social 2 (c5, c7); tagged calls 6
  topic tags: klimat 2 (c3, c4)
not counted as surfaced in 2026: c0 (first seen December 2025), c8 (first seen
  2026-12-31 23:30 UTC = 1 January 2027 in Stockholm), n1 (a news item).
decisions (latest per pair at the end of 2026, pairs with a row in 2026):
  c1/utbildning  considering → pursuing → applied 500 000 → granted 450 000
  c2/utbildning  declined no_capacity
  c2/kommunledning noted
  c3/samhallsbyggnad applied 2 000 000 → rejected
  c4/samhallsbyggnad declined no_cofinancing, edited next day to deadline_too_close
  c5/social      declined no_cofinancing
  c5/kommunledning pursuing
  c7/social      applied 300 000 (November 2026); granted 250 000 in February 2027
  c0/kommunledning applied 1 000 000 (December 2025) → granted 800 000 (March 2026)
crawl runs in 2026: eu_portal 10 ok, 1 empty, 1 failed (+1 in 2025, +1 still running);
  vinnova 3 ok, 1 failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from followup.decisions import DecisionInput, record_decision
from storage.models import Tag
from storage.records import CallData
from storage.repo import start_crawl_run, upsert_call

NEEDS_YAML = """\
departments:
  - key: kommunledning
    name: Kommunledningsförvaltningen
    needs:
      - name: Internationellt samarbete
        any: [twinning]
  - key: utbildning
    name: Utbildningsförvaltningen
    needs:
      - name: Skola
        any: [skola, school]
  - key: samhallsbyggnad
    name: Samhällsbyggnadsförvaltningen
    needs:
      - name: Miljö
        any: [miljö, environment]
  - key: social
    name: Socialförvaltningen
    needs:
      - name: Omsorg
        any: [omsorg, social care]
topics:
  - key: klimat
    name: Klimat och miljö
    needs:
      - name: Klimat
        any: [klimat, climate]
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def add_call(
    session,
    key: str,
    *,
    seen: datetime,
    programme: str | None = None,
    deadline: datetime | None = None,
    kind: str = "call",
    tags: tuple[str, ...] = (),
    topics: tuple[str, ...] = (),
    title: str | None = None,
) -> int:
    data = CallData(
        source="eu_portal",
        external_id=key,
        url=f"https://example.org/calls/{key}",
        title=title or f"Utlysning {key}",
        programme=programme,
        kind=kind,
        deadlines=[deadline] if deadline else [],
    )
    call = upsert_call(session=session, data=data, now=seen).call
    for dept in tags:
        session.add(Tag(call_id=call.id, key=dept, kind="department", score=5.0, created_at=seen))
    for topic in topics:
        session.add(Tag(call_id=call.id, key=topic, kind="topic", score=4.0, created_at=seen))
    session.flush()
    return call.id


def decide(
    session,
    call_id: int,
    department: str,
    when: datetime,
    status: str,
    actor: str = "anna.andersson@lidkoping.se",
    **kw,
) -> None:
    record_decision(
        session=session,
        call_id=call_id,
        department=department,
        data=DecisionInput(status=status, **kw),
        actor=actor,
        now=when,
    )


def add_runs(session, source: str, year_month_day: list[tuple[int, int, int]], outcome: str):
    for y, m, d in year_month_day:
        run = start_crawl_run(session=session, source=source, now=utc(y, m, d, 5))
        run.outcome = outcome
        run.finished_at = utc(y, m, d, 5, 10)
        session.add(run)
    session.flush()


@dataclass
class SeededYear:
    calls: dict[str, int]


def seed_year(session) -> SeededYear:
    c = {}
    c["c0"] = add_call(
        session, "c0", seen=utc(2025, 12, 20, 8), programme="HORIZON", tags=("kommunledning",)
    )
    c["c1"] = add_call(
        session,
        "c1",
        seen=utc(2026, 1, 15, 8),
        programme="ERASMUS",
        deadline=utc(2026, 3, 10, 16),
        tags=("utbildning",),
    )
    c["c2"] = add_call(
        session,
        "c2",
        seen=utc(2026, 2, 3, 8),
        programme="ERASMUS",
        tags=("utbildning", "kommunledning"),
    )
    c["c3"] = add_call(
        session,
        "c3",
        seen=utc(2026, 3, 2, 8),
        programme="HORIZON",
        tags=("samhallsbyggnad",),
        topics=("klimat",),
    )
    c["c4"] = add_call(
        session,
        "c4",
        seen=utc(2026, 4, 6, 8),
        programme="LIFE",
        tags=("samhallsbyggnad",),
        topics=("klimat",),
    )
    c["c5"] = add_call(
        session, "c5", seen=utc(2026, 5, 4, 8), programme="CERV", tags=("kommunledning", "social")
    )
    c["c6"] = add_call(session, "c6", seen=utc(2026, 6, 1, 8))
    c["c7"] = add_call(
        session, "c7", seen=utc(2026, 9, 7, 8), programme="AMIF", tags=("social", "utbildning")
    )
    c["c8"] = add_call(
        session, "c8", seen=utc(2026, 12, 31, 23, 30), programme="ERASMUS", tags=("utbildning",)
    )
    c["n1"] = add_call(
        session,
        "n1",
        seen=utc(2026, 5, 5, 8),
        programme="ERASMUS",
        kind="news",
        tags=("utbildning",),
    )

    decide(
        session, c["c0"], "kommunledning", utc(2025, 12, 28, 9), "applied", applied_sek=1_000_000
    )
    decide(session, c["c0"], "kommunledning", utc(2026, 3, 1, 9), "granted", granted_sek=800_000)
    decide(session, c["c1"], "utbildning", utc(2026, 1, 20, 9), "considering")
    decide(session, c["c1"], "utbildning", utc(2026, 2, 1, 9), "pursuing", partners="Skara")
    decide(session, c["c1"], "utbildning", utc(2026, 3, 5, 9), "applied", applied_sek=500_000)
    decide(session, c["c1"], "utbildning", utc(2026, 6, 10, 9), "granted", granted_sek=450_000)
    decide(session, c["c2"], "utbildning", utc(2026, 2, 20, 9), "declined", reason="no_capacity")
    decide(session, c["c2"], "kommunledning", utc(2026, 2, 21, 9), "noted")
    decide(
        session, c["c3"], "samhallsbyggnad", utc(2026, 4, 1, 9), "applied", applied_sek=2_000_000
    )
    decide(session, c["c3"], "samhallsbyggnad", utc(2026, 10, 1, 9), "rejected")
    decide(
        session, c["c4"], "samhallsbyggnad", utc(2026, 5, 4, 9), "declined", reason="no_cofinancing"
    )
    decide(
        session,
        c["c4"],
        "samhallsbyggnad",
        utc(2026, 5, 5, 9),
        "declined",
        reason="deadline_too_close",
    )
    decide(session, c["c5"], "social", utc(2026, 6, 2, 9), "declined", reason="no_cofinancing")
    decide(session, c["c5"], "kommunledning", utc(2026, 6, 3, 9), "pursuing")
    decide(session, c["c7"], "social", utc(2026, 11, 2, 9), "applied", applied_sek=300_000)
    decide(session, c["c7"], "social", utc(2027, 2, 1, 9), "granted", granted_sek=250_000)

    add_runs(session, "eu_portal", [(2026, m, 5) for m in range(1, 11)], "ok")
    add_runs(session, "eu_portal", [(2026, 11, 5)], "empty")
    add_runs(session, "eu_portal", [(2026, 12, 5)], "failed")
    add_runs(session, "eu_portal", [(2025, 12, 5)], "failed")
    start_crawl_run(session=session, source="eu_portal", now=utc(2026, 12, 20, 5))  # running
    add_runs(session, "vinnova", [(2026, 2, 2), (2026, 4, 2), (2026, 6, 2)], "ok")
    add_runs(session, "vinnova", [(2026, 8, 2)], "failed")
    session.commit()
    return SeededYear(calls=c)
