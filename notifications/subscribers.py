"""Subscribers: repository functions (keyword-only, take the session, never commit) and the
validation shared by the CLI and the web pages.

A subscriber is a representative (a förvaltning and/or topics), the coordinator (gets every
tagged call plus source health), or a list address of the international group (a
representative with topics, or a coordinator).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func
from sqlmodel import Session, col, select

from config.schema import NeedsFile
from storage.models import Subscriber, Subscription

ROLES = ("representative", "coordinator")


class SubscriberError(ValueError):
    """A refused input (bad address, unknown key, duplicate, missing subscriber)."""


def normalise_email(address: str) -> str:
    """The normalised address (domain lower-cased); raises SubscriberError when invalid.
    No DNS lookups."""
    try:
        result = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"invalid email address {address!r}: {exc}") from None
    return result.normalized


def check_keys(
    *, needs: NeedsFile, department: str | None = None, topics: Sequence[str] = ()
) -> None:
    """Refuse a department key that is not a förvaltning in needs.yaml, or a topic key that
    is not a topic there."""
    if department is not None and department not in needs.department_keys:
        known = ", ".join(needs.department_keys) or "(none)"
        raise SubscriberError(f"unknown förvaltning {department!r}; known keys: {known}")
    for topic in topics:
        if topic not in needs.topic_keys:
            known = ", ".join(needs.topic_keys) or "(none)"
            raise SubscriberError(f"unknown topic {topic!r}; known keys: {known}")


def check_role(role: str) -> None:
    if role not in ROLES:
        raise SubscriberError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")


def get_subscriber(*, session: Session, email: str) -> Subscriber | None:
    """The subscriber with this address, or None. Compared case-insensitively: the web pages
    store addresses in lower case, the CLI may have added one with capitals; the oldest row
    wins should two differ only in case."""
    address = email.strip().lower()
    return session.exec(
        select(Subscriber)
        .where(func.lower(Subscriber.email) == address)
        .order_by(col(Subscriber.id))
    ).first()


def topics_of(*, session: Session, subscriber_id: int) -> list[str]:
    return list(
        session.exec(
            select(Subscription.topic)
            .where(Subscription.subscriber_id == subscriber_id)
            .order_by(col(Subscription.topic))
        ).all()
    )


def _set_topics(*, session: Session, subscriber_id: int, topics: Sequence[str]) -> None:
    wanted = list(dict.fromkeys(topics))
    existing = session.exec(
        select(Subscription).where(Subscription.subscriber_id == subscriber_id)
    ).all()
    for row in existing:
        if row.topic not in wanted:
            session.delete(row)
    have = {row.topic for row in existing}
    for topic in wanted:
        if topic not in have:
            session.add(Subscription(subscriber_id=subscriber_id, topic=topic))
    session.flush()


def add_subscriber(
    *,
    session: Session,
    needs: NeedsFile,
    email: str,
    name: str,
    now: datetime,
    department: str | None = None,
    topics: Sequence[str] = (),
    role: str = "representative",
) -> Subscriber:
    """Add a subscriber; refuses a bad address, unknown keys or an existing address."""
    address = normalise_email(email)
    check_role(role)
    check_keys(needs=needs, department=department, topics=topics)
    if not name.strip():
        raise SubscriberError("a name is required")
    if get_subscriber(session=session, email=address) is not None:
        raise SubscriberError(f"{address} is already a subscriber (use `bevaka subscribers set`)")
    subscriber = Subscriber(
        email=address,
        name=name.strip(),
        department=department,
        role=role,
        active=True,
        created_at=now,
    )
    session.add(subscriber)
    session.flush()
    _set_topics(session=session, subscriber_id=subscriber.id, topics=topics)
    return subscriber


def update_subscriber(
    *,
    session: Session,
    needs: NeedsFile,
    email: str,
    name: str | None = None,
    department: str | None = None,
    topics: Sequence[str] | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> Subscriber:
    """Change what is given (``topics`` replaces the whole list; ``department=""`` clears it)."""
    subscriber = get_subscriber(session=session, email=email)
    if subscriber is None:
        raise SubscriberError(f"no subscriber {email!r}")
    dept = None if department == "" else department
    check_keys(needs=needs, department=dept, topics=topics or ())
    if role is not None:
        check_role(role)
        subscriber.role = role
    if name is not None:
        if not name.strip():
            raise SubscriberError("a name is required")
        subscriber.name = name.strip()
    if department is not None:
        subscriber.department = dept
    if active is not None:
        subscriber.active = active
        if active:  # resuming also undoes an unsubscribe made through the web page
            subscriber.unsubscribed_at = None
    session.add(subscriber)
    if topics is not None:
        _set_topics(session=session, subscriber_id=subscriber.id, topics=topics)
    session.flush()
    return subscriber


def remove_subscriber(*, session: Session, email: str) -> bool:
    """Delete a subscriber with its subscriptions and ledger rows; False when unknown."""
    subscriber = get_subscriber(session=session, email=email)
    if subscriber is None:
        return False
    for row in session.exec(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id)
    ).all():
        session.delete(row)
    from storage.models import Announcement, Delivery

    for model in (Announcement, Delivery):
        for row in session.exec(select(model).where(model.subscriber_id == subscriber.id)).all():
            session.delete(row)
    session.flush()
    session.delete(subscriber)
    session.flush()
    return True


def list_subscribers(*, session: Session, active_only: bool = False) -> list[Subscriber]:
    query = select(Subscriber).order_by(col(Subscriber.email))
    if active_only:
        query = query.where(
            col(Subscriber.active).is_(True), col(Subscriber.unsubscribed_at).is_(None)
        )
    return list(session.exec(query).all())


@dataclass(frozen=True)
class SubscriberView:
    """A subscriber with its topics, as the CLI and the digest see it."""

    id: int
    email: str
    name: str
    department: str | None
    topics: tuple[str, ...]
    role: str
    active: bool
    token_version: int
    unsubscribed: bool = False
    created_at: datetime | None = None  # changes before it are not shown to this subscriber
    own_words: tuple[str, ...] = ()  # "mina egna sökord"

    @property
    def is_coordinator(self) -> bool:
        return self.role == "coordinator"

    @property
    def keys(self) -> set[str]:
        """The tag keys this subscriber follows (its förvaltning and topics)."""
        return {k for k in (self.department, *self.topics) if k}

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "department": self.department,
            "topics": list(self.topics),
            "role": self.role,
            "active": self.active,
        }


def view(
    *, session: Session, subscriber: Subscriber, topics: Sequence[str] | None = None
) -> SubscriberView:
    """The subscriber as the digest sees it; ``topics`` when already read (see ``views``)."""
    if topics is None:
        topics = topics_of(session=session, subscriber_id=subscriber.id)
    return SubscriberView(
        id=subscriber.id,
        email=subscriber.email,
        name=subscriber.name,
        department=subscriber.department,
        topics=tuple(topics),
        role=subscriber.role,
        active=bool(subscriber.active) and subscriber.unsubscribed_at is None,
        token_version=subscriber.token_version,
        unsubscribed=subscriber.unsubscribed_at is not None,
        created_at=subscriber.created_at,
        own_words=tuple(w for w in (subscriber.own_words or []) if isinstance(w, str)),
    )


def views(*, session: Session, subscribers: Sequence[Subscriber]) -> list[SubscriberView]:
    """``view`` of each subscriber, with every subscriber's topics read in one query."""
    topics: dict[int, list[str]] = {}
    for subscriber_id, topic in session.exec(
        select(Subscription.subscriber_id, Subscription.topic).order_by(
            col(Subscription.subscriber_id), col(Subscription.topic)
        )
    ):
        topics.setdefault(subscriber_id, []).append(topic)
    return [view(session=session, subscriber=s, topics=topics.get(s.id, ())) for s in subscribers]
