"""Benchmark 4: 1,000 weekly digests of ~20 calls each, rendered and sent to a local aiosmtpd.

* ours: ``notifications.ledger.run_digest`` (select each subscriber's calls, build, render
  HTML + text with inlined CSS, ledger rows, send over aiosmtplib with the configured
  concurrency and messages per connection, settle each delivery); timed around the call.
  The database (shipped needs.yaml keys, 20 tagged open calls per key, 1,000 subscribers
  each following one key) is seeded before the clock starts.
* baseline: aiosmtplib alone sending the very same messages (the bytes the server received
  from ours, so the same sizes) with the same concurrency and messages per connection.
"""

from __future__ import annotations

import asyncio
import pickle
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Result, checked, ratio, run_child

TARGET = 1.5
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 07:00 in Stockholm, week 49
CALLS_PER_KEY = 20


def _config(database_url: str, smtp_port: int, workdir: str):
    from config.loader import DEFAULT_CONFIG_DIR, Config, load_config
    from config.schema import Settings, SourceEntry, SourcesFile

    shipped = load_config(DEFAULT_CONFIG_DIR)
    base = Settings()
    settings = base.model_copy(
        update={
            "database_url": database_url,
            "public_url": "https://bevaka.lidkoping.se",
            "secret_key": "bench-secret-key-not-a-real-one-7Hx2Qm9Zp4",
            "smtp": base.smtp.model_copy(
                update={"host": "127.0.0.1", "port": smtp_port, "security": "none"}
            ),
            "digest": base.digest.model_copy(update={"outbox_dir": str(Path(workdir) / "outbox")}),
        }
    )
    sources = SourcesFile(
        sources=[
            SourceEntry(
                key="eu_portal",
                name="EU Funding & Tenders Portal",
                kind="eu_portal",
                url="https://api.tech.ec.europa.eu/search-api/prod/rest/search",
            )
        ]
    )
    return Config(Path(workdir), settings, sources, shipped.needs)


def seed(engine, needs, subscribers: int, seed_value: int = 4) -> dict[str, int]:
    """Calls tagged with every audience key of ``needs`` and subscribers following one key."""
    from bench.vocab import TextGen
    from storage.db import session_scope
    from storage.models import Call, Subscriber, Subscription, Tag

    rng = random.Random(seed_value)
    text = TextGen(seed_value)
    departments = [a.key for a in needs.departments]
    topics = [a.key for a in needs.topics]
    keys = departments + topics
    calls = 0
    with session_scope(engine) as session:
        for k_index, key in enumerate(keys):
            for i in range(CALLS_PER_KEY):
                swedish = i % 3 == 0
                days = rng.choice([5, 12, 25]) if i % 7 == 0 else rng.randint(45, 300)
                deadline = (NOW + timedelta(days=days)).replace(hour=15, minute=0)
                ident = f"HORIZON-CL{k_index % 6 + 1}-2027-{k_index:02d}-{i:02d}"
                call = Call(
                    source="eu_portal" if not swedish else "tillvaxtverket",
                    external_id=ident,
                    url=f"https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/topic-details/{ident}",
                    title=text.title(swedish),
                    summary=text.paragraph(swedish, 2),
                    description=text.paragraph(swedish, 8),
                    keywords=text.keywords(swedish),
                    programme=rng.choice(["HORIZON", "ERASMUS", "LIFE", "CERV", "ERUF"]),
                    identifier=None if swedish else ident,
                    status="open",
                    opens_at=NOW - timedelta(days=20),
                    deadlines=[deadline.isoformat()],
                    next_deadline=deadline,
                    budget=float(rng.choice([2, 5, 10, 20]) * 1_000_000),
                    currency="EUR" if not swedish else "SEK",
                    language="sv" if swedish else "en",
                    first_seen_at=NOW - timedelta(days=2),
                    last_seen_at=NOW - timedelta(days=2),
                    updated_at=NOW - timedelta(days=2),
                )
                session.add(call)
                session.flush()
                calls += 1
                session.add(
                    Tag(
                        call_id=call.id,
                        key=key,
                        kind="department" if key in departments else "topic",
                        score=3.0 + rng.random() * 6,
                        reasons=[
                            {"need": key, "term": w, "field": "title", "snippet": f"… {w} …"}
                            for w in text.keywords(swedish, 3)
                        ],
                        created_at=NOW - timedelta(days=2),
                    )
                )
        for n in range(subscribers):
            key = keys[n % len(keys)]
            sub = Subscriber(
                email=f"person{n:04d}@lidkoping.se",
                name=f"Person {n:04d}",
                department=key if key in departments else None,
                role="representative",
                active=True,
                created_at=NOW - timedelta(days=60),
            )
            session.add(sub)
            session.flush()
            if key in topics:
                session.add(Subscription(subscriber_id=sub.id, topic=key))
    return {"calls": calls, "keys": len(keys)}


