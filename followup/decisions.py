"""Decisions per call and förvaltning: an append-only history.

Every change adds a ``Decision`` row (who and when); nothing is updated or deleted. The
*current* decision of a förvaltning on a call is the latest row for that (call, department).
Repository functions are keyword-only, take the session and never commit.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.models import Call, Decision

# Keys are English (CLI, storage); labels are what users read.
STATUSES: dict[str, str] = {
    "noted": "Noterad",
    "considering": "Övervägs",
    "pursuing": "Går vidare",
    "applied": "Ansökan inlämnad",
    "granted": "Beviljad",
    "rejected": "Avslag",
    "declined": "Avstår",
}
REASONS: dict[str, str] = {
    "no_cofinancing": "Saknar medfinansiering",
    "no_capacity": "Saknar kapacitet",
    "not_eligible": "Inte behörig att söka",
    "not_relevant": "Inte relevant",
    "deadline_too_close": "För kort tid till sista ansökningsdag",
    "other": "Annat skäl",
}
# What a representative chooses from the digest or the call page (key in the link → status).
CHOICES: dict[str, tuple[str, str]] = {
    "intressant": ("noted", "Intressant"),
    "undersoker": ("considering", "Vi undersöker"),
    "soker": ("pursuing", "Vi söker"),
    "inte-aktuellt": ("declined", "Inte aktuellt"),
}
# Statuses that mean an application was submitted (whatever came of it).
APPLIED_STATUSES = ("applied", "granted", "rejected")
# Statuses for which the benefit and risk analysis is due.
ANALYSIS_STATUSES = ("pursuing", "applied", "granted", "rejected")
# Statuses that get deadline reminders in the digest.
REMINDER_STATUSES = ("considering", "pursuing")

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
MAX_SEK = 10_000_000_000


class DecisionError(ValueError):
    """A decision that cannot be recorded. ``str(exc)`` says why in English (CLI);
    ``exc.sv`` says it in Swedish (web pages)."""

    def __init__(self, message: str, sv: str = "Uppgifterna kunde inte sparas.") -> None:
        super().__init__(message)
        self.sv = sv


@dataclass(frozen=True)
class DecisionInput:
    """What a person asks to record; validated by :func:`validate_decision`."""

    status: str
    reason: str | None = None
    applied_sek: float | None = None
    granted_sek: float | None = None
    partners: str | None = None
    note: str | None = None


def _clean_text(value: str | None, limit: int = 4000) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[:limit] or None


def validate_decision(
    data: DecisionInput, *, department: str, known_departments: Collection[str] | None = None
) -> DecisionInput:
    """Check keys, status, reason and amounts; returns the cleaned input or raises
    :class:`DecisionError` naming the bad value and the allowed ones."""
    if known_departments is not None and department not in known_departments:
        allowed = ", ".join(sorted(known_departments)) or "(none configured in needs.yaml)"
        raise DecisionError(
            f"unknown department {department!r}; use one of {allowed}", "Okänd förvaltning."
        )
    if data.status not in STATUSES:
        raise DecisionError(
            f"unknown status {data.status!r}; use one of {', '.join(STATUSES)}", "Välj ett beslut."
        )
    reason = data.reason or None
    if data.status == "declined":
        if reason is None:
            raise DecisionError(
                f"status 'declined' needs a reason; use one of {', '.join(REASONS)}",
                "Ange varför förvaltningen avstår.",
            )
        if reason not in REASONS:
            raise DecisionError(
                f"unknown reason {reason!r}; use one of {', '.join(REASONS)}", "Okänt skäl."
            )
    elif reason is not None:
        raise DecisionError(
            "a reason is only recorded with status 'declined'",
            "Ett skäl anges bara när förvaltningen avstår.",
        )
    for name, amount in (("applied", data.applied_sek), ("granted", data.granted_sek)):
        if amount is not None and not (0 <= amount <= MAX_SEK):
            raise DecisionError(
                f"the {name} amount must be between 0 and {MAX_SEK} SEK",
                "Beloppet måste vara ett positivt tal i kronor.",
            )
    if data.granted_sek is not None and data.status != "granted":
        raise DecisionError(
            "a granted amount is only recorded with status 'granted'",
            "Beviljat belopp anges bara när ansökan är beviljad.",
        )
    if data.applied_sek is not None and data.status in ("noted", "declined"):
        raise DecisionError(
            f"an applied amount does not fit status {data.status!r}",
            "Sökt belopp passar inte med det beslutet.",
        )
    return DecisionInput(
        status=data.status,
        reason=reason,
        applied_sek=data.applied_sek,
        granted_sek=data.granted_sek,
        partners=_clean_text(data.partners, 2000),
        note=_clean_text(data.note),
    )


def validate_actor(actor: str) -> str:
    actor = actor.strip()
    if not _EMAIL.match(actor) or len(actor) > 320:
        raise DecisionError(f"{actor!r} is not an e-mail address (--by)", "Ogiltig e-postadress.")
    return actor.lower()


def record_decision(
    *,
    session: Session,
    call_id: int,
    department: str,
    data: DecisionInput,
    actor: str,
    now: datetime,
    known_departments: Collection[str] | None = None,
) -> Decision:
    """Append a decision row. Amounts applied for and partners carry over from the previous
    row of the same call and förvaltning when not given (so "applied" → "granted" keeps
    the amount applied for). Raises :class:`DecisionError` for bad input or an unknown call."""
    clean = validate_decision(data, department=department, known_departments=known_departments)
    actor = validate_actor(actor)
    if session.get(Call, call_id) is None:
        raise DecisionError(f"no call with id {call_id}", "Utlysningen finns inte.")
    previous = current_decision(session=session, call_id=call_id, department=department)
    applied = clean.applied_sek
    partners = clean.partners
    if previous is not None:
        if applied is None and clean.status in APPLIED_STATUSES:
            applied = previous.amount_applied_sek
        if partners is None and clean.status != "declined":
            partners = previous.partners
    row = Decision(
        call_id=call_id,
        department=department,
        status=clean.status,
        reason=clean.reason,
        note=clean.note,
        amount_applied_sek=applied,
        amount_granted_sek=clean.granted_sek,
        partners=partners,
        actor=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def decision_history(
    *, session: Session, call_id: int | None = None, department: str | None = None
) -> list[Decision]:
    """Every decision row, oldest first (optionally for one call and/or förvaltning)."""
    query = select(Decision)
    if call_id is not None:
        query = query.where(Decision.call_id == call_id)
    if department is not None:
        query = query.where(Decision.department == department)
    query = query.order_by(col(Decision.created_at), col(Decision.id))
    return list(session.exec(query).all())


def latest_per_pair(rows: Iterable[Decision]) -> dict[tuple[int, str], Decision]:
    """The latest row per (call, department) among ``rows`` (by time, then id)."""
    out: dict[tuple[int, str], Decision] = {}
    for row in rows:
        key = (row.call_id, row.department)
        best = out.get(key)
        if best is None or (row.created_at, row.id or 0) >= (best.created_at, best.id or 0):
            out[key] = row
    return out


def current_decisions(
    *,
    session: Session,
    call_ids: Iterable[int] | None = None,
    department: str | None = None,
    statuses: Collection[str] | None = None,
    until: datetime | None = None,
) -> list[Decision]:
    """The current decision per (call, department): the latest row (as of ``until`` when
    given). ``statuses`` filters on the current status (not on older rows)."""
    query = select(Decision)
    if call_ids is not None:
        ids = list(call_ids)
        if not ids:
            return []
        query = query.where(col(Decision.call_id).in_(ids))
    if department is not None:
        query = query.where(Decision.department == department)
    if until is not None:
        query = query.where(col(Decision.created_at) < until)
    latest = latest_per_pair(session.exec(query).all())
    rows = sorted(latest.values(), key=lambda d: (d.call_id, d.department))
    if statuses is not None:
        rows = [d for d in rows if d.status in statuses]
    return rows


def current_decision(*, session: Session, call_id: int, department: str) -> Decision | None:
    rows = current_decisions(session=session, call_ids=[call_id], department=department)
    return rows[0] if rows else None


def decision_json(row: Decision) -> dict[str, Any]:
    """The stable JSON form used by ``bevaka decisions list --format json``."""
    return {
        "id": row.id,
        "call_id": row.call_id,
        "department": row.department,
        "status": row.status,
        "reason": row.reason,
        "applied_sek": row.amount_applied_sek,
        "granted_sek": row.amount_granted_sek,
        "partners": row.partners,
        "note": row.note,
        "by": row.actor,
        "at": row.created_at.isoformat() if row.created_at else None,
    }


def status_label(status: str) -> str:
    """What a reader sees for a status: the words of the choice they clicked ("Vi
    undersöker") for the four choices, else the status label (the key when unknown)."""
    for choice_status, label in CHOICES.values():
        if choice_status == status:
            return label
    return STATUSES.get(status, status)


def decisions_between(
    *, session: Session, start: datetime, end: datetime, department: str | None = None
) -> list[Decision]:
    """Every decision row recorded in [start, end), oldest first (one förvaltning's or all)."""
    query = select(Decision).where(
        col(Decision.created_at) >= start, col(Decision.created_at) < end
    )
    if department is not None:
        query = query.where(Decision.department == department)
    return list(session.exec(query.order_by(col(Decision.created_at), col(Decision.id))).all())


def parse_sek(text: str | None) -> float | None:
    """``"500 000"``, ``"500000 kr"``, ``"1 250 000,50"`` → float; empty → None; else
    :class:`DecisionError` (in Swedish for the page)."""
    if text is None:
        return None
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", str(text)).lower()
    cleaned = cleaned.removesuffix("kr").removesuffix("sek").replace(",", ".")
    if not cleaned:
        return None
    if not re.fullmatch(r"\d{1,13}(\.\d{1,2})?", cleaned):
        raise DecisionError(
            f"not an amount: {text!r}", "Beloppet måste vara ett tal i kronor, t.ex. 500 000."
        )
    return float(cleaned)


def sek_text(amount: float | None) -> str:
    """ "500 000 kr" (ordinary spaces, for a terminal); "" for None."""
    from notifications.formatting import format_money

    return "" if amount is None else format_money(amount, "SEK").replace("\u00a0", " ")
