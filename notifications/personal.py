"""Personal data: everything Bevaka holds about one subscriber's address, as JSON
(``bevaka subscribers export EMAIL``), and erasing it (``bevaka subscribers forget EMAIL``).

Forgetting keeps what the ledger must without the address: the subscriber row stays under a
placeholder address that names nobody (so the digest weeks, what was announced and the
follow-up statistics still add up), its name, topics and förvaltning go, every link it was
mailed stops working, the address is scrubbed from delivery errors and from the decisions
and analyses it made, and its digest files in the outbox are deleted. See
docs/operations.md, "Personal data".
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from notifications.subscribers import get_subscriber
from storage.models import Analysis, Announcement, Decision, Delivery, Subscriber, Subscription

#: the domain of a forgotten subscriber's placeholder address (RFC 2606: never delivered)
FORGOTTEN_DOMAIN = "forgotten.invalid"
FORGOTTEN_NAME = "(forgotten)"


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _subscriber(session: Session, email: str) -> Subscriber | None:
    return get_subscriber(session=session, email=email)


def export_subscriber(*, session: Session, email: str) -> dict[str, Any] | None:
    """Everything stored about ``email`` (None when no subscriber has it)."""
    subscriber = _subscriber(session, email)
    if subscriber is None:
        return None
    sid = subscriber.id
    topics = session.exec(select(Subscription.topic).where(Subscription.subscriber_id == sid)).all()
    deliveries = session.exec(
        select(Delivery).where(Delivery.subscriber_id == sid).order_by(Delivery.week)
    ).all()
    told = session.exec(
        select(Announcement).where(Announcement.subscriber_id == sid).order_by(Announcement.id)
    ).all()
    address = subscriber.email
    decisions = session.exec(
        select(Decision).where(Decision.actor == address).order_by(Decision.id)
    ).all()
    analyses = session.exec(
        select(Analysis).where(Analysis.actor == address).order_by(Analysis.id)
    ).all()
    return {
        "subscriber": {
            "email": address,
            "name": subscriber.name,
            "department": subscriber.department,
            "role": subscriber.role,
            "active": subscriber.active,
            "created_at": _when(subscriber.created_at),
            "unsubscribed_at": _when(subscriber.unsubscribed_at),
        },
        "topics": sorted(topics),
        "deliveries": [
            {
                "week": d.week,
                "kind": d.kind,
                "status": d.status,
                "subject": d.subject,
                "call_ids": d.call_ids,
                "attempts": d.attempts,
                "error": d.error,
                "created_at": _when(d.created_at),
                "sent_at": _when(d.sent_at),
            }
            for d in deliveries
        ],
        "announcements": [
            {"call_id": a.call_id, "reason": a.reason, "created_at": _when(a.created_at)}
            for a in told
        ],
        "decisions": [
            {
                "call_id": d.call_id,
                "department": d.department,
                "status": d.status,
                "note": d.note,
                "created_at": _when(d.created_at),
            }
            for d in decisions
        ],
        "analyses": [
            {"call_id": a.call_id, "department": a.department, "created_at": _when(a.created_at)}
            for a in analyses
        ],
    }


def outbox_files_of(outbox: Path, email: str) -> list[Path]:
    """The digest and alert files in the outbox addressed to ``email``."""
    if not outbox.is_dir():
        return []
    mark = email.replace("@", "_at_").lower()
    return sorted(p for p in outbox.iterdir() if p.is_file() and mark in p.name.lower())


def forget_subscriber(
    *, session: Session, email: str, now: datetime, outbox: Path | None = None
) -> dict[str, int] | None:
    """Erase ``email`` as described in the module docstring; what was changed, by kind
    (None when no subscriber has the address). The caller commits."""
    subscriber = _subscriber(session, email)
    if subscriber is None:
        return None
    address = subscriber.email
    placeholder = f"forgotten-{subscriber.id}@{FORGOTTEN_DOMAIN}"
    changed = {"topics": 0, "deliveries": 0, "decisions": 0, "analyses": 0, "outbox_files": 0}
    for row in session.exec(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id)
    ).all():
        session.delete(row)
        changed["topics"] += 1
    for delivery in session.exec(
        select(Delivery).where(Delivery.subscriber_id == subscriber.id)
    ).all():
        if delivery.error and address.lower() in delivery.error.lower():
            delivery.error = _scrub(delivery.error, address, placeholder)
            session.add(delivery)
            changed["deliveries"] += 1
    for model, key in ((Decision, "decisions"), (Analysis, "analyses")):
        for row in session.exec(select(model).where(col(model.actor) == address)).all():
            row.actor = placeholder
            session.add(row)
            changed[key] += 1
    subscriber.email = placeholder
    subscriber.name = FORGOTTEN_NAME
    subscriber.department = None
    subscriber.active = False
    subscriber.token_version += 1  # every link it was ever mailed stops working
    subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
    session.add(subscriber)
    session.flush()
    for path in outbox_files_of(outbox, address) if outbox else []:
        path.unlink(missing_ok=True)
        changed["outbox_files"] += 1
    return changed


def _scrub(text: str, address: str, placeholder: str) -> str:
    lower, needle = text.lower(), address.lower()
    out, start = [], 0
    while (found := lower.find(needle, start)) >= 0:
        out += [text[start:found], placeholder]
        start = found + len(needle)
    return "".join([*out, text[start:]])
