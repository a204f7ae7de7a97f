"""The weekly run: build each subscriber's digest, record it in the ledger, send or write it.

Ledger (``Delivery``, one row per subscriber and ISO week, e.g. ``2026-W48``):

1. A ``pending`` row is committed with its Message-ID, subject and call ids BEFORE sending.
2. The message is sent (or written to the outbox folder).
3. In ONE transaction the row becomes ``sent`` (or ``written``) and the Announcement rows
   ("told this subscriber about this call for this reason") are added.

Claims: any number of runs (``bevaka digest --send``, ``run-once``, the scheduler's job) may
work on one week at once; each pending row is owned by one run at a time. A run inserts a
new row already claimed (the unique (subscriber, week) constraint lets one insert win), and
takes an existing pending row with one ``UPDATE … WHERE claimed_by IS NULL OR claimed_until
< now OR <holder is a dead process on this host>``, checked by its row count: on SQLite and
PostgreSQL alike, exactly one run gets the row. The lease (``claimed_until``) lasts the
run's deadline (``digest.run_deadline_seconds``) plus a margin, so a run that crashed on
another machine loses its rows when it expires; on this machine its rows are taken over at
once. A row another live run holds is skipped (reported as ``elsewhere``). Settling a row
releases the claim, and so does the end of the run for rows it did not get to.

Re-running the same week skips ``sent``/``written``/``failed`` rows and resends ``pending``
ones with the same Message-ID (a crash between 2 and 3 can therefore deliver a message
twice, with the same Message-ID so a mail client shows it once; a crash before 2 loses
nothing). Permanent failures (5xx) become ``failed`` with the server's reply, and the
coordinator gets one summary mail per run. Temporary failures that outlast the retries stay
``pending`` with the error, for the next run. A refusal of every message of a run (two or
more, none accepted) is the server's fault, not the recipients': those rows stay
``pending`` and the coordinator is told. ``retry_failed(week)`` (``bevaka digest
--retry-failed WEEK``) puts a week's ``failed`` rows back to ``pending`` for a resend.

Deadline: a run stops after ``digest.run_deadline_seconds`` (or when the ``deadline`` given
expires): the message in flight is abandoned and everything not sent stays ``pending``.

``run_digest(config=, engine=, now=, send=True, preview_dir=None, subscriber_email=None)``:

- ``preview_dir`` set: write .eml/.html/.txt files there and record nothing;
- ``send=False`` (no preview): a dry run that only reports what would be sent;
- ``send=True`` with ``smtp.host``: send over SMTP; without a host: write .eml and .html
  files to ``digest.outbox_dir`` (rows recorded as ``written``).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from config.loader import Config
from notifications.digest import Digest, Entry, Link, Match, Section, build_digest, digest_group
from notifications.formatting import header_safe, week_key, week_label
from notifications.render import build_message, digest_mail, new_message_id, render_digest
from notifications.sender import (
    DEADLINE_ERROR,
    Mail,
    RunDeadline,
    SendResult,
    send_feed,
    send_messages,
    write_outbox,
)
from notifications.subscribers import SubscriberView, list_subscribers, views
from storage.db import session_scope
from storage.models import Announcement, Delivery

log = logging.getLogger(__name__)

DONE = ("sent", "written", "failed")
_DELIVERY = Delivery.__table__
_ANNOUNCEMENT = Announcement.__table__
# Built once (statement construction was a good part of a settle's cost).
_ANNOUNCED = sa_select(_ANNOUNCEMENT.c.call_id, _ANNOUNCEMENT.c.reason).where(
    _ANNOUNCEMENT.c.subscriber_id == bindparam("subscriber_id"),
    _ANNOUNCEMENT.c.call_id.in_(bindparam("call_ids", expanding=True)),
)
_SETTLE_NOT_DONE = (
    update(_DELIVERY)
    .where(_DELIVERY.c.id == bindparam("delivery_id"))
    .where(_DELIVERY.c.claimed_by == bindparam("claim_owner"))
    .values(
        attempts=func.coalesce(_DELIVERY.c.attempts, 0) + bindparam("add_attempts"),
        status=bindparam("new_status"),
        error=bindparam("new_error"),
        claimed_by=None,
        claimed_until=None,
    )
)
#: take a pending row: exactly one run's UPDATE matches (checked by its row count)
_CLAIM = (
    update(_DELIVERY)
    .where(_DELIVERY.c.id == bindparam("delivery_id"))
    .where(_DELIVERY.c.status == "pending")
    .where(
        or_(
            _DELIVERY.c.claimed_by.is_(None),
            _DELIVERY.c.claimed_until < bindparam("claim_now"),
            _DELIVERY.c.claimed_by == bindparam("claim_owner"),
            _DELIVERY.c.claimed_by.in_(bindparam("claim_gone", expanding=True)),
        )
    )
    .values(claimed_by=bindparam("claim_owner"), claimed_until=bindparam("claim_until"))
)
_RELEASE = (
    update(_DELIVERY)
    .where(_DELIVERY.c.id == bindparam("delivery_id"))
    .where(_DELIVERY.c.claimed_by == bindparam("claim_owner"))
    .values(claimed_by=None, claimed_until=None, error=bindparam("new_error"))
)
_SETTLE_DONE = _SETTLE_NOT_DONE.values(sent_at=bindparam("new_sent_at"))
_NEW_DELIVERY = insert(_DELIVERY)
_SKIP_DUPLICATES = {
    "sqlite": sqlite_insert(_ANNOUNCEMENT).on_conflict_do_nothing(),
    "postgresql": postgresql_insert(_ANNOUNCEMENT).on_conflict_do_nothing(),
}


@dataclass
class DigestReport:
    """What one run did, per subscriber address."""

    week: str
    mode: str  # smtp | outbox | preview | dry-run
    sent: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    previewed: list[str] = field(default_factory=list)
    would_send: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # settled earlier this week
    elsewhere: list[str] = field(default_factory=list)  # being sent by another run now
    empty: list[str] = field(default_factory=list)  # nothing to say
    failed: dict[str, str] = field(default_factory=dict)  # permanent (5xx)
    pending: dict[str, str] = field(default_factory=dict)  # temporary, retried next run
    files: list[Path] = field(default_factory=list)
    coordinator_notified: bool = False
    #: every message of the run was refused (the server's problem): kept pending
    server_refused: str | None = None
    deadline_passed: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.pending

    def summary(self) -> str:
        parts = [f"week {self.week} ({self.mode}):"]
        for label, value in (
            ("sent", self.sent),
            ("written", self.written),
            ("previewed", self.previewed),
            ("would send", self.would_send),
            ("already done", self.already),
            ("being sent by another run", self.elsewhere),
            ("nothing to send", self.empty),
            ("failed", self.failed),
            ("still pending", self.pending),
        ):
            if value:
                parts.append(f"{label} {len(value)}")
        if len(parts) == 1:
            parts.append("no subscribers")
        text = " ".join([parts[0], ", ".join(parts[1:])])
        if self.server_refused:
            text += f"; the server refused every message ({self.server_refused}): kept pending"
        if self.deadline_passed:
            text += "; the run's deadline passed: what is left stays pending"
        if self.coordinator_notified:
            text += "; the coordinator was told about the failures"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "mode": self.mode,
            "sent": self.sent,
            "written": self.written,
            "previewed": self.previewed,
            "would_send": self.would_send,
            "already": self.already,
            "elsewhere": self.elsewhere,
            "empty": self.empty,
            "failed": self.failed,
            "pending": self.pending,
            "files": [str(p) for p in self.files],
            "coordinator_notified": self.coordinator_notified,
            "server_refused": self.server_refused,
            "deadline_passed": self.deadline_passed,
        }


@dataclass
class _Job:
    delivery_id: int
    digest: Digest
    message: Mail


_OWNER = re.compile(r"^(?P<host>.+) pid (?P<pid>\d+) at (?P<started>\d+) run [0-9a-f]+$")


def run_owner() -> str:
    """This sending run's name in ``delivery.claimed_by``: host, pid, the process's start
    time (so a reused pid is not taken for the dead holder) and a run id."""
    import psutil

    try:
        started = int(psutil.Process().create_time())
    except psutil.Error:  # pragma: no cover - the process can always read itself
        started = 0
    host = socket.gethostname()[:60]
    return f"{host} pid {os.getpid()} at {started} run {uuid.uuid4().hex[:8]}"


def owner_is_gone(owner: str) -> bool:
    """True when ``owner`` is a run of a process on this host that no longer exists (killed
    or crashed): its claims can be taken over at once. Owners on other hosts are only ever
    taken over when their lease expires."""
    import psutil

    match = _OWNER.match(owner or "")
    if match is None or match["host"] != socket.gethostname()[:60]:
        return False
    try:
        process = psutil.Process(int(match["pid"]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        return int(process.create_time()) != int(match["started"])
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _claim_lease(config: Config) -> timedelta:
    """How long a run's claim lasts: its deadline, plus time for the message in flight."""
    smtp = config.settings.smtp
    seconds = config.settings.digest.run_deadline_seconds + 2 * smtp.timeout_seconds + 60
    return timedelta(seconds=seconds)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def retry_failed(*, engine: Engine, week: str) -> int:
    """Put ``week``'s ``failed`` digests back to ``pending`` (Message-ID kept, error kept
    for the record), so the next run sends them; returns how many."""
    with engine.begin() as conn:
        result = conn.execute(
            update(_DELIVERY)
            .where(_DELIVERY.c.week == week, _DELIVERY.c.status == "failed")
            .values(status="pending", claimed_by=None, claimed_until=None)
        )
    return result.rowcount or 0


