"""A full disk (issue 17, item 8): ``bevaka digest`` and ``bevaka crawl`` end with one clear
line, not a traceback, and leave no CrawlRun ``running`` and no digest claimed.

The disk is really full: the digest's outbox files are links to ``/dev/full`` (every write
there fails with ENOSPC); the crawl runs on a 2 MB tmpfs filled up to its last few KB
(mounting needs root: skipped with the reason otherwise)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from faults import Body, FaultServer
from rel_support import rows, write_cli_config
from sqlmodel import Session, select

from notifications.example import EXAMPLE_NOW, seed_example
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import CrawlRun, Delivery, Subscriber

pytestmark = pytest.mark.slow


def test_digest_on_a_full_disk_says_so_and_keeps_the_week(bevaka, config_dir, db_url, tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    write_cli_config(config_dir)
    engine = make_engine(db_url)
    with Session(engine) as session:
        seed_example(session, EXAMPLE_NOW)
        session.commit()
        emails = [s.email for s in session.exec(select(Subscriber)).all()]
    outbox = tmp_path / "var" / "outbox"  # digest.outbox_dir, relative to the working dir
    outbox.mkdir(parents=True)
    for email in emails:
        (outbox / f"2026-W48_{email.replace('@', '_at_')}.eml").symlink_to("/dev/full")
    result = bevaka("digest", "--send", "--as-of", "2026-11-23")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert "error: no space left on the device" in result.stderr
    deliveries = rows(engine, Delivery)
    assert deliveries and {d.status for d in deliveries} == {"pending"}
    assert {d.claimed_by for d in deliveries} == {None}  # free for the next run
    for link in outbox.iterdir():
        link.unlink()
    again = bevaka("digest", "--send", "--as-of", "2026-11-23")
    assert again.returncode == 0, again.stderr
    assert {d.status for d in rows(engine, Delivery)} == {"written"}
    engine.dispose()


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` completely, then free ``leave`` bytes."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                handle.write(b"\0" * 512)
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))


def _feed(count: int) -> str:
    text = "Stöd till kommuner. Sista ansökningsdag 15 mars 2027. " * 80
    items = "".join(
        f"<item><guid isPermaLink='false'>full-{n}</guid><title>Utlysning {n} för kommuner"
        f"</title><link>https://www.vinnova.se/e/full-{n}/</link><description>{text}"
        "</description></item>"
        for n in range(count)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Full</title>'
        f"<link>https://www.vinnova.se/</link><description>x</description>{items}</channel></rss>"
    )


@pytest.mark.parametrize("leave", [40_000, 100_000])
def test_crawl_on_a_full_disk_says_so_and_leaves_no_run_running(
    bevaka, config_dir, small_disk, leave
):
    """The database, the temporary folder and the working folder on a disk with ``leave``
    bytes free: the crawl fails, in one line, and no CrawlRun stays ``running``."""
    url = f"sqlite:///{small_disk / 'bevaka.sqlite3'}"
    upgrade(url)
    with FaultServer() as server:
        server.route("/full/feed.xml", Body(_feed(60), "application/rss+xml; charset=utf-8"))
        write_cli_config(
            config_dir,
            sources=[
                {"key": "full", "name": "Full", "kind": "feed", "url": server.url("/full/feed.xml")}
            ],
        )
        _fill(small_disk, leave)
        env = {"DATABASE_URL": url, "TMPDIR": str(small_disk)}
        result = bevaka("crawl", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert "full" in (result.stdout + result.stderr)  # "disk is full" / "no space left"
    (small_disk / "filler").unlink()
    engine = make_engine(url)
    runs = rows(engine, CrawlRun)
    engine.dispose()
    assert all(r.outcome != "running" for r in runs), [(r.id, r.outcome) for r in runs]
