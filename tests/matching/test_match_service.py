"""run_match against a real database: stale detection, rules changes, dry runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from config.schema import NeedsFile
from matching.service import run_match
from storage.models import MatchState, Tag
from storage.records import CallData
from storage.repo import upsert_call

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

RULES = {
    "departments": [
        {
            "key": "barn-och-skola",
            "name": "Barn- och skolförvaltningen",
            "needs": [{"name": "Skola", "any": ["skola", "schools"]}],
        },
        {
            "key": "miljo-och-bygg",
            "name": "Miljö- och byggförvaltningen",
            "needs": [{"name": "Klimatanpassning", "any": ["klimatanpassning"]}],
        },
    ],
    "topics": [
        {
            "key": "klimat-och-miljo",
            "name": "Klimat och miljö",
            "needs": [{"name": "Klimat", "any": ["klimat*", "climate"]}],
        }
    ],
}


def _needs(**changes) -> NeedsFile:
    data = {**RULES, **changes}
    return NeedsFile.model_validate(data)


def _add(session, external_id, title, **kw):
    data = CallData(
        source="manual",
        external_id=external_id,
        url=f"https://example.org/{external_id}",
        title=title,
        **kw,
    )
    return upsert_call(session=session, data=data, now=NOW).call


def _tags(session) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for tag in session.exec(select(Tag)):
        out.setdefault(tag.call_id, set()).add(tag.key)
    return out


def test_tags_new_calls_with_reasons_and_skips_up_to_date_ones(session):
    school = _add(session, "a", "Utveckling av grundskolan")
    climate = _add(session, "b", "Klimatanpassning i kommunen", kind="news")
    closed = _add(
        session, "c", "Schools of tomorrow", deadlines=[NOW - timedelta(days=3)], language="en"
    )
    nothing = _add(session, "d", "Quantum sensing")
    report = run_match(session=session, needs=_needs(), now=NOW)
    session.commit()
    assert report.checked == 4 and report.up_to_date == 0 and report.tagged == 3
    assert _tags(session) == {
        school.id: {"barn-och-skola"},
        climate.id: {"miljo-och-bygg", "klimat-och-miljo"},  # news items are tagged too
        closed.id: {"barn-och-skola"},  # so are closed calls
    }
    tag = session.exec(select(Tag).where(Tag.call_id == school.id)).one()
    assert tag.kind == "department" and tag.score == 3.0 and tag.created_at is not None
    assert tag.reasons == [
        {
            "need": "Skola",
            "term": "skola",
            "field": "title",
            "match": "grundskolan",
            "snippet": "Utveckling av grundskolan",
            "weight": 3.0,
        }
    ]
    states = session.exec(select(MatchState)).all()
    assert {s.call_id for s in states} == {school.id, climate.id, closed.id, nothing.id}
    assert {s.rules_hash for s in states} == {report.rules_hash}

    again = run_match(session=session, needs=_needs(), now=NOW)
    assert (again.checked, again.up_to_date, again.changes) == (0, 4, [])

    everything = run_match(session=session, needs=_needs(), now=NOW, all_calls=True)
    assert (everything.checked, everything.added, everything.removed) == (4, 0, 0)


def test_a_changed_call_is_retagged(session):
    call = _add(session, "a", "Utveckling av grundskolan")
    run_match(session=session, needs=_needs(), now=NOW)
    upsert_call(
        session=session,
        data=CallData(
            source="manual",
            external_id="a",
            url="https://example.org/a",
            title="Klimatanpassning för parker",
        ),
        now=NOW + timedelta(days=1),
    )
    report = run_match(session=session, needs=_needs(), now=NOW + timedelta(days=1))
    assert report.checked == 1
    [change] = report.changes
    assert (change.call_id, change.added, change.removed) == (
        call.id,
        ["klimat-och-miljo", "miljo-och-bygg"],
        ["barn-och-skola"],
    )
    assert _tags(session) == {call.id: {"klimat-och-miljo", "miljo-och-bygg"}}


def test_dry_run_after_a_rules_change_lists_exact_changes_and_stores_nothing(session):
    school = _add(session, "a", "Utveckling av grundskolan")
    _add(session, "b", "Klimatanpassning i kommunen")
    preschool = _add(session, "c", "Ny förskoleklass")
    first = run_match(session=session, needs=_needs(), now=NOW)
    session.commit()
    before_tags = _tags(session)
    before_states = {(s.call_id, s.rules_hash) for s in session.exec(select(MatchState))}

    # The edit: schools only through "grundskola*", and a new förvaltning for preschools.
    edited = _needs(
        departments=[
            {
                "key": "barn-och-skola",
                "name": "Barn- och skolförvaltningen",
                "needs": [{"name": "Förskola", "any": ["förskol*"]}],
            },
            RULES["departments"][1],
        ]
    )
    preview = run_match(session=session, needs=edited, now=NOW, dry_run=True)
    assert preview.rules_hash != first.rules_hash
    assert preview.checked == 3  # a new rules hash makes every call stale
    changes = {c.call_id: (c.added, c.removed) for c in preview.changes}
    third = preschool.id
    assert third not in before_tags
    assert changes == {school.id: ([], ["barn-och-skola"]), third: (["barn-och-skola"], [])}
    assert (preview.added, preview.removed) == (1, 1)
    session.commit()
    assert _tags(session) == before_tags
    assert {(s.call_id, s.rules_hash) for s in session.exec(select(MatchState))} == before_states

    applied = run_match(session=session, needs=edited, now=NOW)
    assert {c.call_id: (c.added, c.removed) for c in applied.changes} == changes
    assert _tags(session)[third] == {"barn-och-skola"}
    assert school.id not in _tags(session)


def test_the_stored_call_s_regions_address_and_kind_reach_the_rules(session):
    needs = _needs(
        programme_defaults=[
            {"name": "Skolverket", "funders": ["skolverket.se"], "tags": ["barn-och-skola"]}
        ],
        applicants={
            "only": [
                {
                    "name": "news-without-opportunity",
                    "label": "a news item that announces nothing",
                    "kinds": ["news"],
                    "when_missing": True,
                    "any": ["bidrag"],
                }
            ]
        },
        geography={"home": ["Västra Götaland"], "other": ["Skåne"]},
    )
    elsewhere = _add(session, "s", "Klimatanpassning", regions=["Skåne"])
    ours = _add(session, "v", "Klimatanpassning", regions=["Västra Götaland"])
    news = _add(session, "n", "Klimatanpassning i kommunen", kind="news")
    funder = _add(session, "f", "Statsbidrag")
    funder.url = "https://www.skolverket.se/statsbidrag"
    session.add(funder)
    session.flush()
    run_match(session=session, needs=needs, now=NOW)
    tags = _tags(session)
    assert elsewhere.id not in tags and news.id not in tags
    assert tags[ours.id] == {"miljo-och-bygg", "klimat-och-miljo"}
    assert tags[funder.id] == {"barn-och-skola"}
    reasons = session.exec(select(Tag).where(Tag.call_id == ours.id)).first().reasons
    assert {"need": "Område", "match": "västra götaland"}.items() <= reasons[-1].items()