def _file_stem(week: str, email: str) -> str:
    return f"{week}_{email.replace('@', '_at_')}"


def _get_delivery(session: Session, subscriber_id: int, week: str) -> Delivery | None:
    return session.exec(
        select(Delivery).where(Delivery.subscriber_id == subscriber_id, Delivery.week == week)
    ).first()


def record_announcements(
    *,
    session: Session | Connection,
    subscriber_id: int,
    items: list[tuple[int, str]],
    delivery_id: int | None,
    now: datetime,
) -> int:
    """Add the Announcement rows not already there; returns how many were added.
    One SELECT for the rows already there and one multi-row INSERT for the rest.
    ``session``: a Session or a Connection (in its transaction)."""
    wanted = list(dict.fromkeys((call_id, reason[:64]) for call_id, reason in items))
    if not wanted:
        return 0
    call_ids = sorted({call_id for call_id, _ in wanted})
    existing: set[tuple[int, str]] = set()
    for start in range(0, len(call_ids), 500):  # stay under the bound-parameter limits
        rows = session.execute(
            _ANNOUNCED, {"subscriber_id": subscriber_id, "call_ids": call_ids[start : start + 500]}
        ).all()
        existing.update((c, r) for c, r in rows)
    rows_to_add = [
        {
            "subscriber_id": subscriber_id,
            "call_id": call_id,
            "reason": reason,
            "delivery_id": delivery_id,
            "created_at": now,
        }
        for call_id, reason in wanted
        if (call_id, reason) not in existing
    ]
    if rows_to_add:
        session.execute(insert(_ANNOUNCEMENT), rows_to_add)
    return len(rows_to_add)


