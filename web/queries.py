"""Read-only queries behind the pages (the web app writes only subscriber rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from storage.models import Call, CallLink, Delivery, Tag
from storage.search import search_condition

ACTIVE_STATUSES = ("open", "forthcoming")


@dataclass(frozen=True)
class CallFilters:
    """The overview's filters; empty values mean "any"."""

    department: str | None = None
    topic: str | None = None
    programme: str | None = None
    source: str | None = None
    within_days: int | None = None
    text: str | None = None  # free-text search over title, summary and description


def overview_calls(
    *, session: Session, filters: CallFilters, now: datetime, limit: int = 500
) -> list[Call]:
    """Open and forthcoming calls matching ``filters``, by next deadline (none last), then id.
    News items are listed when they mention no call (one that does is shown on the call's
    page, under "Även omnämnd av")."""
    standalone_news = and_(Call.kind == "news", col(Call.id).not_in(select(CallLink.from_call_id)))
    query = select(Call).where(
        col(Call.status).in_(ACTIVE_STATUSES), or_(Call.kind == "call", standalone_news)
    )
    for key in (filters.department, filters.topic):
        if key:
            query = query.where(col(Call.id).in_(select(Tag.call_id).where(Tag.key == key)))
    if filters.programme:
        query = query.where(Call.programme == filters.programme)
    if filters.source:
        query = query.where(Call.source == filters.source)
    if filters.text:
        condition = search_condition(session, filters.text)
        if condition is not None:  # a search of no words is no search
            query = query.where(condition)
    if filters.within_days:
        query = query.where(
            col(Call.next_deadline) >= now,
            col(Call.next_deadline) <= now + timedelta(days=filters.within_days),
        )
    query = query.order_by(col(Call.next_deadline).is_(None), col(Call.next_deadline), col(Call.id))
    return list(session.exec(query.limit(limit)).all())


def distinct_values(*, session: Session, column) -> list[str]:
    """The distinct non-empty values of a Call column, sorted (for filter choices)."""
    rows = session.exec(select(column).where(column.is_not(None)).distinct()).all()
    return sorted(str(v) for v in rows if v)


def calls_tagged(
    *,
    session: Session,
    keys: Sequence[str],
    now: datetime,
    statuses: Sequence[str] = ACTIVE_STATUSES,
) -> list[Call]:
    """Open/forthcoming calls tagged with any of ``keys`` whose next deadline is still ahead."""
    if not keys:
        return []
    query = (
        select(Call)
        .where(
            col(Call.status).in_(list(statuses)),
            Call.kind == "call",
            col(Call.next_deadline) >= now,
            col(Call.id).in_(select(Tag.call_id).where(col(Tag.key).in_(list(keys)))),
        )
        .order_by(col(Call.next_deadline), col(Call.id))
    )
    return list(session.exec(query).all())


def last_digest(*, session: Session) -> Delivery | None:
    """The most recently sent (or written to the outbox) digest."""
    return session.exec(
        select(Delivery)
        .where(Delivery.kind == "digest", col(Delivery.status).in_(["sent", "written"]))
        .order_by(col(Delivery.id).desc())
        .limit(1)
    ).first()
