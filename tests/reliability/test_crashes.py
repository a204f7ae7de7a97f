"""Crashes: ``kill -9`` (of the whole process group, as systemd would) at seeded points of
a crawl, a match and a digest run of the real CLI (``python -m cli.app`` in a
subprocess), then a re-run. What must hold afterwards:

* crawl: every call stored exactly once, the ones stored before the kill unchanged
  (first seen where they were), the database intact;
* match: the tags are exactly what an uninterrupted run gives (a dry run finds nothing to
  change);
* digest: every subscriber has exactly one digest for the week; only the message in flight
  at the kill may arrive twice, and then with the same Message-ID.

Kill points: the crawl is killed when the fault server sees the k-th detail-page request,
the digest when the SMTP server receives the k-th message (before it answers), both
deterministic; the match (one transaction, no I/O to hook) after a seeded random delay,
so it lands before, inside or after the transaction, and the checks hold for each."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from faults import Body, FaultServer, SmtpFaults, SmtpFaultServer
from rel_support import rows, write_cli_config
from sqlalchemy import text
from sqlmodel import Session

from config.loader import load_config
from matching.service import run_match
from notifications.example import seed_example
from storage.db import make_engine, session_scope
from storage.models import Call, CrawlRun, Delivery, Subscriber, Tag
from storage.records import CallData
from storage.repo import upsert_call

pytestmark = pytest.mark.slow

SEED = 20261126
ITEMS = 24
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


class Killable:
    """``bevaka ...`` in its own process group, killed with SIGKILL on demand."""

    def __init__(self, bevaka, *args: str, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.app", *args],
            env={**bevaka.env, **(env or {})},
            cwd=bevaka.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.killed = False

    def kill(self) -> None:
        if not self.killed:
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self, timeout: float = 240) -> int:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.proc.communicate()
        self.output = out + err
        return self.proc.returncode


def _integrity(db_url: str) -> None:
    engine = make_engine(db_url)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
    engine.dispose()


# --- crawl -------------------------------------------------------------------------------


def _listing(n: int) -> str:
    items = "".join(
        f'<article class="call"><h2><a href="/crash/detail/{i}">Utlysning nummer {i} för '
        "kommuner</a></h2></article>"
        for i in range(n)
    )
    return f"<html><body>{items}</body></html>"


def _detail(i: int) -> str:
    return (
        f"<html><body><h1>Utlysning nummer {i} för kommuner</h1>"
        f"<div class='fakta'>Sista ansökningsdag {1 + i % 27} mars 2027</div></body></html>"
    )


CRAWL_KILLS = [
    random.Random(SEED).randrange(2, 8),
    random.Random(SEED + 1).randrange(12, ITEMS - 2),
]


@pytest.mark.parametrize("kill_at", CRAWL_KILLS)
def test_crawl_killed_then_rerun_loses_and_duplicates_nothing(
    bevaka, config_dir, db_url, kill_at: int
):
    engine = make_engine(db_url)
    with FaultServer() as server:
        server.route("/crash/list.html", Body(_listing(ITEMS)))
        for i in range(ITEMS):
            server.route(f"/crash/detail/{i}", Body(_detail(i)))
        write_cli_config(
            config_dir,
            sources=[
                {
                    "key": "crash",
                    "name": "Crash",
                    "kind": "listing",
                    "url": server.url("/crash/list.html"),
                    "options": {"item": "article.call", "detail": {"deadline": ".fakta"}},
                }
            ],
            crawl={"concurrent_requests_per_domain": 2},
        )
        victim = Killable(bevaka, "crawl")
        server.on_request.append(
            lambda _m, path, _hit: (
                victim.kill()
                if path.startswith("/crash/detail/")
                and sum(v for p, v in server.counts.items() if p.startswith("/crash/detail/"))
                >= kill_at
                else None
            )
        )
        victim.wait()
        assert victim.killed and victim.proc.returncode == -signal.SIGKILL
        before = {c.external_id: (c.id, c.first_seen_at, c.title) for c in rows(engine, Call)}
        assert len(before) < ITEMS  # the kill did cut the crawl short
        server.on_request.clear()

        again = bevaka("crawl")
        assert again.returncode == 0, again.stdout + again.stderr

    calls = rows(engine, Call)
    ids = Counter(c.external_id for c in calls)
    assert len(ids) == ITEMS and set(ids.values()) == {1}, ids
    after = {c.external_id: (c.id, c.first_seen_at, c.title) for c in calls}
    for external_id, kept in before.items():
        assert after[external_id] == kept  # stored before the kill: kept as it was
    assert all(c.deadlines for c in calls)
    runs = sorted(rows(engine, CrawlRun), key=lambda r: r.id)
    assert runs[-1].outcome == "ok" and runs[-1].seen == ITEMS
    assert runs[0].outcome in ("running", "failed")  # the killed run never claims success
    _integrity(db_url)
    engine.dispose()


# --- match -------------------------------------------------------------------------------

WORDS = [
    "klimat",
    "skola",
    "digitalisering",
    "kultur",
    "ungdom",
    "energi",
    "vatten",
    "äldreomsorg",
    "integration",
    "landsbygd",
    "innovation",
    "trafik",
]


def _seed_calls(engine, count: int) -> None:
    rnd = random.Random(SEED)
    with session_scope(engine) as session:
        for n in range(count):
            words = " ".join(rnd.sample(WORDS, 3))
            upsert_call(
                session=session,
                now=NOW,
                data=CallData(
                    source="seeded",
                    external_id=f"c{n}",
                    url=f"https://example.org/c{n}",
                    title=f"Utlysning {n}: {words}",
                    summary=f"Stöd för {words} i kommuner och regioner.",
                    deadlines=[NOW + timedelta(days=30 + n % 90)],
                ),
            )


@pytest.mark.parametrize(
    "delay", [round(random.Random(SEED + k).uniform(0.5, 4.0), 2) for k in range(2)]
)
def test_match_killed_then_rerun_gives_the_same_tags(bevaka, config_dir, db_url, delay: float):
    engine = make_engine(db_url)
    _seed_calls(engine, 600)
    victim = Killable(bevaka, "match")
    try:
        victim.proc.wait(timeout=delay)  # finished by itself before the kill point
    except subprocess.TimeoutExpired:
        victim.kill()
    victim.wait()
    tags_after_kill = len(rows(engine, Tag))
    again = bevaka("match")
    assert again.returncode == 0, again.stdout + again.stderr
    config = load_config(config_dir)
    with Session(engine) as session:
        check = run_match(
            session=session, needs=config.needs, now=NOW, all_calls=True, dry_run=True
        )
        session.rollback()
    assert check.changes == [], check.changes[:5]
    tags = rows(engine, Tag)
    assert tags and len(tags) >= tags_after_kill
    assert len({(t.call_id, t.key) for t in tags}) == len(tags)
    _integrity(db_url)
    engine.dispose()


# --- digest ------------------------------------------------------------------------------

SUBSCRIBERS = 10


DIGEST_KILLS = [
    (kill_at, 1) for kill_at in sorted(random.Random(SEED + 7).sample(range(1, SUBSCRIBERS + 2), 2))
] + [(random.Random(SEED + 8).randrange(1, SUBSCRIBERS), 4)]


@pytest.mark.parametrize("kill_at, concurrency", DIGEST_KILLS)
def test_digest_killed_then_rerun_sends_everyone_once(
    bevaka, config_dir, db_url, kill_at: int, concurrency: int
):
    """With one SMTP connection at most the message in flight goes twice; with
    ``smtp.concurrency`` N (default 4) up to N messages are in flight at the kill and each
    may go twice, always with its own Message-ID (see docs/reliability.md)."""
    from notifications.example import EXAMPLE_NOW

    write_cli_config(config_dir, smtp={"concurrency": concurrency})
    engine = make_engine(db_url)
    with Session(engine) as session:
        seed_example(session, EXAMPLE_NOW)
        for n in range(SUBSCRIBERS):
            session.add(
                Subscriber(
                    email=f"person{n}@lidkoping.se",
                    name=f"Person {n}",
                    role="coordinator",
                    created_at=EXAMPLE_NOW - timedelta(days=60),
                )
            )
        session.commit()
    everyone = [s.email for s in rows(engine, Subscriber)]
    as_of = ("--as-of", "2026-11-23")
    holder: dict[str, Killable] = {}
    faults = SmtpFaults(
        on_message=lambda count: holder["victim"].kill() if count == kill_at else None
    )
    with SmtpFaultServer(faults) as smtp:
        env = {
            "BEVAKA_SMTP_HOST": "127.0.0.1",
            "BEVAKA_SMTP_PORT": str(smtp.port),
            "BEVAKA_SMTP_SECURITY": "none",
        }
        holder["victim"] = Killable(
            bevaka, "digest", "--send", *as_of, env={**env, "PYTHONUNBUFFERED": "1"}
        )
        holder["victim"].wait()
        assert holder["victim"].killed
        smtp.faults.on_message = None
        again = bevaka("digest", "--send", *as_of, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        third = bevaka("digest", "--send", *as_of, env=env)
        assert third.returncode == 0 and "already done" in third.stdout
        received = list(smtp.messages)

    by_address: dict[str, list[str]] = {}
    for message in received:
        by_address.setdefault(message.to, []).append(message.message_id)
    assert sorted(by_address) == sorted(everyone)  # nobody missed
    doubles = {a: ids for a, ids in by_address.items() if len(ids) > 1}
    assert len(doubles) <= concurrency, doubles  # at most the messages in flight at the kill
    for ids in doubles.values():
        assert len(ids) == 2 and ids[0] == ids[1], ids  # ... and then with its Message-ID
    deliveries = rows(engine, Delivery)
    assert len(deliveries) == len(everyone) and {d.status for d in deliveries} == {"sent"}
    _integrity(db_url)
    engine.dispose()