def _add_announcements(
    conn: Connection,
    *,
    subscriber_id: int,
    items: list[tuple[int, str]],
    delivery_id: int,
    now: datetime,
) -> None:
    """record_announcements in one statement: a multi-row INSERT that skips the rows
    already there (ON CONFLICT DO NOTHING on the unique (subscriber, call, reason))."""
    rows = [
        {
            "subscriber_id": subscriber_id,
            "call_id": call_id,
            "reason": reason,
            "delivery_id": delivery_id,
            "created_at": now,
        }
        for call_id, reason in dict.fromkeys((c, r[:64]) for c, r in items)
    ]
    if rows:
        conn.execute(_SKIP_DUPLICATES[conn.dialect.name], rows)


def _settle(
    engine: Engine,
    job: _Job,
    *,
    owner: str,
    status: str,
    now: datetime,
    attempts: int = 1,
    error: str | None = None,
) -> None:
    """Mark one delivery done (and its announcements) in one transaction (Core statements on
    one connection: the ORM's per-statement overhead was most of a settle), releasing this
    run's claim on it."""
    done = status in ("sent", "written")
    with engine.begin() as conn:
        updated = conn.execute(
            _SETTLE_DONE if done else _SETTLE_NOT_DONE,
            {
                "delivery_id": job.delivery_id,
                "claim_owner": owner,
                "add_attempts": attempts,
                "new_status": status,
                "new_error": error,
                **({"new_sent_at": now} if done else {}),
            },
        )
        if updated.rowcount == 0:
            # the subscriber was removed meanwhile, or our lease ran out and another run
            # took the row over (it settles it)
            log.warning("delivery %s was no longer ours to settle", job.delivery_id)
            return
        if done and conn.dialect.name in _SKIP_DUPLICATES:
            _add_announcements(
                conn,
                subscriber_id=job.digest.subscriber.id,
                items=job.digest.announcements,
                delivery_id=job.delivery_id,
                now=now,
            )
        elif done:
            record_announcements(
                session=conn,
                subscriber_id=job.digest.subscriber.id,
                items=job.digest.announcements,
                delivery_id=job.delivery_id,
                now=now,
            )


