"""The scheduler: jobs from config, catch-up of missed runs with a fake clock, the lease lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from config.loader import load_config
from scheduler.lock import LeaseLock, LockHeld
from scheduler.pipeline import StageResult
from scheduler.service import (
    JobSpec,
    build_scheduler,
    catch_up,
    due_catch_up,
    job_specs,
    last_fire_time,
)

TZ = ZoneInfo("Europe/Stockholm")


def _config(config_dir, extra_sources: str = ""):
    if extra_sources:
        path = config_dir / "sources.yaml"
        path.write_text(path.read_text(encoding="utf-8") + extra_sources, encoding="utf-8")
    return load_config(config_dir)


def test_scheduler_is_built_from_config_without_starting(config_dir, engine):
    config = _config(
        config_dir,
        "\n  - key: weekly_extra\n    name: Extra\n    kind: feed\n    url: https://example.org/feed.xml\n"
        '    schedule: "15 5 * * sat"\n',
    )
    scheduler, specs = build_scheduler(config, engine, scheduler_cls=BackgroundScheduler)
    assert not scheduler.running
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert {"crawl", "crawl-weekly_extra", "digest", "health"} <= set(jobs)
    digest = jobs["digest"]
    assert isinstance(digest.trigger, CronTrigger)
    assert str(digest.trigger.timezone) == "Europe/Stockholm"
    # Job defaults are applied when the scheduler starts; they are set on the scheduler.
    defaults = scheduler._job_defaults
    assert defaults["coalesce"] is True
    assert defaults["max_instances"] == 1
    assert defaults["misfire_grace_time"] == config.settings.schedule.misfire_grace_seconds
    # Monday 07:00 local time, and weekdays 06:00 for the default crawl.
    monday = datetime(2026, 11, 30, 7, 0, tzinfo=TZ)
    assert digest.trigger.get_next_fire_time(None, monday - timedelta(days=3)) == monday
    crawl_next = jobs["crawl"].trigger.get_next_fire_time(
        None, datetime(2026, 11, 28, 12, 0, tzinfo=TZ)
    )
    assert crawl_next == datetime(2026, 11, 30, 6, 0, tzinfo=TZ)
    extra_next = jobs["crawl-weekly_extra"].trigger.get_next_fire_time(None, monday)
    assert extra_next == datetime(2026, 12, 5, 5, 15, tzinfo=TZ)
    crawl_spec = next(s for s in specs if s.id == "crawl")
    assert "weekly_extra" not in crawl_spec.description


def _spec(calls: list[datetime], cron: str = "0 7 * * mon") -> JobSpec:
    def func(now: datetime) -> list[StageResult]:
        calls.append(now)
        return [StageResult("digest", True)]

    return JobSpec("digest", "test digest", cron, func)


def test_last_fire_time_looks_back_within_the_horizon():
    trigger = CronTrigger.from_crontab("0 7 * * mon", timezone=TZ)
    now = datetime(2026, 11, 30, 9, 30, tzinfo=TZ)
    assert last_fire_time(trigger, now, timedelta(hours=6)) == datetime(
        2026, 11, 30, 7, 0, tzinfo=TZ
    )
    assert last_fire_time(trigger, now, timedelta(hours=2)) is None


@pytest.mark.parametrize(
    "back_at,last_run,expected",
    [
        # Down over Monday 07:00, back at 09:00 within the 6 h grace: run once.
        (datetime(2026, 11, 30, 9, 0), None, datetime(2026, 11, 30, 7, 0)),
        # Already ran this Monday (before the restart): nothing.
        (datetime(2026, 11, 30, 9, 0), datetime(2026, 11, 30, 7, 0, 5), None),
        # Back too late (beyond the grace): skipped, not sent on Monday evening.
        (datetime(2026, 11, 30, 14, 0), None, None),
        # Last week's run does not count for this week.
        (
            datetime(2026, 11, 30, 8, 0),
            datetime(2026, 11, 23, 7, 0, 2),
            datetime(2026, 11, 30, 7, 0),
        ),
    ],
)
def test_due_catch_up_with_a_fake_clock(back_at, last_run, expected):
    spec = _spec([])
    due = due_catch_up(
        spec,
        tz=TZ,
        now=back_at.replace(tzinfo=TZ),
        grace=timedelta(hours=6),
        last_run_at=last_run.replace(tzinfo=TZ) if last_run else None,
    )
    assert due == (expected.replace(tzinfo=TZ) if expected else None)


def test_catch_up_runs_a_missed_digest_once_and_never_twice(config_dir, engine):
    config = load_config(config_dir)
    calls: list[datetime] = []
    spec = _spec(calls)
    back = datetime(2026, 11, 30, 9, 0, tzinfo=TZ)
    assert catch_up(config, engine, [spec], back) == ["digest"]
    assert catch_up(config, engine, [spec], back + timedelta(minutes=5)) == []
    # A second restart later the same morning: still only the one run.
    assert catch_up(config, engine, [spec], back + timedelta(hours=1)) == []
    assert calls == [back]
    # Next Monday it is due again.
    assert catch_up(config, engine, [spec], back + timedelta(days=7)) == ["digest"]


def test_job_specs_run_functions_directly(config_dir, engine):
    """The digest and health jobs' functions run directly (without the scheduler) and record
    their outcome; with no subscribers and no runs they succeed and do nothing."""
    config = load_config(config_dir)
    specs = {s.id: s for s in job_specs(config, engine)}
    now = datetime(2026, 11, 30, 7, 0, tzinfo=TZ)
    (health,) = specs["health"].func(now)
    assert health.ok, health.error
    assert health.summary == {"alerts": 0}


def test_lease_lock(engine):
    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    first = LeaseLock(engine, "scheduler", "host-a pid 1", 60)
    second = LeaseLock(engine, "scheduler", "host-b pid 2", 60)
    first.acquire(now)
    with pytest.raises(LockHeld) as info:
        second.acquire(now + timedelta(seconds=30))
    assert "host-a pid 1" in str(info.value)
    assert first.renew(now + timedelta(seconds=40))
    with pytest.raises(LockHeld):
        second.acquire(now + timedelta(seconds=90))  # renewed at +40 → valid until +100
    # The first holder crashes (stops renewing): after its lease runs out the second takes over.
    second.acquire(now + timedelta(seconds=101))
    assert not first.renew(now + timedelta(seconds=102))
    second.release()
    first.acquire(now + timedelta(seconds=103))


@pytest.mark.storage
def test_a_catch_up_never_overlaps_the_cron_run_of_the_same_job(config_dir, engine, caplog):
    """The cron run of `crawl` is running (started by a real APScheduler, held inside the job)
    when the start-up catch-up wants the same job: the catch-up is skipped (job.skipped), so
    there are never two job.start without a job.end between. Before the job lease the two
    ran at once. Then, with the cron run over, a catch-up runs again."""
    import logging
    import threading

    from scheduler.service import run_job

    config = load_config(config_dir)
    inside, gate = threading.Event(), threading.Event()
    calls: list[datetime] = []

    def crawl(now: datetime) -> list[StageResult]:
        calls.append(now)
        inside.set()
        gate.wait(30)
        return [StageResult("crawl", True)]

    spec = JobSpec("crawl", "test crawl", "*/5 * * * *", crawl, lease_seconds=60)
    back = datetime(2026, 11, 30, 9, 1, tzinfo=TZ)
    caplog.set_level(logging.INFO, logger="bevaka.scheduler")
    scheduler = BackgroundScheduler(timezone=TZ)
    scheduler.add_job(run_job, "date", run_date=datetime.now(UTC), args=[spec, engine, back])
    scheduler.start()
    try:
        assert inside.wait(30), "the cron run never started"
        assert catch_up(config, engine, [spec], back) == []
    finally:
        gate.set()
        scheduler.shutdown(wait=True)
    assert calls == [back]
    events = [r.getMessage().split()[0] for r in caplog.records if "job=crawl" in r.getMessage()]
    assert events == ["event=job.start", "event=job.catch_up", "event=job.skipped", "event=job.end"]
    # the lease was released with the cron run: the job can run again
    later = back + timedelta(minutes=5)
    gate.set()
    assert run_job(spec, engine, later) and calls == [back, later]


def test_a_lease_of_a_killed_process_here_is_taken_over_at_once(engine):
    """A job or the scheduler killed with kill -9 leaves its lease; on this host its process
    is gone, so the next start need not wait for the lease to run out."""
    import socket
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    LeaseLock(engine, "job:crawl", f"{socket.gethostname()} pid {dead.pid} run x", 120).acquire(now)
    LeaseLock(engine, "job:crawl", "host-b pid 2", 120).acquire(now + timedelta(seconds=1))
    with pytest.raises(LockHeld):  # host-b is alive as far as this host can tell
        LeaseLock(engine, "job:crawl", "host-c pid 3", 120).acquire(now + timedelta(seconds=2))


@pytest.mark.parametrize(
    "cron,fires_on",
    [
        ("0 7 * * 1", ["Mon"]),  # standard cron: 1 is Monday (APScheduler's own 1 is Tuesday)
        ("0 7 * * 0", ["Sun"]),
        ("0 7 * * 7", ["Sun"]),
        ("0 7 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0 7 * * 5-7", ["Fri", "Sat", "Sun"]),
        ("0 7 * * 0,6", ["Sat", "Sun"]),
        ("0 7 * * */2", ["Tue", "Thu", "Sat", "Sun"]),
        ("0 7 * * mon", ["Mon"]),
        ("0 7 * * *", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    ],
)
def test_cron_weekdays_mean_what_standard_cron_means(cron, fires_on):
    from config.schema import cron_trigger

    trigger = cron_trigger(cron, timezone=TZ)
    start = datetime(2026, 11, 29, 12, 0, tzinfo=TZ)  # a Sunday noon: the week after it
    fires, previous = [], None
    moment = start
    while moment < start + timedelta(days=7):
        moment = trigger.get_next_fire_time(previous, moment)
        if moment >= start + timedelta(days=7):
            break
        fires.append(moment)
        previous, moment = moment, moment + timedelta(seconds=1)
    assert sorted({f.strftime("%a") for f in fires}, key=WEEK.index) == fires_on
    assert all((f.hour, f.minute) == (7, 0) for f in fires)


WEEK = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@pytest.mark.parametrize("cron", ["0 7 * * 8", "0 7 * * 5-1", "0 7 * * 1/0", "0 7 * *"])
def test_a_bad_cron_is_refused_with_its_text(cron):
    from config.schema import check_cron

    with pytest.raises(ValueError, match="cron expression"):
        check_cron(cron)
