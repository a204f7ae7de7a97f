"""Decision repository: validation, append-only history, "current" = latest per pair."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from followup_seed import add_call
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from followup.decisions import (
    REASONS,
    STATUSES,
    DecisionError,
    DecisionInput,
    current_decision,
    current_decisions,
    decision_history,
    latest_per_pair,
    parse_sek,
    record_decision,
    validate_decision,
)
from storage.models import Decision

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
DEPTS = {"utbildning", "social"}


def test_vocabularies_have_swedish_labels():
    assert list(STATUSES) == [
        "noted",
        "considering",
        "pursuing",
        "applied",
        "granted",
        "rejected",
        "declined",
    ]
    assert list(REASONS) == [
        "no_cofinancing",
        "no_capacity",
        "not_eligible",
        "not_relevant",
        "deadline_too_close",
        "other",
    ]
    assert STATUSES["declined"] == "Avstår"
    assert REASONS["no_cofinancing"] == "Saknar medfinansiering"


@pytest.mark.parametrize(
    "data,message",
    [
        (DecisionInput(status="maybe"), "unknown status"),
        (DecisionInput(status="declined"), "needs a reason"),
        (DecisionInput(status="declined", reason="bored"), "unknown reason"),
        (DecisionInput(status="applied", reason="other"), "only recorded with status 'declined'"),
        (DecisionInput(status="applied", applied_sek=-1), "between 0"),
        (DecisionInput(status="applied", granted_sek=5), "only recorded with status 'granted'"),
        (DecisionInput(status="noted", applied_sek=5), "does not fit status 'noted'"),
    ],
)
def test_validation_errors(data, message):
    with pytest.raises(DecisionError, match=message) as info:
        validate_decision(data, department="utbildning", known_departments=DEPTS)
    assert info.value.sv  # a Swedish message for the web page too


def test_unknown_department_is_refused():
    with pytest.raises(DecisionError, match="unknown department 'ekonomi'"):
        validate_decision(
            DecisionInput(status="noted"), department="ekonomi", known_departments=DEPTS
        )


def test_record_is_append_only_and_current_is_latest(session):
    call = add_call(session, "d1", seen=T0)
    first = record_decision(
        session=session,
        call_id=call,
        department="utbildning",
        data=DecisionInput(status="applied", applied_sek=500_000, partners="Skara, Vara"),
        actor="Anna@Lidkoping.se",
        now=T0,
        known_departments=DEPTS,
    )
    second = record_decision(
        session=session,
        call_id=call,
        department="utbildning",
        data=DecisionInput(status="granted", granted_sek=400_000, note="Beviljat i juni"),
        actor="bo@lidkoping.se",
        now=T0 + timedelta(days=90),
    )
    record_decision(
        session=session,
        call_id=call,
        department="social",
        data=DecisionInput(status="declined", reason="not_relevant"),
        actor="cia@lidkoping.se",
        now=T0 + timedelta(days=1),
    )
    session.commit()
    assert first.id != second.id
    all_rows = session.exec(select(Decision)).all()
    assert len(all_rows) == 3
    # The first row is untouched.
    session.expire_all()
    assert session.get(Decision, first.id).status == "applied"
    assert session.get(Decision, first.id).actor == "anna@lidkoping.se"
    now = current_decision(session=session, call_id=call, department="utbildning")
    assert now.id == second.id
    assert now.amount_applied_sek == 500_000  # carried over
    assert now.partners == "Skara, Vara"  # carried over
    assert now.amount_granted_sek == 400_000
    assert [d.status for d in decision_history(session=session, call_id=call)] == [
        "applied",
        "declined",
        "granted",
    ]
    current = current_decisions(session=session, call_ids=[call])
    assert [(d.department, d.status) for d in current] == [
        ("social", "declined"),
        ("utbildning", "granted"),
    ]
    # As of a moment in between, the earlier row is the current one.
    before = current_decisions(session=session, call_ids=[call], until=T0 + timedelta(days=2))
    assert [(d.department, d.status) for d in before] == [
        ("social", "declined"),
        ("utbildning", "applied"),
    ]
    assert current_decisions(session=session, statuses=["granted"])[0].id == second.id


def test_same_timestamp_later_row_wins(session):
    call = add_call(session, "d2", seen=T0)
    for status in ("considering", "pursuing"):
        record_decision(
            session=session,
            call_id=call,
            department="social",
            data=DecisionInput(status=status),
            actor="a@lidkoping.se",
            now=T0,
        )
    assert current_decision(session=session, call_id=call, department="social").status == (
        "pursuing"
    )


def test_unknown_call_and_bad_actor(session):
    with pytest.raises(DecisionError, match="no call with id 4242"):
        record_decision(
            session=session,
            call_id=4242,
            department="social",
            data=DecisionInput(status="noted"),
            actor="a@lidkoping.se",
            now=T0,
        )
    call = add_call(session, "d3", seen=T0)
    with pytest.raises(DecisionError, match="not an e-mail"):
        record_decision(
            session=session,
            call_id=call,
            department="social",
            data=DecisionInput(status="noted"),
            actor="Anna <a@x.se>\r\nBcc: evil@x.se",
            now=T0,
        )


@pytest.mark.parametrize(
    "text,value",
    [
        ("500 000", 500_000.0),
        ("500000 kr", 500_000.0),
        ("1\u00a0250\u00a0000,50", 1_250_000.5),
        ("", None),
        (None, None),
    ],
)
def test_parse_sek(text, value):
    assert parse_sek(text) == value


@pytest.mark.parametrize("text", ["mycket", "-5", "1e9", "5 000 €"])
def test_parse_sek_refuses(text):
    with pytest.raises(DecisionError):
        parse_sek(text)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 3),
            st.sampled_from(["utbildning", "social"]),
            st.sampled_from(list(STATUSES)),
            st.integers(0, 5),
        ),
        max_size=25,
    )
)
def test_latest_per_pair_is_the_last_appended(events):
    """Whatever the order rows are read in, the current decision of a pair is the row with
    the latest time, and among equal times the one appended last (highest id)."""
    rows = [
        Decision(
            id=i + 1,
            call_id=call,
            department=dept,
            status=status,
            actor="a@lidkoping.se",
            created_at=T0 + timedelta(days=day),
        )
        for i, (call, dept, status, day) in enumerate(events)
    ]
    expected = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        expected[(row.call_id, row.department)] = row.id
    for order in (rows, list(reversed(rows))):
        got = {k: v.id for k, v in latest_per_pair(order).items()}
        assert got == expected