def _mode(config: Config, send: bool, preview_dir: str | Path | None) -> str:
    if preview_dir is not None:
        return "preview"
    if not send:
        return "dry-run"
    return "smtp" if config.settings.smtp.host else "outbox"


def run_digest(
    *,
    config: Config,
    engine: Engine,
    now: datetime,
    send: bool = True,
    preview_dir: str | Path | None = None,
    subscriber_email: str | None = None,
    tls_context: ssl.SSLContext | None = None,
    deadline: RunDeadline | None = None,
    clock: Callable[[], datetime] = _wall_clock,
) -> DigestReport:
    """This week's digests for every active subscriber (or just ``subscriber_email``).
    See the module docstring for the modes, the ledger and the claims. ``deadline``: when
    the run must stop (default: ``digest.run_deadline_seconds`` from now); ``clock``: the
    wall clock the claims' leases are measured with (``now`` may be an ``--as-of`` date).
    Never raises for a delivery problem: the report says what happened."""
    settings = config.settings
    week = week_key(now, settings.tz)
    mode = _mode(config, send, preview_dir)
    report = DigestReport(week=week, mode=mode)
    recording = mode in ("smtp", "outbox")
    own_deadline = deadline is None
    if deadline is None:
        deadline = RunDeadline.after(settings.digest.run_deadline_seconds)
    try:
        return _run(
            config=config,
            engine=engine,
            now=now,
            week=week,
            mode=mode,
            report=report,
            recording=recording,
            preview_dir=preview_dir,
            subscriber_email=subscriber_email,
            tls_context=tls_context,
            deadline=deadline,
            clock=clock,
        )
    finally:
        if own_deadline:
            deadline.cancel()


