"""The crawl process's watchdog decides from events (a crawl opened, a crawl ended) and the
times given to it, never from the machine's speed: a slow start-up is not a stuck crawl."""

from __future__ import annotations

from pathlib import Path

from crawler.runner import _Watchdog


def _dog(tmp_path: Path, crawls: int = 2) -> tuple[_Watchdog, list[Path], list[Path]]:
    opened = [tmp_path / f"result-{i}.opened" for i in range(crawls)]
    ended = [tmp_path / f"result-{i}.json" for i in range(crawls)]
    return _Watchdog(opened, ended, timeout=3, start_limit=120, spawned=0.0), opened, ended


def test_start_up_is_not_counted_against_a_crawl(tmp_path):
    dog, opened, ended = _dog(tmp_path)
    assert dog.verdict(60.0) == ""  # a minute to start on a busy machine
    opened[0].touch()
    assert dog.verdict(61.0) == ""
    assert dog.verdict(63.9) == ""
    ended[0].touch()
    opened[1].touch()
    assert dog.verdict(64.0) == ""  # the batch is longer than 3 s, every crawl within it
    assert dog.verdict(66.5) == ""
    ended[1].touch()
    assert dog.verdict(67.0) == ""


def test_a_crawl_open_too_long_is_stuck(tmp_path):
    dog, opened, _ = _dog(tmp_path)
    opened[0].touch()
    assert dog.verdict(10.0) == ""
    assert dog.verdict(13.5) == "timed out after 3 s"


def test_a_process_that_never_opens_a_crawl_is_stuck(tmp_path):
    dog, _, _ = _dog(tmp_path)
    assert dog.verdict(119.0) == ""
    assert dog.verdict(121.0) == "no crawl started within 120 s"


def test_silence_after_a_crawl_ended_with_none_starting_is_stuck(tmp_path):
    dog, opened, ended = _dog(tmp_path)
    opened[0].touch()
    dog.verdict(5.0)
    ended[0].touch()
    assert dog.verdict(6.0) == ""
    assert dog.verdict(9.5) == "timed out after 3 s with no crawl running"
