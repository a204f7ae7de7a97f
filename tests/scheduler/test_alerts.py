"""Source-health alerts: one mail when a source starts failing or turns empty, one when it
recovers; never one per run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

from sqlmodel import select

from config.loader import load_config
from scheduler.alerts import send_health_alerts
from storage.db import session_scope
from storage.models import Alert, CrawlRun

T0 = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)

SOURCES = """sources:
  - key: esf
    name: Svenska ESF-rådet
    kind: feed
    url: https://www.esf.se/feed/
  - key: skr
    name: SKR
    kind: feed
    url: https://skr.se/feed.xml
"""


def _config(config_dir, tmp_path):
    (config_dir / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    settings = config_dir / "settings.yaml"
    text = settings.read_text(encoding="utf-8").replace(
        "outbox_dir: var/outbox", f"outbox_dir: {tmp_path / 'outbox'}"
    )
    settings.write_text(text, encoding="utf-8")
    return load_config(config_dir)


def _run(engine, source: str, outcome: str, day: int, error: str | None = None) -> None:
    start = T0 + timedelta(days=day)
    with session_scope(engine) as session:
        session.add(
            CrawlRun(
                source=source,
                started_at=start,
                finished_at=start + timedelta(minutes=1),
                outcome=outcome,
                error=error,
                seen=5 if outcome == "ok" else 0,
            )
        )


def _outbox(tmp_path):
    folder = tmp_path / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def test_failing_source_mails_once_then_once_on_recovery(config_dir, engine, tmp_path):
    config = _config(config_dir, tmp_path)
    _run(engine, "esf", "ok", 0)
    _run(engine, "skr", "ok", 0)
    assert (
        send_health_alerts(config=config, engine=engine, now=T0 + timedelta(days=0, hours=2)) == []
    )

    _run(engine, "esf", "failed", 1, error="HTTP 500 from https://www.esf.se/feed/")
    assert (
        send_health_alerts(config=config, engine=engine, now=T0 + timedelta(days=1, hours=2)) == []
    )  # 1 < threshold 2

    _run(engine, "esf", "failed", 2, error="HTTP 500 from https://www.esf.se/feed/")
    sent = send_health_alerts(config=config, engine=engine, now=T0 + timedelta(days=2, hours=2))
    assert [(t.source, t.state) for t in sent] == [("esf", "failing")]
    mails = _outbox(tmp_path)
    assert len(mails) == 1
    mail = message_from_bytes(mails[0].read_bytes(), policy=policy.default)
    assert mail["To"] == config.settings.digest.coordinator_email
    assert "Svenska ESF-rådet fungerar inte" in mail["Subject"]
    assert "HTTP 500" in mail.get_content()

    # A third failure: the episode is already reported.
    _run(engine, "esf", "failed", 3, error="HTTP 500")
    assert (
        send_health_alerts(config=config, engine=engine, now=T0 + timedelta(days=3, hours=2)) == []
    )
    assert len(_outbox(tmp_path)) == 1

    _run(engine, "esf", "ok", 4)
    sent = send_health_alerts(config=config, engine=engine, now=T0 + timedelta(days=4, hours=2))
    assert [(t.source, t.state) for t in sent] == [("esf", "recovered")]
    assert len(_outbox(tmp_path)) == 2
    assert (
        send_health_alerts(config=config, engine=engine, now=T0 + timedelta(days=4, hours=3)) == []
    )
    with session_scope(engine) as session:
        states = [a.state for a in session.exec(select(Alert).order_by(Alert.id))]
    assert states == ["failing", "recovered"]


def test_empty_source_mails_once(config_dir, engine, tmp_path):
    config = _config(config_dir, tmp_path)
    _run(engine, "skr", "ok", 0)
    _run(engine, "skr", "empty", 1)
    sent = send_health_alerts(config=config, engine=engine, now=T0 + timedelta(days=1, hours=2))
    assert [(t.source, t.state) for t in sent] == [("skr", "empty")]
    _run(engine, "skr", "empty", 2)
    assert (
        send_health_alerts(config=config, engine=engine, now=T0 + timedelta(days=2, hours=2)) == []
    )
    mail = message_from_bytes(_outbox(tmp_path)[0].read_bytes(), policy=policy.default)
    assert "SKR gav inga utlysningar" in mail["Subject"]
