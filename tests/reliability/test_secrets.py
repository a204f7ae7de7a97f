"""Secrets never leak: with BEVAKA_SMTP_PASSWORD and BEVAKA_SECRET_KEY set, a failing SMTP
send (the server refuses the login, then refuses the recipients) and a failing crawl (HTTP
500 from the only source), run through the real CLI in subprocesses, print neither secret:
not on stdout, not on stderr, not in the database's error columns, not in any file the runs
wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult
from faults import Body, FaultServer, SmtpFaults, SmtpFaultServer, Status
from rel_support import write_cli_config
from sqlalchemy import text
from sqlmodel import Session

from notifications.example import seed_example
from storage.db import make_engine

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Requiring AUTH")]

PASSWORD = "pw-7Hq!x9931-never-print"  # the secret under test
SECRET_KEY = "sk-Zx81-signing-key-never-print-4QmB9tWv"
AS_OF = ("--as-of", "2026-11-23")


def _deny(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=False, handled=False)


def _allow(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=True)


def _leaks(blob: str | bytes) -> list[str]:
    if isinstance(blob, bytes):
        blob = blob.decode("utf-8", errors="replace")
    return [s for s in (PASSWORD, SECRET_KEY) if s in blob]


def _files_with_secrets(directory: Path) -> list[str]:
    found = []
    for path in directory.rglob("*"):
        skip = path.suffix in (".sqlite3", ".sqlite3-wal", ".sqlite3-shm")
        if path.is_file() and not skip and _leaks(path.read_bytes()):
            found.append(str(path))
    return found


def _db_texts(db_url: str) -> str:
    engine = make_engine(db_url)
    out = []
    with Session(engine) as session:
        for table, column in (
            ("delivery", "error"),
            ("crawl_run", "error"),
            ("job_state", "detail"),
            ("alert", "message_id"),
        ):
            out += [str(r[0]) for r in session.execute(text(f"SELECT {column} FROM {table}"))]
    engine.dispose()
    return "\n".join(out)


@pytest.fixture
def world(db_url):
    engine = make_engine(db_url)
    with Session(engine) as session:
        seed_example(session)
        session.commit()
    engine.dispose()


def test_no_secret_in_output_of_failing_smtp_and_crawl(bevaka, config_dir, db_url, world, tmp_path):
    with FaultServer() as web:
        web.route("/broken/feed.xml", Status(500, "boom " + "x" * 50))
        web.route("/ok/feed.xml", Body("<rss version='2.0'><channel></channel></rss>"))
        write_cli_config(
            config_dir,
            sources=[
                {
                    "key": "broken",
                    "name": "Broken",
                    "kind": "feed",
                    "url": web.url("/broken/feed.xml"),
                },
            ],
        )
        with SmtpFaultServer(
            SmtpFaults(rcpt_replies={"anna.berg@lidkoping.se": "550 5.1.1 unknown user"}),
            authenticator=_deny,
            auth_required=True,
            auth_require_tls=False,
        ) as smtp:
            env = {
                "BEVAKA_SMTP_HOST": "127.0.0.1",
                "BEVAKA_SMTP_PORT": str(smtp.port),
                "BEVAKA_SMTP_SECURITY": "none",
                "BEVAKA_SMTP_USERNAME": "bevaka",
                "BEVAKA_SMTP_PASSWORD": PASSWORD,
                "BEVAKA_SECRET_KEY": SECRET_KEY,
            }
            runs = {
                "digest (login refused)": bevaka("digest", "--send", *AS_OF, env=env),
                "digest --test (login refused)": bevaka(
                    "digest", "--test", "check@lidkoping.se", env=env
                ),
                "crawl (HTTP 500)": bevaka("crawl", env=env),
                "config check": bevaka("config", "check", env=env),
            }
            smtp.smtp_kwargs["authenticator"] = _allow  # the login now works; 550 for Anna
            smtp.stop()
            smtp.start()
            env["BEVAKA_SMTP_PORT"] = str(smtp.port)
            runs["run-once (crawl 500, digest 550)"] = bevaka(
                "run-once", "--as-of", "2026-11-30T07:00", env=env
            )

    for name, result in runs.items():
        assert not _leaks(result.stdout + result.stderr), f"{name} printed a secret"
    # the runs did fail, and said why (so the output above was worth searching)
    assert runs["digest (login refused)"].returncode == 1
    assert "authentication" in runs["digest (login refused)"].stderr.lower()
    assert runs["digest --test (login refused)"].returncode == 1
    assert runs["crawl (HTTP 500)"].returncode == 1
    assert "500" in runs["crawl (HTTP 500)"].stdout
    assert runs["run-once (crawl 500, digest 550)"].returncode == 1
    assert runs["config check"].returncode == 0
    assert any("550" in r for _a, r in smtp.refusals)  # run-once got as far as sending
    assert not _leaks(_db_texts(db_url))
    assert not _files_with_secrets(tmp_path)


def test_no_secret_in_the_scheduler_log(bevaka, config_dir, db_url, world):
    """`bevaka run` (the service) catches up its missed jobs at start: the crawl fails
    (HTTP 500), the digest fails (login refused); its log, up to a clean stop by SIGTERM,
    holds neither secret."""
    import queue
    import signal
    import subprocess
    import sys
    import threading

    every_minute = "* * * * *"
    with FaultServer() as web:
        web.route("/broken/feed.xml", Status(500, "boom"))
        write_cli_config(
            config_dir,
            sources=[
                {
                    "key": "broken",
                    "name": "Broken",
                    "kind": "feed",
                    "url": web.url("/broken/feed.xml"),
                }
            ],
            schedule={
                "crawl": every_minute,
                "digest": every_minute,
                "health": every_minute,
                "misfire_grace_seconds": 3600,
            },
            crawl={"retries": 0},
        )
        with SmtpFaultServer(
            authenticator=_deny, auth_required=True, auth_require_tls=False
        ) as smtp:
            env = {
                **bevaka.env,
                "BEVAKA_SMTP_HOST": "127.0.0.1",
                "BEVAKA_SMTP_PORT": str(smtp.port),
                "BEVAKA_SMTP_SECURITY": "none",
                "BEVAKA_SMTP_USERNAME": "bevaka",
                "BEVAKA_SMTP_PASSWORD": PASSWORD,
                "BEVAKA_SECRET_KEY": SECRET_KEY,
            }
            service = subprocess.Popen(
                [sys.executable, "-m", "cli.app", "run"],
                env=env,
                cwd=bevaka.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(
                target=lambda: [lines.put(line) for line in service.stdout], daemon=True
            ).start()
            seen: list[str] = []

            def ended(stage: str) -> bool:
                return any(f"stage={stage}" in x and "stage.end" in x for x in seen)

            try:  # the caught-up jobs run side by side: wait for both to end, in any order
                while not (ended("crawl") and ended("digest")):
                    seen.append(lines.get(timeout=180))
            finally:
                service.send_signal(signal.SIGTERM)
                service.wait(timeout=60)
            while not lines.empty():
                seen.append(lines.get())
    log = "".join(seen)
    assert not _leaks(log), "the scheduler log holds a secret"
    assert "stage=crawl" in log and "failed sources: broken" in log
    assert "stage=digest ok=False" in log and "pending=2" in log  # the digest's failure is logged
    assert service.returncode == 0
