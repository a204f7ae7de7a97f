"""``bevaka run``: the APScheduler 3 service.

Jobs are rebuilt from config at every start: one crawl job per schedule (sources sharing a
schedule are crawled together, each in its own child process; a match follows every crawl),
the weekly digest, and the source-health check. Job defaults: coalesce, one instance at a
time, ``schedule.misfire_grace_seconds``.

Missed runs across a restart: APScheduler's own misfire handling covers a process that was
alive but late; for a server that was *down*, :func:`due_catch_up` compares each job's last
scheduled time with ``JobState`` and runs a job missed within the grace time once at start.
The digest ledger makes a second digest for the same week impossible anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from config.loader import Config
from config.schema import cron_trigger
from scheduler.lock import SCHEDULER_LOCK, LeaseLock, LockHeld, holding, owner_id
from scheduler.logs import event
from scheduler.pipeline import (
    StageResult,
    crawl_stage,
    digest_stage,
    health_stage,
    match_stage,
    record_job,
)
from storage.db import session_scope
from storage.models import JobState

log = logging.getLogger("bevaka.scheduler")

STOP_GRACE_SECONDS = 5


@dataclass(frozen=True)
class JobSpec:
    """A job as configured: id, what it does, and its cron expression."""

    id: str
    description: str
    cron: str
    func: Callable[[datetime], list[StageResult]]
    #: the job's own lease (``job:<id>``): one instance at a time, whoever starts it
    lease_seconds: int = 120

    def trigger(self, tz) -> CronTrigger:
        return cron_trigger(self.cron, timezone=tz)


def job_specs(config: Config, engine: Engine) -> list[JobSpec]:
    """The jobs the configuration asks for."""
    schedule = config.settings.schedule
    by_cron: dict[str, list[str]] = {}
    for source in config.sources.sources:
        if source.enabled:
            by_cron.setdefault(source.schedule or schedule.crawl, []).append(source.key)

    specs: list[JobSpec] = []
    for cron, keys in sorted(by_cron.items(), key=lambda kv: kv[1]):
        job_id = "crawl" if cron == schedule.crawl else f"crawl-{keys[0]}"

        def crawl_then_match(now: datetime, keys: list[str] = keys) -> list[StageResult]:
            return [
                crawl_stage(config, engine, now, keys=keys),
                match_stage(config, engine, now),
                health_stage(config, engine, now),
            ]

        specs.append(
            JobSpec(
                job_id,
                f"crawl {', '.join(keys)}, then match and health alerts",
                cron,
                crawl_then_match,
                lease_seconds=schedule.lock_lease_seconds,
            )
        )
    specs.append(
        JobSpec(
            "digest",
            "weekly digest to every subscriber",
            schedule.digest,
            lambda now: [digest_stage(config, engine, now)],
            lease_seconds=schedule.lock_lease_seconds,
        )
    )
    specs.append(
        JobSpec(
            "health",
            "source-health alerts to the coordinator",
            schedule.health,
            lambda now: [health_stage(config, engine, now)],
            lease_seconds=schedule.lock_lease_seconds,
        )
    )
    return specs


def last_fire_time(trigger: CronTrigger, now: datetime, horizon: timedelta) -> datetime | None:
    """The latest time at or before ``now`` (looking back at most ``horizon``) the trigger fired."""
    last = None
    candidate = trigger.get_next_fire_time(None, now - horizon)
    while candidate is not None and candidate <= now:
        last = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(microseconds=1))
    return last


def due_catch_up(
    spec: JobSpec, *, tz, now: datetime, grace: timedelta, last_run_at: datetime | None
) -> datetime | None:
    """The missed scheduled time to run once now, or None.

    A run is missed when the job's latest scheduled time lies within the grace time and the
    job has not run since it."""
    scheduled = last_fire_time(spec.trigger(tz), now, grace)
    if scheduled is None:
        return None
    if last_run_at is not None and last_run_at >= scheduled:
        return None
    return scheduled


def run_job(spec: JobSpec, engine: Engine, now: datetime | None = None) -> list[StageResult]:
    """Run one job now and record it in JobState (what catch-up looks at). The job holds
    the lease ``job:<id>`` while it runs: when another instance has it (the cron run while
    a catch-up runs, or the other way round; in any process on the database) this one is
    skipped (``job.skipped``) and returns no results."""
    now = now or datetime.now(UTC)
    run_id = uuid.uuid4().hex[:12]
    lock = LeaseLock(engine, f"job:{spec.id}", f"{owner_id()} run {run_id}", spec.lease_seconds)
    try:
        with holding(lock):
            return _run_job(spec, engine, now, run_id)
    except LockHeld as exc:
        event(log, "job.skipped", logging.WARNING, job=spec.id, run=run_id, holder=exc.lease.owner)
        return []


def _run_job(spec: JobSpec, engine: Engine, now: datetime, run_id: str) -> list[StageResult]:
    event(log, "job.start", job=spec.id, run=run_id)
    results = spec.func(now)
    ok = all(r.ok for r in results)
    record_job(
        engine,
        spec.id,
        now,
        StageResult(spec.id, ok, {}, "; ".join(r.error for r in results if r.error) or None),
    )
    event(log, "job.end", logging.INFO if ok else logging.ERROR, job=spec.id, run=run_id, ok=ok)
    return results


def build_scheduler(
    config: Config, engine: Engine, *, scheduler_cls=BackgroundScheduler, run=None
) -> tuple[Any, list[JobSpec]]:
    """An APScheduler with the configured jobs, not started. ``run(spec, engine)`` runs a
    job when it is due (default :func:`run_job`)."""
    tz = config.settings.tz
    scheduler = scheduler_cls(
        timezone=tz,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": config.settings.schedule.misfire_grace_seconds,
        },
    )
    specs = job_specs(config, engine)
    for spec in specs:
        scheduler.add_job(
            run or run_job, spec.trigger(tz), args=[spec, engine], id=spec.id, name=spec.description
        )
    return scheduler, specs


class _Jobs:
    """The service's jobs under a configuration that may be reloaded: before each job and on
    SIGHUP the files are checked (:class:`scheduler.reload.ConfigWatcher`); a new valid
    configuration replaces every job (schedules included), a refused one changes nothing."""

    def __init__(self, scheduler, engine: Engine, watcher, specs: list[JobSpec], due) -> None:
        self.scheduler, self.engine, self.watcher, self.due = scheduler, engine, watcher, due
        self.specs = {s.id: s for s in specs}
        self._lock = threading.Lock()

    def reload(self, reason: str) -> None:
        fresh = self.watcher.check(reason, datetime.now(UTC))
        if fresh is None:
            return
        with self._lock:
            tz = fresh.settings.tz
            for job_id in self.specs:
                with contextlib.suppress(Exception):  # JobLookupError: already gone
                    self.scheduler.remove_job(job_id)
            specs = job_specs(fresh, self.engine)
            for spec in specs:
                self.scheduler.add_job(
                    self.due,
                    spec.trigger(tz),
                    args=[spec, self.engine],
                    id=spec.id,
                    name=spec.description,
                )
            self.specs = {s.id: s for s in specs}
            event(log, "service.jobs", jobs=len(specs), ids=",".join(self.specs))

    def run(self, spec: JobSpec, engine: Engine) -> list[StageResult]:
        self.reload(f"before {spec.id}")
        fresh = self.specs.get(spec.id)
        if fresh is None:  # the reloaded configuration has no such job any more
            event(log, "job.dropped", job=spec.id)
            return []
        return run_job(fresh, engine)


def _last_runs(engine: Engine) -> dict[str, datetime]:
    with session_scope(engine) as session:
        from sqlmodel import select

        return {s.name: s.last_run_at for s in session.exec(select(JobState)).all()}


def catch_up(config: Config, engine: Engine, specs: list[JobSpec], now: datetime) -> list[str]:
    """Run, once, every job whose scheduled time passed while the service was down (within
    the grace time). Returns the ids run."""
    grace = timedelta(seconds=config.settings.schedule.misfire_grace_seconds)
    last = _last_runs(engine)
    ran = []
    for spec in specs:
        missed = due_catch_up(
            spec, tz=config.settings.tz, now=now, grace=grace, last_run_at=last.get(spec.id)
        )
        if missed is not None:
            event(log, "job.catch_up", job=spec.id, scheduled=missed.isoformat())
            if run_job(spec, engine, now):  # [] when another instance is running it
                ran.append(spec.id)
    return ran


def _terminate_children() -> None:
    """Stop crawl child processes (they hold no transaction the parent needs)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=3)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