def ours_digest(subscribers: int, smtp_port: int) -> dict[str, Any]:
    """Worker: seed a fresh database, then time run_digest sending to the sink."""
    from bench.dbutil import fresh_sqlite
    from notifications.ledger import run_digest
    from storage.db import make_engine

    with tempfile.TemporaryDirectory(prefix="bevaka-bench-digest-") as workdir:
        database_url = fresh_sqlite(Path(workdir) / "digest.sqlite3")
        config = _config(database_url, smtp_port, workdir)
        engine = make_engine(database_url)
        seeded = seed(engine, config.needs, subscribers)
        started = time.perf_counter()
        report = run_digest(config=config, engine=engine, now=NOW, send=True)
        seconds = time.perf_counter() - started
        engine.dispose()
    return {
        "seconds": seconds,
        "sent": len(report.sent),
        "empty": len(report.empty),
        "failed": len(report.failed),
        "pending": len(report.pending),
        "concurrency": config.settings.smtp.concurrency,
        "messages_per_connection": config.settings.smtp.messages_per_connection,
        **seeded,
    }


async def _send_all(messages, port: int, concurrency: int, per_connection: int) -> int:
    import aiosmtplib

    queue: asyncio.Queue = asyncio.Queue()
    for item in messages:
        queue.put_nowait(item)
    sent = 0

    async def worker() -> None:
        nonlocal sent
        client = None
        on_connection = 0
        while not queue.empty():
            mail_from, rcpt_tos, content = queue.get_nowait()
            if client is None:
                client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
                await client.connect()
                on_connection = 0
            await client.sendmail(mail_from, rcpt_tos, content)
            sent += 1
            on_connection += 1
            if on_connection >= per_connection:
                await client.quit()
                client = None
        if client is not None:
            await client.quit()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(messages)))))
    return sent


def baseline_digest(
    messages_file: str, smtp_port: int, concurrency: int, per_connection: int
) -> dict[str, Any]:
    """Worker: aiosmtplib sending the pre-rendered messages."""
    with open(messages_file, "rb") as fh:
        messages = pickle.load(fh)  # our own file
    started = time.perf_counter()
    sent = asyncio.run(_send_all(messages, smtp_port, concurrency, per_connection))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "sent": sent, "bytes": sum(len(m[2]) for m in messages)}


def run(quick: bool, log) -> list[Result]:
    from bench.servers import SmtpSink

    subscribers = 100 if quick else 1000
    log(f"digests: {subscribers} subscribers …")
    with SmtpSink(keep=True) as sink, tempfile.TemporaryDirectory(prefix="bevaka-bench-") as tmp:
        ours_run = run_child(
            "bench.digests:ours_digest",
            {"subscribers": subscribers, "smtp_port": sink.port},
        )
        ours = checked(ours_run, "digests")
        received = list(sink.messages_with_envelope)
        log(
            f"digests: ours {ours['seconds']:.2f} s, sent {ours['sent']}, server got {len(received)}"
        )
        path = Path(tmp) / "messages.pickle"
        with path.open("wb") as fh:
            pickle.dump(received, fh)
        sink.reset()
        base_run = run_child(
            "bench.digests:baseline_digest",
            {
                "messages_file": str(path),
                "smtp_port": sink.port,
                "concurrency": ours["concurrency"],
                "per_connection": ours["messages_per_connection"],
            },
        )
        base = checked(base_run, "digest baseline")
        log(f"digests: baseline {base['seconds']:.2f} s, sent {base['sent']}")
    sizes = [len(m[2]) for m in received]
    r = ratio(ours["seconds"], base["seconds"])
    correct = ours["sent"] == subscribers and len(received) == subscribers
    return [
        Result(
            name="digests",
            title="Weekly digests rendered and sent",
            ours=round(ours["seconds"], 3),
            baseline=round(base["seconds"], 3),
            ratio=r,
            unit="s",
            target=f"≤ {TARGET} × baseline",
            passed=bool(correct and r is not None and r <= TARGET),
            peak_memory_mb=ours_run.peak_tree_mb,
            ours_label="run_digest: select, render, ledger, send (aiosmtplib)",
            baseline_label="aiosmtplib sending the same bytes, same concurrency",
            details={
                **{k: v for k, v in ours.items() if not k.startswith("_")},
                "subscribers": subscribers,
                "messages_received": len(received),
                "mean_message_kb": round(sum(sizes) / max(1, len(sizes)) / 1024, 1),
                "digests_per_second": round(ours["sent"] / ours["seconds"], 1),
                "baseline_sent": base["sent"],
                "correct": correct,
            },
        )
    ]