def _run(
    *,
    config: Config,
    engine: Engine,
    now: datetime,
    week: str,
    mode: str,
    report: DigestReport,
    recording: bool,
    preview_dir: str | Path | None,
    subscriber_email: str | None,
    tls_context: ssl.SSLContext | None,
    deadline: RunDeadline,
    clock: Callable[[], datetime],
) -> DigestReport:
    settings = config.settings
    owner = run_owner()
    lease = _claim_lease(config)
    held: dict[int, str] = {}  # delivery id → address: claimed by this run, not settled

    with session_scope(engine) as session:
        subscribers = views(
            session=session, subscribers=list_subscribers(session=session, active_only=True)
        )
    if subscriber_email is not None:
        wanted = subscriber_email.strip().lower()
        subscribers = [s for s in subscribers if s.email.lower() == wanted]
    # This week's rows, read once: a subscriber without one gets it inserted below (the
    # unique (subscriber, week) constraint stops a second run that got there first); one
    # with a row has it claimed and read again just before its turn.
    has_row: set[int] = set()
    gone: list[str] = []  # holders of this week's claims that are dead processes here
    if mode != "preview":
        with engine.connect() as conn:
            for subscriber_id, holder in conn.execute(
                sa_select(_DELIVERY.c.subscriber_id, _DELIVERY.c.claimed_by).where(
                    _DELIVERY.c.week == week
                )
            ):
                has_row.add(subscriber_id)
                if holder and holder != owner and holder not in gone and owner_is_gone(holder):
                    gone.append(holder)
    reached: set[int] = set()  # subscribers whose turn has come

    def claim(sub: SubscriberView) -> bool | None:
        """Claim this week's existing row: True when ours, False when another live run
        holds it (or it is done: then reported), None when there is no row any more."""
        moment = clock()
        with engine.begin() as conn:
            taken = conn.execute(
                sa_select(_DELIVERY.c.id, _DELIVERY.c.status).where(
                    _DELIVERY.c.subscriber_id == sub.id, _DELIVERY.c.week == week
                )
            ).first()
            if taken is None:
                return None
            delivery_id, status = taken
            if status in DONE:
                report.already.append(sub.email)
                return False
            if not recording:
                return True  # a dry run only reads
            got = conn.execute(
                _CLAIM,
                {
                    "delivery_id": delivery_id,
                    "claim_now": moment,
                    "claim_owner": owner,
                    "claim_gone": gone,
                    "claim_until": moment + lease,
                },
            )
        if got.rowcount != 1:
            report.elsewhere.append(sub.email)
            return False
        held[delivery_id] = sub.email
        return True

    def prepared(pause: Callable[[], None] = lambda: None) -> Iterator[_Job]:
        """Each subscriber's digest in turn; in the recording modes its pending row (with
        the Message-ID), claimed by this run, is committed before the job is yielded, i.e.
        before any sending. ``pause()`` is called between the steps of making one (see
        produce below). Stops when the deadline passes."""
        cache: dict[Any, Any] = {}  # calls, tags and entries shared by one group's digests
        members: dict[Any, set[int]] = {}
        for sub in subscribers:
            members.setdefault(digest_group(sub), set()).add(sub.id)
        cache["members"] = members  # lets build_digest read a group's "told" at once
        # Group by group (stable: the order within a group is kept): the cache holds one group.
        for sub in sorted(subscribers, key=lambda s: repr(digest_group(s))):
            if deadline.expired:
                return
            reached.add(sub.id)
            try:
                job = _prepare(sub, cache, pause)
            except IntegrityError:
                # another run created this week's row for this subscriber first: it sends it.
                # The rollback expired what the cache holds from that session: start afresh.
                report.elsewhere.append(sub.email)
                cache.clear()
                cache["members"] = members
                continue
            if job is not None:
                yield job

    def _prepare(
        sub: SubscriberView, cache: dict[Any, Any], pause: Callable[[], None]
    ) -> _Job | None:
        exists = sub.id in has_row
        if exists:
            ours = claim(sub)
            if ours is False:
                return None
            exists = ours is True
        with session_scope(engine) as session:
            delivery = _get_delivery(session, sub.id, week) if exists else None
            digest = build_digest(
                session=session, config=config, subscriber=sub, now=now, cache=cache
            )
            if digest is None:
                report.empty.append(sub.email)
                return None
            pause()
            if not recording:
                if mode == "preview":
                    rendered = render_digest(digest, timezone=settings.timezone)
                    message = digest_mail(
                        digest,
                        settings=settings,
                        message_id=new_message_id(settings, week=week, subscriber_id=sub.id),
                        rendered=rendered,
                    )
                    stem = _file_stem(week, sub.email)
                    eml = write_outbox(preview_dir, message, stem=stem)
                    txt = eml.with_suffix(".txt")
                    txt.write_text(rendered.text, encoding="utf-8")
                    report.files.extend([eml, eml.with_suffix(".html"), txt])
                    report.previewed.append(sub.email)
                else:
                    report.would_send.append(sub.email)
                return None
            if delivery is None:
                message_id = new_message_id(settings, week=week, subscriber_id=sub.id)
            else:
                message_id = delivery.message_id
            # made before the row is written, so the write transaction stays short
            message = digest_mail(digest, settings=settings, message_id=message_id)
            pause()
            subject = header_safe(digest.subject, 180)
            if delivery is None:
                moment = clock()
                inserted = session.connection().execute(
                    _NEW_DELIVERY,
                    {
                        "subscriber_id": sub.id,
                        "kind": "digest",
                        "week": week,
                        "status": "pending",
                        "message_id": message_id,
                        "subject": subject,
                        "call_ids": digest.call_ids,
                        "attempts": 0,
                        "error": None,
                        "created_at": now,
                        "sent_at": None,
                        "claimed_by": owner,
                        "claimed_until": moment + lease,
                    },
                )
                delivery_id = inserted.inserted_primary_key[0]
            else:
                delivery.subject = subject
                delivery.call_ids = digest.call_ids
                session.add(delivery)
                session.flush()
                delivery_id = delivery.id
        # the pending row (with its Message-ID and our claim) is committed here, before
        # any sending
        held[delivery_id] = sub.email
        return _Job(delivery_id, digest, message)

    def settle(job: _Job, status: str, **kwargs: Any) -> None:
        _settle(engine, job, owner=owner, status=status, now=now, **kwargs)
        held.pop(job.delivery_id, None)

    try:
        if mode == "outbox":
            outbox = Path(settings.digest.outbox_dir)
            for job in prepared():
                eml = write_outbox(
                    outbox, job.message, stem=_file_stem(week, job.digest.subscriber.email)
                )
                report.files.extend([eml, eml.with_suffix(".html")])
                settle(job, "written")
                report.written.append(job.digest.subscriber.email)
        elif mode == "smtp":
            _send_smtp(
                config,
                report,
                prepared=prepared,
                settle=settle,
                deadline=deadline,
                now=now,
                tls_context=tls_context,
            )
        else:
            for _ in prepared():  # preview and dry run: nothing is yielded
                pass
    finally:
        if held:  # claimed but not settled (the deadline, or an error): free for the next run
            error = DEADLINE_ERROR if deadline.expired else None
            with engine.begin() as conn:
                conn.execute(
                    _RELEASE,
                    [
                        {"delivery_id": i, "claim_owner": owner, "new_error": error}
                        for i in sorted(held)
                    ],
                )
            if error:
                for email in held.values():
                    report.pending[email] = error
    if deadline.expired and recording:
        for sub in subscribers:
            if sub.id not in reached:
                report.pending[sub.email] = DEADLINE_ERROR
        if any(e == DEADLINE_ERROR for e in report.pending.values()):
            report.deadline_passed = True
    return report


