"""Repository functions. Every one is keyword-only and takes the session; none commits
(the caller owns the transaction, see storage.db.session_scope)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import Call, CallChange, CallLink, CrawlRun, Tag, utcnow
from storage.records import TRACKED_FIELDS, CallData, derive_status, next_deadline

# last_seen_at is refreshed at most this often, so an unchanged recrawl writes no call rows.
LAST_SEEN_RESOLUTION = timedelta(hours=12)

UpsertOutcome = Literal["new", "changed", "unchanged"]


@dataclass(frozen=True)
class UpsertResult:
    outcome: UpsertOutcome
    call: Call
    changes: list[CallChange]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _tracked_value(field: str, value: Any) -> Any:
    """A JSON-friendly value for CallChange.old_value/new_value."""
    if isinstance(value, datetime):
        return value.isoformat()
    if field == "deadlines":
        return [v if isinstance(v, str) else v.isoformat() for v in value or []]
    return value


def _deadline_datetimes(call: Call) -> list[datetime]:
    return [datetime.fromisoformat(d) for d in call.deadlines or []]


def call_values(data: CallData, now: datetime) -> dict[str, Any]:
    """The Call columns that come from ``data`` (all but the id and the seen/updated times)."""
    return {
        "source": data.source,
        "external_id": data.external_id,
        "url": data.url,
        "title": data.title,
        "summary": data.summary,
        "description": data.description,
        "keywords": list(data.keywords),
        "programme": data.programme,
        "identifier": data.identifier,
        "call_identifier": data.call_identifier,
        "kind": data.kind,
        "opens_at": data.opens_at,
        "deadlines": [d.isoformat() for d in data.deadlines],
        "next_deadline": next_deadline(data.deadlines, now),
        "status": derive_status(
            opens_at=data.opens_at, deadlines=data.deadlines, now=now, hint=data.status
        ),
        "budget": data.budget,
        "budget_text": data.budget_text,
        "currency": data.currency,
        "language": data.language,
        "regions": list(data.regions),
        "extra": dict(data.extra),
        "content_hash": data.content_hash(),
        "source_hash": data.source_hash,
    }


def _apply(call: Call, data: CallData, now: datetime) -> None:
    for name, value in call_values(data, now).items():
        setattr(call, name, value)


def upsert_call(
    *, session: Session, data: CallData, now: datetime, crawl_run_id: int | None = None
) -> UpsertResult:
    """Insert or update one call (unique on source + external_id).

    A changed title, status, deadline list, opening date or budget adds one CallChange row
    per field. An unchanged call is left alone (bar a coarse ``last_seen_at``).
    """
    query = select(Call).where(Call.source == data.source, Call.external_id == data.external_id)
    call = session.exec(query).first()
    if call is None:
        fresh = Call(
            source=data.source,
            external_id=data.external_id,
            url=data.url,
            title=data.title,
            first_seen_at=now,
            last_seen_at=now,
            updated_at=now,
        )
        _apply(fresh, data, now)
        try:
            # A savepoint, so that losing a race with another process inserting the same
            # call (two crawls of one source at once) costs only this insert.
            with session.begin_nested():
                session.add(fresh)
            return UpsertResult("new", fresh, [])
        except IntegrityError:
            call = session.exec(query).first()  # theirs won: update it like any existing call
            if call is None:
                raise  # not a duplicate: the database refused the row itself

    new_hash = data.content_hash()
    status = derive_status(
        opens_at=data.opens_at, deadlines=data.deadlines, now=now, hint=data.status
    )
    if call.content_hash == new_hash and call.status == status:
        if call.last_seen_at is None or now - call.last_seen_at >= LAST_SEEN_RESOLUTION:
            call.last_seen_at = now
            session.add(call)
        if data.source_hash is not None and call.source_hash != data.source_hash:
            call.source_hash = data.source_hash  # e.g. after an upgrade: same content
            session.add(call)
        return UpsertResult("unchanged", call, [])

    before = {f: _tracked_value(f, getattr(call, f)) for f in TRACKED_FIELDS}
    _apply(call, data, now)
    after = {f: _tracked_value(f, getattr(call, f)) for f in TRACKED_FIELDS}
    changes = [
        CallChange(
            call_id=call.id,
            field=f,
            old_value=before[f],
            new_value=after[f],
            changed_at=now,
            crawl_run_id=crawl_run_id,
        )
        for f in TRACKED_FIELDS
        if before[f] != after[f]
    ]
    call.last_seen_at = now
    call.updated_at = now
    session.add(call)
    session.add_all(changes)
    session.flush()
    return UpsertResult("changed", call, changes)


def insert_calls(*, session: Session, items: Sequence[CallData], now: datetime) -> list[StoredCall]:
    """Insert calls known to be new (of one source, distinct external ids) in one multi-row
    statement; what was stored, in order.

    What :func:`upsert_call` does for a new call, without building ORM objects (a first
    crawl stores thousands of calls). A call that exists already makes the statement fail
    with IntegrityError and insert nothing: run it in a savepoint and fall back to
    :func:`upsert_call` one by one (as crawler.pipelines.StorePipeline does).
    """
    if not items:
        return []
    rows = [
        {**call_values(data, now), "first_seen_at": now, "last_seen_at": now, "updated_at": now}
        for data in items
    ]
    table = Call.__table__
    # not sort_by_parameter_order: SQLite would then insert one row per statement; the
    # external ids (distinct here, one source) tell which id is whose
    statement = insert(table).returning(table.c.external_id, table.c.id)
    ids = {
        external_id: call_id
        for external_id, call_id in session.connection().execute(statement, rows)
    }
    return [
        StoredCall(
            ids[row["external_id"]],
            row["content_hash"],
            row["status"],
            now,
            row["source_hash"],
            row["opens_at"],
            row["next_deadline"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class StoredCall:
    """What :func:`upsert_call` compares to decide that a call is unchanged."""

    call_id: int
    content_hash: str | None
    status: str
    last_seen_at: datetime | None
    source_hash: str | None = None
    opens_at: datetime | None = None
    next_deadline: datetime | None = None


def stored_calls(*, session: Session, source: str) -> dict[str, StoredCall]:
    """``{external_id: StoredCall}`` for every call of a source, in one query (a crawl loads
    it once, so that an unchanged call costs no query; see :func:`upsert_would_write`)."""
    rows = session.exec(
        select(
            col(Call.external_id),
            col(Call.id),
            col(Call.content_hash),
            col(Call.status),
            col(Call.last_seen_at),
            col(Call.source_hash),
            col(Call.opens_at),
            col(Call.next_deadline),
        ).where(Call.source == source)
    ).all()
    return {row[0]: StoredCall(*row[1:]) for row in rows}


def stored_call_of(result: UpsertResult) -> StoredCall:
    """The :class:`StoredCall` of a call :func:`upsert_call` has just written."""
    call = result.call
    return StoredCall(
        call.id,
        call.content_hash,
        call.status,
        call.last_seen_at,
        call.source_hash,
        call.opens_at,
        call.next_deadline,
    )


def upsert_would_write(
    *, stored: StoredCall | None, data: CallData, now: datetime, content_hash: str | None = None
) -> bool:
    """False when :func:`upsert_call` would find ``data`` unchanged and write nothing (same
    content hash, same derived status, ``last_seen_at`` fresher than
    :data:`LAST_SEEN_RESOLUTION`); True when it would insert or write something."""
    if stored is None:
        return True
    if data.source_hash is not None and stored.source_hash != data.source_hash:
        return True
    if stored.content_hash != (content_hash or data.content_hash()):
        return True
    status = derive_status(
        opens_at=data.opens_at, deadlines=data.deadlines, now=now, hint=data.status
    )
    if stored.status != status:
        return True
    return stored.last_seen_at is None or now - stored.last_seen_at >= LAST_SEEN_RESOLUTION


def may_skip(stored: StoredCall, now: datetime) -> bool:
    """Whether a crawl that gets the same raw record as last time (same ``source_hash``)
    may skip the call without looking: nothing that depends on the clock would be written
    (``last_seen_at`` is fresh, no deadline of a call still open has passed since, and a
    forthcoming call has not opened). Conservative: a False only costs the usual
    comparison."""
    if stored.source_hash is None or stored.last_seen_at is None:
        return False
    if now - stored.last_seen_at >= LAST_SEEN_RESOLUTION:
        return False
    if stored.next_deadline is not None and stored.next_deadline < now:
        return stored.status == "closed"  # closed for good: its last deadline has passed
    return not (
        stored.status == "forthcoming" and stored.opens_at is not None and stored.opens_at <= now
    )


def refresh_statuses(*, session: Session, now: datetime) -> list[CallChange]:
    """Re-derive status and next deadline from the dates as time passes (a deadline passing
    closes a call even when no crawl sees it again)."""
    changes: list[CallChange] = []
    candidates = session.exec(select(Call).where(col(Call.status) != "closed")).all()
    for call in candidates:
        deadlines = _deadline_datetimes(call)
        status = derive_status(
            opens_at=call.opens_at, deadlines=deadlines, now=now, hint=call.status
        )
        nd = next_deadline(deadlines, now)
        if status != call.status:
            changes.append(
                CallChange(
                    call_id=call.id,
                    field="status",
                    old_value=call.status,
                    new_value=status,
                    changed_at=now,
                )
            )
            call.status = status
        if nd != call.next_deadline:
            call.next_deadline = nd
        session.add(call)
    session.add_all(changes)
    session.flush()
    return changes


def get_call(*, session: Session, call_id: int) -> Call | None:
    return session.get(Call, call_id)


def list_calls(
    *,
    session: Session,
    statuses: Sequence[str] | None = None,
    tag: str | None = None,
    source: str | None = None,
    programme: str | None = None,
    limit: int | None = None,
) -> list[Call]:
    """Calls sorted by next deadline (calls without one last), then id."""
    query = select(Call)
    if statuses:
        query = query.where(col(Call.status).in_(list(statuses)))
    if tag:
        query = query.where(col(Call.id).in_(select(Tag.call_id).where(Tag.key == tag)))
    if source:
        query = query.where(Call.source == source)
    if programme:
        query = query.where(Call.programme == programme)
    query = query.order_by(col(Call.next_deadline).is_(None), col(Call.next_deadline), col(Call.id))
    if limit:
        query = query.limit(limit)
    return list(session.exec(query).all())


def tags_for(*, session: Session, call_ids: Iterable[int]) -> dict[int, list[Tag]]:
    ids = list(call_ids)
    out: dict[int, list[Tag]] = {i: [] for i in ids}
    if not ids:
        return out
    for tag in session.exec(
        select(Tag).where(col(Tag.call_id).in_(ids)).order_by(col(Tag.score).desc())
    ):
        out[tag.call_id].append(tag)
    return out


def changes_for(*, session: Session, call_id: int) -> list[CallChange]:
    return list(
        session.exec(
            select(CallChange)
            .where(CallChange.call_id == call_id)
            .order_by(col(CallChange.changed_at), col(CallChange.id))
        ).all()
    )


def mentions_of(*, session: Session, call_ids: Iterable[int]) -> dict[int, list[Call]]:
    """For each call, the other calls (news, Swedish pages) that mention it."""
    ids = list(call_ids)
    out: dict[int, list[Call]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = session.exec(
        select(CallLink.to_call_id, Call)
        .join(Call, col(Call.id) == CallLink.from_call_id)
        .where(col(CallLink.to_call_id).in_(ids))
    ).all()
    for to_id, call in rows:
        out[to_id].append(call)
    return out


def link_calls(
    *, session: Session, from_call_id: int, to_call_id: int, reason: str, now: datetime
) -> bool:
    """Record that one call mentions another; False when the link already exists."""
    if from_call_id == to_call_id:
        return False
    exists = session.exec(
        select(CallLink).where(
            CallLink.from_call_id == from_call_id, CallLink.to_call_id == to_call_id
        )
    ).first()
    if exists:
        return False
    session.add(
        CallLink(
            from_call_id=from_call_id, to_call_id=to_call_id, reason=reason[:255], created_at=now
        )
    )
    session.flush()
    return True


# --- crawl runs -----------------------------------------------------------------------


def start_crawl_run(
    *,
    session: Session,
    source: str,
    now: datetime | None = None,
    stale_before: datetime | None = None,
) -> CrawlRun:
    """A new ``running`` CrawlRun. Runs of this source still ``running`` that started before
    ``stale_before`` belong to a crawl process that died (kill -9, power loss): they are
    closed as failed, so health shows what happened."""
    now = now or utcnow()
    if stale_before is not None:
        for stale in session.exec(
            select(CrawlRun).where(
                CrawlRun.source == source,
                CrawlRun.outcome == "running",
                col(CrawlRun.started_at) < stale_before,
            )
        ):
            stale.outcome = "failed"
            stale.finished_at = now
            stale.error = stale.error or "interrupted: the crawl process ended without finishing"
            session.add(stale)
    run = CrawlRun(source=source, started_at=now, outcome="running")
    session.add(run)
    session.flush()
    return run


def last_runs(*, session: Session, source: str, limit: int = 10) -> list[CrawlRun]:
    """The most recent finished runs of a source, newest first."""
    return list(
        session.exec(
            select(CrawlRun)
            .where(CrawlRun.source == source, CrawlRun.outcome != "running")
            .order_by(col(CrawlRun.started_at).desc(), col(CrawlRun.id).desc())
            .limit(limit)
        ).all()
    )


@dataclass(frozen=True)
class SourceHealth:
    source: str
    last_run: CrawlRun | None
    consecutive_failures: int
    last_success: datetime | None

    @property
    def outcome(self) -> str:
        return self.last_run.outcome if self.last_run else "never run"


def source_health(*, session: Session, source: str) -> SourceHealth:
    runs = last_runs(session=session, source=source, limit=50)
    failures = 0
    for run in runs:
        if run.outcome == "ok":
            break
        failures += 1
    last_ok = session.exec(
        select(func.max(CrawlRun.finished_at)).where(
            CrawlRun.source == source, CrawlRun.outcome == "ok"
        )
    ).first()
    return SourceHealth(source, runs[0] if runs else None, failures, last_ok)


def call_json(call: Call, tags: Sequence[Tag] = ()) -> dict[str, Any]:
    """The stable JSON form of a call used by ``--format json`` (documented in the README)."""
    return {
        "id": call.id,
        "source": call.source,
        "external_id": call.external_id,
        "title": call.title,
        "url": call.url,
        "kind": call.kind,
        "status": call.status,
        "programme": call.programme,
        "identifier": call.identifier,
        "opens_at": _iso(call.opens_at),
        "next_deadline": _iso(call.next_deadline),
        "deadlines": list(call.deadlines or []),
        "budget": call.budget,
        "currency": call.currency,
        "language": call.language,
        "first_seen_at": _iso(call.first_seen_at),
        "last_seen_at": _iso(call.last_seen_at),
        "tags": [{"key": t.key, "kind": t.kind, "score": round(t.score, 3)} for t in tags],
    }
