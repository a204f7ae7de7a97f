"""The stages the scheduler and ``bevaka run-once``/``demo`` run: crawl → match → digest,
plus source-health alerts. Each stage catches its own failure, logs it, records it in
``JobState`` and reports it; a failing stage never hides the others' results."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from config.loader import Config
from scheduler.logs import event
from storage.db import session_scope
from storage.models import JobState

log = logging.getLogger("bevaka.pipeline")


@dataclass
class StageResult:
    name: str
    ok: bool
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def line(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.summary.items())
        status = "ok" if self.ok else f"FAILED: {self.error}"
        return f"{self.name}: {status}" + (f" ({parts})" if parts else "")


def record_job(engine: Engine, name: str, now: datetime, result: StageResult) -> None:
    with session_scope(engine) as session:
        state = session.get(JobState, name) or JobState(name=name, last_run_at=now)
        state.last_run_at = now
        state.last_outcome = "ok" if result.ok else "failed"
        state.detail = result.line()[:2000]
        session.add(state)


def _guard(name: str, func: Callable[[], dict[str, Any]], run_id: str | None = None) -> StageResult:
    event(log, "stage.start", stage=name, run=run_id)
    try:
        summary, ok, error = func(), True, None
        if isinstance(summary, tuple):  # (summary, ok, error) from stages with partial failure
            summary, ok, error = summary
    except Exception as exc:  # a stage failure is reported, never fatal to others
        log.error("stage %s crashed:\n%s", name, traceback.format_exc())
        summary, ok, error = {}, False, f"{exc.__class__.__name__}: {exc}"
    event(
        log,
        "stage.end",
        logging.INFO if ok else logging.ERROR,
        stage=name,
        run=run_id,
        ok=ok,
        error=error,
        **summary,
    )
    return StageResult(name, ok, summary, error)


def crawl_stage(
    config: Config,
    engine: Engine,
    now: datetime,
    *,
    keys: list[str] | None = None,
    settings_overrides: dict[str, Any] | None = None,
    progress: Any = None,
    run_id: str | None = None,
) -> StageResult:
    def run():
        from crawler.runner import crawl_sources

        results = crawl_sources(
            config=config,
            keys=keys,
            database_url=config.settings.database_url,
            now=now,
            settings_overrides=settings_overrides,
            progress=progress,
        )
        failed = [r.source for r in results if r.outcome == "failed"]
        summary = {
            "sources": len(results),
            "sources_ok": sum(1 for r in results if r.outcome == "ok"),
            "empty": sum(1 for r in results if r.outcome == "empty"),
            "failed": len(failed),
            "new": sum(r.new for r in results),
            "changed": sum(r.changed for r in results),
        }
        return summary, not failed, (f"failed sources: {', '.join(failed)}" if failed else None)

    return _guard("crawl", run, run_id)


def match_stage(
    config: Config,
    engine: Engine,
    now: datetime,
    *,
    all_calls: bool = False,
    run_id: str | None = None,
) -> StageResult:
    def run():
        from matching.service import run_match
        from storage.repo import refresh_statuses

        with session_scope(engine) as session:
            closed = refresh_statuses(session=session, now=now)
            report = run_match(session=session, needs=config.needs, now=now, all_calls=all_calls)
        return {
            "status_changes": len(closed),
            "calls_matched": report.checked,
            "tagged": report.tagged,
            "tags_added": report.added,
            "tags_removed": report.removed,
        }

    return _guard("match", run, run_id)


def digest_stage(
    config: Config, engine: Engine, now: datetime, *, send: bool = True, run_id: str | None = None
) -> StageResult:
    def run():
        from notifications.ledger import run_digest

        report = run_digest(config=config, engine=engine, now=now, send=send)
        summary = {
            "sent": len(report.sent),
            "written": len(report.written),
            "already": len(report.already),
            "elsewhere": len(report.elsewhere),  # being sent by another run at the time
            "empty": len(report.empty),
            "failed": len(report.failed),
            "pending": len(report.pending),
        }
        if report.ok:
            return summary, True, None
        # The distinct reasons (not the addresses) belong in the operator's log line.
        reasons = sorted({*report.failed.values(), *report.pending.values()})
        return summary, False, f"{report.summary()}: {'; '.join(reasons[:3])}"

    return _guard("digest", run, run_id)


def health_stage(
    config: Config, engine: Engine, now: datetime, *, run_id: str | None = None
) -> StageResult:
    def run():
        from scheduler.alerts import send_health_alerts

        sent = send_health_alerts(config=config, engine=engine, now=now)
        return {"alerts": len(sent)}

    return _guard("health", run, run_id)


def run_once(
    config: Config,
    engine: Engine,
    now: datetime,
    *,
    send: bool = True,
    settings_overrides: dict[str, Any] | None = None,
    progress: Any = None,
    run_id: str | None = None,
) -> list[StageResult]:
    """crawl → match → health alerts → digest, each recorded; later stages run even when an
    earlier one failed (they work on what is stored)."""
    results = [
        crawl_stage(
            config,
            engine,
            now,
            settings_overrides=settings_overrides,
            progress=progress,
            run_id=run_id,
        ),
        match_stage(config, engine, now, run_id=run_id),
        health_stage(config, engine, now, run_id=run_id),
        digest_stage(config, engine, now, send=send, run_id=run_id),
    ]
    for result in results:
        record_job(engine, f"run-once:{result.name}", now, result)
    return results
