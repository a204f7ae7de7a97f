"""Reminders for considering/pursuing calls, 14 and 3 days before the deadline, told once."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from followup_seed import add_call, decide
from sqlmodel import select

from followup.reminders import Candidate, due_reminders, reminder_section
from storage.models import Announcement, Subscriber

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday 07:00 in Stockholm


def cand(call_id=1, status="pursuing", days=14, hour=16):
    deadline = (NOW + timedelta(days=days)).replace(hour=hour)
    return Candidate(call_id, "utbildning", status, deadline)


def due(candidates, told=frozenset(), now=NOW):
    return due_reminders(candidates=candidates, thresholds=[14, 3], told=set(told), now=now, tz=TZ)


@pytest.mark.parametrize(
    "days,threshold",
    [(15, None), (14, 14), (10, 14), (4, 14), (3, 3), (1, 3), (0, 3)],
)
def test_threshold_by_days_left(days, threshold):
    out = due([cand(days=days)])
    assert [r.threshold for r in out] == ([threshold] if threshold else [])
    if threshold:
        assert out[0].reason == f"reminder:{threshold}"
        assert out[0].days_left == days


def test_only_considering_and_pursuing():
    statuses = ["noted", "considering", "pursuing", "applied", "granted", "rejected", "declined"]
    out = due([cand(call_id=i, status=s, days=10) for i, s in enumerate(statuses)])
    assert [r.status for r in out] == ["considering", "pursuing"]


def test_told_once_per_threshold():
    assert due([cand(days=10)], told={(1, "reminder:14")}) == []
    # At 3 days the next threshold is due even though 14 was told.
    out = due([cand(days=3)], told={(1, "reminder:14")})
    assert [r.reason for r in out] == ["reminder:3"]
    assert due([cand(days=2)], told={(1, "reminder:3")}) == []


def test_passed_or_undated_deadlines_are_skipped():
    passed = Candidate(1, "utbildning", "pursuing", NOW - timedelta(hours=1))
    undated = Candidate(2, "utbildning", "pursuing", None)
    assert due([passed, undated]) == []


def test_days_are_counted_in_stockholm():
    # 23:30 UTC on 6 December is 00:30 on 7 December in Stockholm: 14 days from 23 November.
    deadline = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    out = due([Candidate(1, "utbildning", "pursuing", deadline)])
    assert out[0].days_left == 14
    assert out[0].threshold == 14
    deadline = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 15 days in Stockholm
    assert due([Candidate(1, "utbildning", "pursuing", deadline)]) == []


def test_one_reminder_per_call_sorted_by_deadline():
    out = due(
        [
            cand(call_id=7, days=12),
            Candidate(7, "social", "considering", NOW + timedelta(days=12)),
            cand(call_id=3, days=2),
        ]
    )
    assert [r.call_id for r in out] == [3, 7]


# --- the digest hook against the database ------------------------------------------------


@pytest.fixture
def people(session):
    rep = Subscriber(
        email="rep@lidkoping.se",
        name="Rep",
        department="utbildning",
        role="representative",
        created_at=NOW,
    )
    other = Subscriber(email="soc@lidkoping.se", name="Soc", department="social", created_at=NOW)
    session.add_all([rep, other])
    session.commit()
    return rep, other


def _view(session, sub):
    from notifications.subscribers import view

    return view(session=session, subscriber=sub)


def test_section_for_the_representatives_department(session, followup_config, people):
    rep, other = people
    soon = add_call(
        session, "soon", seen=NOW - timedelta(days=30), deadline=NOW + timedelta(days=10)
    )
    later = add_call(
        session, "late", seen=NOW - timedelta(days=30), deadline=NOW + timedelta(days=40)
    )
    dropped = add_call(
        session, "drop", seen=NOW - timedelta(days=30), deadline=NOW + timedelta(days=5)
    )
    decide(session, soon, "utbildning", NOW - timedelta(days=20), "pursuing")
    decide(session, later, "utbildning", NOW - timedelta(days=20), "considering")
    decide(session, dropped, "utbildning", NOW - timedelta(days=20), "considering")
    decide(
        session, dropped, "utbildning", NOW - timedelta(days=2), "declined", reason="no_capacity"
    )
    session.commit()

    section = reminder_section(session, followup_config, _view(session, rep), NOW)
    assert section is not None
    assert section.title == "Påminnelser"
    assert [e.call_id for e in section.entries] == [soon]
    assert section.announcements == [(soon, "reminder:14")]
    assert section.entries[0].notes[:2] == (
        "Utbildningsförvaltningen: går vidare.",
        "Nytto- och riskanalysen är inte ifylld ännu.",
    )
    assert section.entries[0].days_left == 10
    # Another förvaltning's representative gets nothing.
    assert reminder_section(session, followup_config, _view(session, other), NOW) is None

    # Once the digest has been sent (the ledger records the announcement) it is not repeated...
    session.add(
        Announcement(subscriber_id=rep.id, call_id=soon, reason="reminder:14", created_at=NOW)
    )
    session.commit()
    assert reminder_section(session, followup_config, _view(session, rep), NOW) is None
    # ...until the 3-day threshold.
    section = reminder_section(
        session, followup_config, _view(session, rep), NOW + timedelta(days=7)
    )
    assert section.announcements == [(soon, "reminder:3")]


def test_install_registers_once():
    from followup.reminders import install
    from notifications.digest import EXTRA_SECTIONS

    install()
    install()
    assert EXTRA_SECTIONS.count(reminder_section) == 1


def test_reminders_reach_the_sent_digest_once_per_threshold(
    bevaka, session, followup_config_dir, tmp_path
):
    """End to end through the real CLI: `bevaka digest --send` (outbox, no SMTP host) shows
    the reminder, the ledger records reminder:14, the next week repeats nothing, and the
    3-day reminder comes in the week of the deadline."""
    rep = Subscriber(email="rep@lidkoping.se", name="Rep", department="utbildning", created_at=NOW)
    session.add(rep)
    deadline = datetime(2026, 12, 3, 16, tzinfo=UTC)  # Thursday 17:00 in Stockholm
    call = add_call(
        session,
        "rem",
        seen=NOW - timedelta(days=40),
        deadline=deadline,
        tags=("utbildning",),
        title="Skolutveckling i Europa",
    )
    decide(session, call, "utbildning", NOW - timedelta(days=20), "pursuing")
    session.commit()
    outbox = tmp_path / "var" / "outbox"

    def send(day: str) -> str:
        before = set(outbox.rglob("*.eml")) if outbox.exists() else set()
        bevaka("digest", "--send", "--as-of", day, check=True)
        new = sorted(set(outbox.rglob("*.eml")) - before)
        assert len(new) <= 1
        if not new:
            return ""
        message = email.message_from_bytes(new[0].read_bytes(), policy=email.policy.default)
        return message.get_body(("plain",)).get_content()

    def told():
        session.expire_all()
        rows = session.exec(select(Announcement).where(Announcement.call_id == call)).all()
        return sorted(a.reason for a in rows if a.reason.startswith("reminder:"))

    # The call is also new (first digest) and then within a deadline threshold: it is shown
    # once, and the reminder is a note on that entry rather than a second entry.
    reminded = "Utbildningsförvaltningen: går vidare."
    first = send("2026-11-23")  # 10 days left: the 14-day reminder
    assert reminded in first and first.count("* Skolutveckling i Europa") == 1
    assert "Påminnelser" not in first
    assert told() == ["reminder:14"]
    second = send("2026-11-26")  # same ISO week: the ledger sends nothing twice
    assert reminded not in second
    assert told() == ["reminder:14"]
    third = send("2026-12-01")  # 2 days left: the 3-day reminder
    assert reminded in third and third.count("* Skolutveckling i Europa") == 1
    assert told() == ["reminder:14", "reminder:3"]
