"""Reminders in the weekly digest: calls a förvaltning is considering or pursuing get a
"Påminnelser" section 14 and 3 days before the deadline (``digest.reminder_days``).

Each reminder is told once per threshold: the section lists ``(call_id, "reminder:14")``
announcements, which the digest ledger records in the Announcement table once the digest is
really sent. :func:`due_reminders` is the pure rule; :func:`reminder_section` is the hook in
``notifications.digest.EXTRA_SECTIONS`` (installed by :func:`install`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from config.loader import Config
from followup.analysis import latest_analysis
from followup.decisions import REMINDER_STATUSES, STATUSES, current_decisions
from notifications.formatting import days_left
from storage.models import Announcement, Call

REASON_PREFIX = "reminder:"


@dataclass(frozen=True)
class Candidate:
    """A call a förvaltning is considering or pursuing, with its next deadline."""

    call_id: int
    department: str
    status: str
    deadline: datetime | None


@dataclass(frozen=True)
class Reminder:
    call_id: int
    department: str
    status: str
    deadline: datetime
    days_left: int
    threshold: int

    @property
    def reason(self) -> str:
        return f"{REASON_PREFIX}{self.threshold}"


def due_reminders(
    *,
    candidates: Iterable[Candidate],
    thresholds: Iterable[int],
    told: set[tuple[int, str]],
    now: datetime,
    tz: ZoneInfo,
) -> list[Reminder]:
    """The reminders to give now: for each candidate whose deadline is today or later and
    within a threshold (calendar days in ``tz``), the smallest such threshold, unless
    ``(call_id, "reminder:<threshold>")`` is in ``told``. One reminder per call (the first
    förvaltning in the input wins when several follow the same call). Sorted by deadline."""
    limits = sorted({int(t) for t in thresholds if int(t) >= 0})
    out: dict[int, Reminder] = {}
    for c in candidates:
        if c.status not in REMINDER_STATUSES or c.deadline is None or c.deadline < now:
            continue
        left = days_left(c.deadline, now, tz)
        within = [t for t in limits if left <= t]
        if not within:
            continue
        threshold = within[0]
        if (c.call_id, f"{REASON_PREFIX}{threshold}") in told or c.call_id in out:
            continue
        out[c.call_id] = Reminder(c.call_id, c.department, c.status, c.deadline, left, threshold)
    return sorted(out.values(), key=lambda r: (r.deadline, r.call_id))


def candidates_for(
    *, session: Session, department: str | None
) -> tuple[list[Candidate], dict[int, Call]]:
    """Current considering/pursuing decisions (of one förvaltning, or all when None) with
    their calls."""
    decisions = current_decisions(
        session=session, department=department, statuses=REMINDER_STATUSES
    )
    ids = sorted({d.call_id for d in decisions})
    calls = (
        {c.id: c for c in session.exec(select(Call).where(col(Call.id).in_(ids))).all()}
        if ids
        else {}
    )
    out = [
        Candidate(d.call_id, d.department, d.status, calls[d.call_id].next_deadline)
        for d in decisions
        if d.call_id in calls and calls[d.call_id].status != "closed"
    ]
    return out, calls


def told_reminders(*, session: Session, subscriber_id: int, call_ids: list[int]) -> set:
    if not call_ids:
        return set()
    rows = session.exec(
        select(Announcement.call_id, Announcement.reason).where(
            Announcement.subscriber_id == subscriber_id,
            col(Announcement.call_id).in_(call_ids),
            col(Announcement.reason).startswith(REASON_PREFIX),
        )
    ).all()
    return {(call_id, reason) for call_id, reason in rows}


def decision_url(config: Config, subscriber: Any, call_id: int, now: datetime) -> str | None:
    """The representative's own link to the decision page of a call (their "prefs" token,
    stamped with ``now``), or None without public_url or secret key."""
    from notifications.tokens import make_token

    settings = config.settings
    if not (settings.public_url and settings.secret_key):
        return None
    token = make_token(
        settings.secret_key,
        purpose="prefs",
        subscriber_id=subscriber.id,
        version=subscriber.token_version,
        now=now,
    )
    return f"{settings.public_url}/utlysning/{call_id}/beslut/{token}"


def reminder_section(session: Session, config: Config, subscriber: Any, now: datetime):
    """The digest hook: a "Påminnelser" section for a representative (their förvaltning's
    calls) or the coordinator (every förvaltning's), or None when nothing is due."""
    from notifications.digest import Section, make_entry

    if subscriber.is_coordinator:
        department = None
    elif subscriber.department:
        department = subscriber.department
    else:
        return None
    candidates, calls = candidates_for(session=session, department=department)
    if not candidates:
        return None
    tz = config.settings.tz
    told = told_reminders(session=session, subscriber_id=subscriber.id, call_ids=sorted(calls))
    due = due_reminders(
        candidates=candidates,
        thresholds=config.settings.digest.reminder_days,
        told=told,
        now=now,
        tz=tz,
    )
    if not due:
        return None
    names = {d.key: d.name for d in config.needs.departments}
    section = Section(
        key="reminders",
        title="Påminnelser",
        intro="Utlysningar som förvaltningen överväger eller går vidare med och där sista "
        "ansökningsdag närmar sig.",
    )
    for r in due:
        notes = [f"{names.get(r.department, r.department)}: {STATUSES[r.status].lower()}."]
        if r.status == "pursuing" and not latest_analysis(
            session=session, call_id=r.call_id, department=r.department
        ):
            notes.append("Nytto- och riskanalysen är inte ifylld ännu.")
        link = decision_url(config, subscriber, r.call_id, now)
        if link:
            notes.append(f"Uppdatera beslutet: {link}")
        section.entries.append(
            make_entry(config=config, call=calls[r.call_id], now=now, notes=tuple(notes))
        )
        section.announcements.append((r.call_id, r.reason))
    return section


def install() -> None:
    """Register :func:`reminder_section` in the digest's EXTRA_SECTIONS (once)."""
    from notifications.digest import EXTRA_SECTIONS

    if reminder_section not in EXTRA_SECTIONS:
        EXTRA_SECTIONS.append(reminder_section)
