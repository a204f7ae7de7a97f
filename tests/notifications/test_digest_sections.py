"""Which call goes where in a digest, on the example world in the real database: one entry
per call, "Även omnämnd av" only for pages not shown on their own, news items that announce
something of their own, "har öppnat", and the week's decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from followup.decisions import DecisionInput, record_decision
from notifications.digest import build_digest
from notifications.example import EXAMPLE_NOW as NOW
from notifications.ledger import run_digest
from storage.models import Call, CallLink, Subscriber, Tag


def _entries(digest) -> list[tuple[str, str]]:
    return [(s.key, e.title) for s in digest.sections for e in s.entries]


def _add(session, key: str, **kw) -> Call:
    call = Call(
        source=kw.pop("source", "vinnova"),
        external_id=key,
        url=f"https://example.se/{key}",
        first_seen_at=NOW - timedelta(days=1),
        last_seen_at=NOW,
        updated_at=NOW,
        **kw,
    )
    session.add(call)
    session.flush()
    session.add(
        Tag(call_id=call.id, key="utbildning", kind="department", reasons=[], created_at=NOW)
    )
    return call


def test_a_page_shown_on_its_own_is_not_repeated_as_a_mention(session, world, make_config):
    swedish = _add(
        session, "uhr-erasmus", title="UHR: Erasmus+ skolsamarbeten", kind="call", status="open"
    )
    session.add(
        CallLink(
            from_call_id=swedish.id,
            to_call_id=world["erasmus"],
            reason="identifier",
            created_at=NOW,
        )
    )
    session.commit()
    anna = session.get(Subscriber, world["anna"])
    digest = build_digest(session=session, config=make_config(), subscriber=anna, now=NOW)
    titles = [t for _, t in _entries(digest)]
    assert len(titles) == len(set(titles))  # each call once
    assert "UHR: Erasmus+ skolsamarbeten" in titles
    [erasmus] = [e for s in digest.sections for e in s.entries if e.call_id == world["erasmus"]]
    assert [m.title for m in erasmus.mentions] == ["UHR: Nu kan skolor söka Erasmus+ för 2027"]


def test_a_news_item_that_mentions_no_call_gets_its_own_entry(session, world, make_config):
    _add(
        session,
        "esf-news",
        title="ESF-rådet: Kommande utlysning om digital kompetens",
        kind="news",
        status="open",
    )
    session.commit()
    anna = session.get(Subscriber, world["anna"])
    digest = build_digest(session=session, config=make_config(), subscriber=anna, now=NOW)
    assert ("news", "ESF-rådet: Kommande utlysning om digital kompetens") in _entries(digest)
    # the news item that mentions the Erasmus call stays under it
    assert all(t != "UHR: Nu kan skolor söka Erasmus+ för 2027" for _, t in _entries(digest))


def test_a_forthcoming_call_returns_as_opened(session, world, engine, make_config):
    config = make_config()
    coordinator = world["coordinator"]
    run_digest(config=config, engine=engine, now=NOW, subscriber_email="international@lidkoping.se")
    interreg = session.exec(select(Call).where(Call.external_id == "interreg-oks-2027")).one()
    # 2 February 2027: it opened yesterday; the stored status is still "forthcoming"
    later = datetime(2027, 2, 2, 7, tzinfo=UTC)
    sub = session.get(Subscriber, coordinator)
    digest = build_digest(session=session, config=config, subscriber=sub, now=later)
    [entry] = [
        e for s in digest.sections if s.key == "new" for e in s.entries if e.call_id == interreg.id
    ]
    assert entry.status == "open" and "Har öppnat för ansökningar." in entry.notes


def test_the_weeks_decisions_are_listed_once(session, world, engine, make_config):
    config = make_config()
    record_decision(
        session=session,
        call_id=world["erasmus"],
        department="utbildning",
        data=DecisionInput(status="declined", reason="no_cofinancing"),
        actor="anna.berg@lidkoping.se",
        now=NOW - timedelta(days=2),
    )
    session.commit()
    coordinator = session.get(Subscriber, world["coordinator"])
    digest = build_digest(session=session, config=config, subscriber=coordinator, now=NOW)
    [section] = [s for s in digest.sections if s.key == "decisions"]
    assert section.lines == [
        "Erasmus+: Samarbetspartnerskap inom skolområdet – Utbildningsförvaltningen: "
        "Inte aktuellt – saknar medfinansiering (anna.berg@lidkoping.se, 21 november 2026)"
    ]
    [erasmus] = [e for s in digest.sections for e in s.entries if e.call_id == world["erasmus"]]
    assert erasmus.decisions == (
        "Utbildningsförvaltningen: Inte aktuellt – saknar medfinansiering (21 november 2026)",
    )
    run_digest(config=config, engine=engine, now=NOW, subscriber_email="international@lidkoping.se")
    again = build_digest(
        session=session, config=config, subscriber=coordinator, now=NOW + timedelta(days=1)
    )
    assert again is None or all(s.key != "decisions" for s in again.sections)