def _send_smtp(
    config: Config,
    report: DigestReport,
    *,
    prepared: Callable[..., Iterator[_Job]],
    settle: Callable[..., None],
    deadline: RunDeadline,
    now: datetime,
    tls_context: ssl.SSLContext | None,
) -> None:
    """Send the prepared jobs; settle each as its result comes. Permanent refusals are
    settled at the end: when they are all the run had (two or more, nothing accepted) the
    server refused everything, and the rows stay pending instead of failed."""
    settings = config.settings
    jobs: list[_Job] = []
    refused: list[tuple[_Job, SendResult]] = []

    def on_result(index: int, result: SendResult) -> None:
        job = jobs[index]
        email = job.digest.subscriber.email
        if result.ok:
            settle(job, "sent", attempts=result.attempts)
            report.sent.append(email)
        elif result.permanent:
            refused.append((job, result))
        else:
            settle(job, "pending", attempts=result.attempts, error=result.error)
            report.pending[email] = result.error or "temporary failure"

    def produce(submit: Callable[[Mail], int]) -> None:
        # Each message is sent (by the sender's thread, with its event loop) while the
        # next one is made here. Making one holds the GIL for a few milliseconds; the
        # pauses (time.sleep(0) releases the GIL) let the sender handle the server's
        # replies at once instead of after the interpreter's switch interval (5 ms).
        for job in prepared(pause=lambda: time.sleep(0)):
            if deadline.expired:  # not handed over: released as pending by the caller
                return
            jobs.append(job)  # before submit: on_result may run at once
            index = submit(job.message)
            assert index == len(jobs) - 1  # submit numbers messages in order
            time.sleep(0)

    send_feed(
        settings.smtp, produce, tls_context=tls_context, on_result=on_result, deadline=deadline
    )
    server_wide = len(refused) >= 2 and not report.sent
    for job, result in refused:
        email = job.digest.subscriber.email
        error = result.error or "permanent failure"
        if server_wide:
            kept = f"the server refused every message of the run, kept for a retry: {error}"
            settle(job, "pending", attempts=result.attempts, error=kept)
            report.pending[email] = kept
        else:
            settle(job, "failed", attempts=result.attempts, error=error)
            report.failed[email] = error
    if server_wide:
        report.server_refused = refused[0][1].error or "permanent failure"
    if report.failed or server_wide:
        report.coordinator_notified = _tell_coordinator(
            config, report, now=now, tls_context=tls_context
        )