def run_service(config: Config, engine: Engine, *, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set). Exit status 0 on a clean stop."""
    stop = stop or threading.Event()
    lease_seconds = config.settings.schedule.lock_lease_seconds
    lock = LeaseLock(engine, SCHEDULER_LOCK, owner_id(), lease_seconds)
    try:
        lock.acquire(datetime.now(UTC))
    except LockHeld as exc:
        raise SystemExit(f"error: {exc}") from None

    hangup = threading.Event()

    def _on_signal(signum, _frame):
        event(log, "service.signal", signal=signal.Signals(signum).name)
        if signum == signal.SIGHUP:
            hangup.set()
        else:
            stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGHUP, _on_signal)

    from scheduler.reload import ConfigWatcher

    jobs: _Jobs | None = None

    def _due(spec: JobSpec, engine: Engine) -> list[StageResult]:
        return jobs.run(spec, engine)  # the config is checked for changes first

    scheduler, specs = build_scheduler(config, engine, run=_due)
    jobs = _Jobs(scheduler, engine, ConfigWatcher(config), specs, _due)
    lost = threading.Event()

    def _renew() -> None:
        if not lock.renew(datetime.now(UTC)):
            event(log, "service.lease_lost", logging.ERROR)
            lost.set()
            stop.set()

    scheduler.add_job(
        _renew,
        IntervalTrigger(seconds=max(1, lease_seconds // 3)),
        id="lease-renewal",
        name="renew the scheduler lock",
    )
    event(log, "service.start", owner=lock.owner, jobs=len(specs), pid=os.getpid())
    scheduler.start()
    catch_up_thread = threading.Thread(
        target=catch_up,
        args=(config, engine, specs, datetime.now(UTC)),
        name="catch-up",
        daemon=True,
    )
    catch_up_thread.start()
    try:
        while not stop.wait(0.5):
            if hangup.is_set():
                hangup.clear()
                jobs.reload("SIGHUP")
    finally:
        event(log, "service.stopping")
        scheduler.shutdown(wait=False)
        _terminate_children()
        # Let a running digest finish its current message (each is its own transaction);
        # whatever is still running after the grace is abandoned: uncommitted work rolls back.
        deadline = datetime.now(UTC) + timedelta(seconds=STOP_GRACE_SECONDS)
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join(max(0.0, (deadline - datetime.now(UTC)).total_seconds()))
        if not lost.is_set():
            lock.release()
        engine.dispose()
        event(log, "service.stopped")
    return 1 if lost.is_set() else 0
