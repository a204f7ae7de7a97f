"""All tables, in one place. Timestamps are timezone-aware UTC (see storage.types.UTCDateTime).

Schema changes go through Alembic (storage/migrations); ``create_all`` is for tests only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


CALL_STATUSES = ("forthcoming", "open", "closed", "unknown")


class Call(SQLModel, table=True):
    """A funding call (or a news item about one) from one source."""

    __tablename__ = "call"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_call_source_external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64, index=True)
    external_id: str = Field(max_length=512)
    url: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    description: str | None = Field(default=None, sa_column=Column(Text))
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    programme: str | None = Field(default=None, max_length=64, index=True)
    identifier: str | None = Field(default=None, max_length=255, index=True)
    call_identifier: str | None = Field(default=None, max_length=255)
    kind: str = Field(default="call", max_length=16)
    status: str = Field(default="unknown", max_length=16, index=True)
    opens_at: datetime | None = _ts()
    deadlines: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    next_deadline: datetime | None = _ts(index=True)
    budget: float | None = None
    budget_text: str | None = Field(default=None, sa_column=Column(Text))
    currency: str | None = Field(default=None, max_length=8)
    language: str | None = Field(default=None, max_length=8)
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    content_hash: str | None = Field(default=None, max_length=64)
    #: a fingerprint of what the source sent for this call (before any cleaning), salted
    #: with the extraction code and the source's config; a crawl that gets the same skips it
    source_hash: str | None = Field(default=None, max_length=64)
    first_seen_at: datetime | None = _ts(nullable=False)
    last_seen_at: datetime | None = _ts(nullable=False)
    updated_at: datetime | None = _ts(nullable=False)


class CallChange(SQLModel, table=True):
    """Field-level history of a call: one row per changed field per crawl."""

    __tablename__ = "call_change"

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", index=True, ondelete="CASCADE")
    field: str = Field(max_length=32)
    old_value: Any = Field(default=None, sa_column=Column(JSON))
    new_value: Any = Field(default=None, sa_column=Column(JSON))
    changed_at: datetime | None = _ts(nullable=False, index=True)
    crawl_run_id: int | None = Field(default=None, foreign_key="crawl_run.id", ondelete="SET NULL")


class CallLink(SQLModel, table=True):
    """``from_call`` (a news item or a Swedish page) mentions ``to_call`` (usually an EU topic)."""

    __tablename__ = "call_link"
    __table_args__ = (UniqueConstraint("from_call_id", "to_call_id", name="uq_call_link"),)

    id: int | None = Field(default=None, primary_key=True)
    from_call_id: int = Field(foreign_key="call.id", index=True, ondelete="CASCADE")
    to_call_id: int = Field(foreign_key="call.id", index=True, ondelete="CASCADE")
    reason: str = Field(max_length=255)
    created_at: datetime | None = _ts(nullable=False)


class CrawlRun(SQLModel, table=True):
    """One crawl of one source: its outcome and counts (source health)."""

    __tablename__ = "crawl_run"
    __table_args__ = (Index("ix_crawl_run_source_started", "source", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    started_at: datetime | None = _ts(nullable=False)
    finished_at: datetime | None = _ts()
    outcome: str = Field(default="running", max_length=16)  # running | ok | failed | empty
    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    invalid: int = 0
    errors: int = 0
    pages: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Tag(SQLModel, table=True):
    """A call fits a förvaltning (kind ``department``) or a topic (kind ``topic``)."""

    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("call_id", "key", name="uq_tag_call_key"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)
    score: float = 0.0
    reasons: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime | None = _ts(nullable=False)


class MatchState(SQLModel, table=True):
    """Which version of the rules (and of the call) a call was last matched with."""

    __tablename__ = "match_state"

    call_id: int = Field(foreign_key="call.id", primary_key=True, ondelete="CASCADE")
    rules_hash: str = Field(max_length=64)
    content_hash: str | None = Field(default=None, max_length=64)
    matched_at: datetime | None = _ts(nullable=False)


class Subscriber(SQLModel, table=True):
    """A representative, the coordinator, or a list address of the international group."""

    __tablename__ = "subscriber"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(max_length=200)
    department: str | None = Field(default=None, max_length=64)
    role: str = Field(default="representative", max_length=16)  # representative | coordinator
    active: bool = True  # False = paused
    token_version: int = 1  # bumped on unsubscribe so old links stop working
    created_at: datetime | None = _ts(nullable=False)
    unsubscribed_at: datetime | None = _ts()
    # "mina egna sökord": words that select calls for this subscriber's digest beside the
    # förvaltning and topics (searched in title, summary and description)
    own_words: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class Subscription(SQLModel, table=True):
    """A subscriber follows a topic."""

    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("subscriber_id", "topic", name="uq_subscription"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    topic: str = Field(max_length=64)


class Delivery(SQLModel, table=True):
    """The digest ledger: one row per subscriber and ISO week (e.g. ``2026-W48``)."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("subscriber_id", "week", name="uq_delivery_week"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    kind: str = Field(default="digest", max_length=16)
    week: str = Field(max_length=10)
    status: str = Field(
        default="pending", max_length=16
    )  # pending | sent | written | failed | empty
    message_id: str | None = Field(default=None, max_length=255)
    subject: str | None = Field(default=None, sa_column=Column(Text))
    call_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime | None = _ts(nullable=False)
    sent_at: datetime | None = _ts()
    #: the sending run that owns this pending row (see notifications.ledger), and until
    #: when: a run that crashed loses its claim when the lease expires
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: datetime | None = _ts()


