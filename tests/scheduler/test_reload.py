"""Config reload in `bevaka run` (docs/operations.md, "Changing the configuration"): a
changed, valid file is taken before the next job or on SIGHUP; a broken one is refused, the
last good configuration stays and the coordinator is told once per broken version."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy

from config.loader import load_config
from scheduler.reload import ConfigWatcher, refusal_alert

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def _watcher(config_dir):
    alerts: list[list[str]] = []
    watcher = ConfigWatcher(load_config(config_dir), alert=lambda c, p, n: alerts.append(p))
    return watcher, alerts


def test_unchanged_files_are_not_read_again(config_dir):
    watcher, alerts = _watcher(config_dir)
    assert watcher.check("before crawl", NOW) is None
    assert alerts == []


def test_a_valid_change_is_taken(config_dir):
    watcher, _ = _watcher(config_dir)
    settings = config_dir / "settings.yaml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace(
            'digest: "0 7 * * mon"', 'digest: "0 8 * * 1"'
        ),
        encoding="utf-8",
    )
    fresh = watcher.check("SIGHUP", NOW)
    assert fresh is not None and fresh.settings.schedule.digest == "0 8 * * 1"
    assert watcher.config is fresh


def test_a_broken_file_is_refused_once_and_the_last_good_one_kept(config_dir):
    watcher, alerts = _watcher(config_dir)
    good = watcher.config
    needs = config_dir / "needs.yaml"
    original = needs.read_text(encoding="utf-8")
    needs.write_text(original + "\n  - this: [is not: valid yaml\n", encoding="utf-8")
    assert watcher.check("before digest", NOW) is None
    assert watcher.config is good
    assert len(alerts) == 1 and any("needs.yaml" in p for p in alerts[0])
    assert watcher.check("before health", NOW) is None
    assert len(alerts) == 1  # the same broken version: told once
    needs.write_text(original, encoding="utf-8")  # fixed: in force again, no alert
    assert watcher.check("before crawl", NOW) is not None and len(alerts) == 1


def test_the_refusal_mail_names_the_problems(config_dir):
    config = load_config(config_dir)
    mail = refusal_alert(config, ["needs.yaml:3: topics: expected a list"], NOW)
    assert mail["To"] == config.settings.digest.coordinator_email
    assert "avvisades" in mail["Subject"]
    assert "needs.yaml:3: topics: expected a list" in mail.get_content()


def test_sighup_reloads_the_running_service(bevaka, config_dir):
    """The real `bevaka run`: SIGHUP with a changed digest schedule gives a new job list;
    a broken file then is refused (the outbox gets the coordinator's mail)."""
    settings = config_dir / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    for old, new in (  # nothing due at start whatever the day: no catch-up, no crawl
        ('crawl: "0 6 * * mon-fri"', 'crawl: "0 6 29 2 *"'),
        ('digest: "0 7 * * mon"', 'digest: "0 7 29 2 *"'),
        ('health: "30 6 * * mon-fri"', 'health: "30 6 29 2 *"'),
    ):
        assert old in text
        text = text.replace(old, new)
    settings.write_text(text, encoding="utf-8")
    service = subprocess.Popen(
        [sys.executable, "-m", "cli.app", "run"],
        env=bevaka.env,
        cwd=bevaka.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in service.stdout], daemon=True).start()
    seen: list[str] = []

    def wait_for(text: str) -> str:
        while True:
            line = lines.get(timeout=180)
            seen.append(line)
            if text in line:
                return line

    try:
        wait_for("event=service.start")
        settings.write_text(text.replace('digest: "0 7 29 2 *"', 'digest: "0 8 29 2 *"'))
        service.send_signal(signal.SIGHUP)
        assert "reason=SIGHUP" in wait_for("event=config.reloaded")
        assert "ids=crawl,digest,health" in wait_for("event=service.jobs")
        settings.write_text("schedule: [broken\n", encoding="utf-8")
        service.send_signal(signal.SIGHUP)
        assert "settings.yaml" in wait_for("event=config.refused")
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
    assert service.returncode == 0, "".join(seen)
    outbox = bevaka.cwd / "var" / "outbox"
    subjects = [
        message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]
        for p in outbox.glob("*.eml")
    ]
    assert subjects.count("Bevaka: den ändrade konfigurationen avvisades") == 1