def _tell_coordinator(
    config: Config, report: DigestReport, *, now: datetime, tls_context: ssl.SSLContext | None
) -> bool:
    """One plain-text mail to digest.coordinator_email listing the refused addresses, or
    saying that the server refused every message (and that they will be retried)."""
    settings = config.settings
    coordinator = settings.digest.coordinator_email
    if not coordinator:
        return False
    if report.server_refused:
        count = len(report.pending)
        subject = f"Bevaka {report.week}: servern tog inte emot något av {count} veckobrev"
        lines = [
            f"E-postservern vägrade ta emot alla {count} veckobrev för {report.week}:",
            f"  {header_safe(report.server_refused, 300)}",
            "",
            "Felet ligger hos servern, inte hos mottagarna: breven ligger kvar och skickas",
            "vid nästa körning. Kontrollera SMTP-inställningarna, eller skicka om direkt med",
            f"`bevaka digest --send` när servern fungerar. (`bevaka digest --retry-failed "
            f"{report.week}` skickar om brev som markerats som misslyckade.)",
        ]
    else:
        subject = f"Bevaka {report.week}: {len(report.failed)} veckobrev kunde inte levereras"
        lines = [
            f"Bevaka kunde inte leverera veckobrevet för {report.week} till {len(report.failed)} mottagare.",
            "Servern svarade med ett permanent fel (5xx); brevet skickas inte igen automatiskt.",
            "",
        ]
        lines += [
            f"- {header_safe(email, 320)}: {header_safe(error, 300)}"
            for email, error in report.failed.items()
        ]
        lines += [
            "",
            "Kontrollera adresserna med `bevaka subscribers list`; skicka om med",
            f"`bevaka digest --retry-failed {report.week}`.",
        ]
    message = build_message(
        settings=settings,
        to_name=None,
        to_email=coordinator,
        subject=subject,
        text="\n".join(lines) + "\n",
        html=None,
        message_id=new_message_id(settings, week=report.week, subscriber_id=None),
        date=now,
    )
    results = send_messages(settings.smtp, [message], tls_context=tls_context)
    return bool(results and results[0].ok)


# --- the test mail ------------------------------------------------------------------


def sample_digest(config: Config, *, email: str, now: datetime) -> Digest:
    """A digest with made-up entries, for ``bevaka digest --test`` (nothing from the database)."""
    from datetime import timedelta

    from notifications.digest import make_subject
    from notifications.formatting import days_left, format_date, format_deadline, format_money

    tz = config.settings.tz
    year, week = week_label(now, tz)
    deadline = (
        (now + timedelta(days=20))
        .astimezone(tz)
        .replace(hour=17, minute=0, second=0, microsecond=0)
    )
    opens = (
        (now + timedelta(days=40)).astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    sub = SubscriberView(
        id=0,
        email=email,
        name="Testmottagare",
        department=None,
        topics=(),
        role="representative",
        active=True,
        token_version=1,
    )
    example = Entry(
        call_id=None,
        title="Exempelutlysning: Klimatsmarta skolmåltider (testbrev)",
        url="https://ec.europa.eu/info/funding-tenders/opportunities/portal/",
        programme="LIFE",
        status="open",
        deadline=deadline,
        deadline_text=format_deadline(deadline, tz),
        days_left=days_left(deadline, now, tz),
        opens_at=None,
        opens_text="",
        budget_text=format_money(4_000_000, "EUR"),
        matches=(Match("exempel", "Klimat och miljö", "topic", ("klimat",)),),
    )
    coming = Entry(
        call_id=None,
        title="Exempel: kommande utlysning (testbrev)",
        url="https://www.vinnova.se/",
        programme="Vinnova",
        status="forthcoming",
        deadline=None,
        deadline_text="",
        days_left=None,
        opens_at=opens,
        opens_text=format_date(opens, tz),
        budget_text="",
        mentions=(Link("Exempel på en nyhet", "https://www.vinnova.se/"),),
    )
    return Digest(
        subscriber=sub,
        audience="testmottagaren",
        now=now,
        year=year,
        week=week,
        week_key=week_key(now, tz),
        sections=[
            Section("new", "Nya utlysningar", [example]),
            Section("upcoming", "Kommande", [coming]),
        ],
        subject="[Test] " + make_subject(config, week=week, count=1, audience="testmottagaren"),
        new_count=1,
        unsubscribe_url=None,
        unsubscribe_mailto=f"mailto:{config.settings.digest.coordinator_email}",
        prefs_url=None,
        public_url=config.settings.public_url,
        coordinator_email=config.settings.digest.coordinator_email,
    )


def send_test_digest(
    *, config: Config, email: str, now: datetime, tls_context: ssl.SSLContext | None = None
) -> SendResult | Path:
    """Send the sample digest to ``email`` (or write it to the outbox without an SMTP host).
    Records nothing."""
    settings = config.settings
    digest = sample_digest(config, email=email, now=now)
    message = digest_mail(
        digest,
        settings=settings,
        message_id=new_message_id(settings, week=digest.week_key, subscriber_id=None),
    )
    if not settings.smtp.host:
        return write_outbox(
            settings.digest.outbox_dir, message, stem=f"test_{_file_stem(digest.week_key, email)}"
        )
    return send_messages(settings.smtp, [message], tls_context=tls_context)[0]