class Announcement(SQLModel, table=True):
    """What a subscriber has been told about a call (new, a deadline threshold, a change),
    so each is told once."""

    __tablename__ = "announcement"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "call_id", "reason", name="uq_announcement"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    call_id: int = Field(foreign_key="call.id", index=True, ondelete="CASCADE")
    reason: str = Field(max_length=64)  # new | deadline:30 | change:<CallChange.id> | reminder:14
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id", ondelete="SET NULL")
    created_at: datetime | None = _ts(nullable=False)


class Lease(SQLModel, table=True):
    """A named lock with an expiry, so a crashed holder cannot hold it forever."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=64)
    owner: str = Field(max_length=255)
    acquired_at: datetime | None = _ts(nullable=False)
    expires_at: datetime | None = _ts(nullable=False)


class Alert(SQLModel, table=True):
    """Source-health alerts sent to the coordinator (one per failing/empty episode)."""

    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64, index=True)
    state: str = Field(max_length=16)  # failing | empty | recovered
    message_id: str | None = Field(default=None, max_length=255)
    created_at: datetime | None = _ts(nullable=False)


class Decision(SQLModel, table=True):
    """What a förvaltning did with a call. Append-only: the latest row per (call, department) counts."""

    __tablename__ = "decision"
    __table_args__ = (Index("ix_decision_call_dept", "call_id", "department"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", ondelete="CASCADE")
    department: str = Field(max_length=64)
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, sa_column=Column(Text))
    amount_applied_sek: float | None = None
    amount_granted_sek: float | None = None
    partners: str | None = Field(default=None, sa_column=Column(Text))
    actor: str = Field(max_length=320)
    created_at: datetime | None = _ts(nullable=False)


class Analysis(SQLModel, table=True):
    """The policy's benefit and risk analysis for a call a förvaltning pursues (append-only)."""

    __tablename__ = "analysis"

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", index=True, ondelete="CASCADE")
    department: str = Field(max_length=64)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    actor: str = Field(max_length=320)
    created_at: datetime | None = _ts(nullable=False)


class JobState(SQLModel, table=True):
    """When each scheduled job last ran, so a restarted scheduler catches up a missed run once."""

    __tablename__ = "job_state"

    name: str = Field(primary_key=True, max_length=64)
    last_run_at: datetime | None = _ts(nullable=False)
    last_outcome: str = Field(default="ok", max_length=16)
    detail: str | None = Field(default=None, sa_column=Column(Text))
