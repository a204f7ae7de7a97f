"""The runner and the store pipeline: each source in its own process, health per source,
unchanged recrawls write nothing, a changed deadline gives exactly one CallChange, and a
broken source (500, timeout, garbage) fails alone while the others are stored."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from crawl_support import TEST_SETTINGS, add_sources, copy_recordings, mirrored_config
from sqlmodel import select

from crawler.mirror import Mirror
from crawler.runner import SourceFailed, check_source, crawl_sources
from storage.models import Call, CallChange, CrawlRun

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
CLIMATE = "HORIZON-CL5-2027-01-D4-02"


def _calls(session) -> dict[str, Call]:
    session.expire_all()
    return {c.external_id: c for c in session.exec(select(Call)).all()}


def _runs(session, source: str) -> list[CrawlRun]:
    session.expire_all()
    return list(
        session.exec(select(CrawlRun).where(CrawlRun.source == source).order_by(CrawlRun.id))
    )


def test_recrawl_unchanged_writes_no_call_rows_and_a_changed_deadline_one_change(
    tmp_path, db_url, session
):
    recordings = copy_recordings(tmp_path / "rec", "eu_portal")
    with Mirror(recordings) as mirror:
        config = mirrored_config(mirror)

        def crawl(now):
            return crawl_sources(
                config=config,
                keys=["eu_portal"],
                database_url=db_url,
                now=now,
                settings_overrides=TEST_SETTINGS,
            )[0]

        first = crawl(NOW)
        before = {k: (c.updated_at, c.last_seen_at) for k, c in _calls(session).items()}
        second = crawl(NOW + timedelta(hours=1))
        after = {k: (c.updated_at, c.last_seen_at) for k, c in _calls(session).items()}
        assert (first.new, second.new, second.changed, second.unchanged) == (9, 0, 0, 9)
        assert after == before
        assert session.exec(select(CallChange)).all() == []

        page = recordings / "eu_portal" / "search-page1.json"
        data = json.loads(page.read_text())
        data["results"][0]["metadata"]["deadlineDate"] = ["2027-05-06T17:00:00.000+0200"]
        page.write_text(json.dumps(data))
        third = crawl(NOW + timedelta(hours=2))

    assert (third.changed, third.unchanged) == (1, 8)
    changes = session.exec(select(CallChange)).all()
    assert [(c.field, c.old_value, c.new_value) for c in changes] == [
        ("deadlines", ["2027-04-22T15:00:00+00:00"], ["2027-05-06T15:00:00+00:00"])
    ]
    assert changes[0].crawl_run_id == third.run_id
    assert _calls(session)[CLIMATE].next_deadline == datetime(2027, 5, 6, 15, tzinfo=UTC)


def test_a_call_missing_from_a_crawl_is_kept_open(tmp_path, db_url, session):
    recordings = copy_recordings(tmp_path / "rec", "vinnova")
    with Mirror(recordings) as mirror:
        config = mirrored_config(mirror)
        crawl_sources(
            config=config,
            keys=["vinnova"],
            database_url=db_url,
            now=NOW,
            settings_overrides=TEST_SETTINGS,
        )
        path = recordings / "vinnova" / "ansokningsomgangar.json"
        rounds = json.loads(path.read_text())
        path.write_text(json.dumps([r for r in rounds if r["Diarienummer"] != "2026-03112"]))
        (result,) = crawl_sources(
            config=config,
            keys=["vinnova"],
            database_url=db_url,
            now=NOW + timedelta(days=1),
            settings_overrides=TEST_SETTINGS,
        )
    assert result.outcome == "ok"
    call = _calls(session)["2026-03112"]
    assert call.status == "open"
    assert session.exec(select(CallChange)).all() == []


def test_broken_sources_fail_alone_and_the_others_are_stored(tmp_path, db_url, session, config_dir):
    recordings = copy_recordings(tmp_path / "rec", "eu_portal")
    broken = {
        "vinnova": ("/vinnova/rounds/*", "rounds.json", "[]", "status: 500"),
        "tillvaxtverket": ("/tillvaxtverket/rss", "feed.xml", "<html><body>Underhåll pågår", ""),
        "eu_slow": ("/eu_slow/search", "page.json", "{}", "hang: true\n    method: POST"),
        "eu_odd": (
            "/eu_odd/search",
            "page.json",
            '{"message": "Service unavailable"}',
            "method: POST",
        ),
    }
    for key, (path, name, body, extra) in broken.items():
        (recordings / key).mkdir()
        (recordings / key / name).write_text(body)
        (recordings / key / "routes.yaml").write_text(
            f"entry: {path.replace('*', '{since}')}\n"
            f"routes:\n  - path: {path}\n    file: {name}\n    {extra}\n"
        )
    add_sources(
        config_dir,
        textwrap.indent(
            "- key: eu_slow\n  name: Slow mirror\n  kind: eu_portal\n"
            "  url: https://example.invalid/search\n"
            "- key: eu_odd\n  name: Odd mirror\n  kind: eu_portal\n"
            "  url: https://example.invalid/search\n",
            "  ",
        ),
    )
    with Mirror(recordings) as mirror:
        config = mirrored_config(mirror, config_dir)
        results = crawl_sources(
            config=config,
            keys=["vinnova", "eu_slow", "tillvaxtverket", "eu_odd", "eu_portal"],
            database_url=db_url,
            now=NOW,
            settings_overrides={**TEST_SETTINGS, "RETRY_TIMES": 0},
        )
    by_key = {r.source: r for r in results}
    assert [r.source for r in results] == [
        "vinnova",
        "eu_slow",
        "tillvaxtverket",
        "eu_odd",
        "eu_portal",
    ]
    assert by_key["vinnova"].outcome == "failed"
    assert "HTTP 500" in by_key["vinnova"].error
    assert by_key["eu_slow"].outcome == "failed"
    assert (
        "TimeoutError" in by_key["eu_slow"].error or "timed out" in by_key["eu_slow"].error.lower()
    )
    assert by_key["tillvaxtverket"].outcome == "failed"
    assert "not an RSS feed" in by_key["tillvaxtverket"].error
    assert by_key["eu_odd"].outcome == "failed"
    assert "not a SEDIA search response" in by_key["eu_odd"].error
    assert by_key["eu_portal"].outcome == "ok"
    assert len(_calls(session)) == 9
    for key in ("vinnova", "eu_slow", "tillvaxtverket", "eu_odd"):
        (run,) = _runs(session, key)
        assert (run.outcome, run.error) == ("failed", by_key[key].error)
        assert run.finished_at is not None


def test_source_that_yields_nothing_after_yielding_calls_is_empty(tmp_path, db_url, session):
    recordings = copy_recordings(tmp_path / "rec", "vinnova")
    with Mirror(recordings) as mirror:
        config = mirrored_config(mirror)
        kwargs = dict(
            config=config, keys=["vinnova"], database_url=db_url, settings_overrides=TEST_SETTINGS
        )
        first = crawl_sources(now=NOW, **kwargs)[0]
        (recordings / "vinnova" / "ansokningsomgangar.json").write_text("[]")
        second = crawl_sources(now=NOW + timedelta(days=1), **kwargs)[0]
    assert (first.outcome, second.outcome, second.seen) == ("ok", "empty", 0)
    assert [r.outcome for r in _runs(session, "vinnova")] == ["ok", "empty"]


def test_disabled_source_named_explicitly_is_skipped(db_url, config_dir):
    add_sources(config_dir, "  - key: v6_test\n    name: V6\n    kind: feed\n    enabled: false\n")
    from config.loader import load_config

    (result,) = crawl_sources(config=load_config(config_dir), keys=["v6_test"], database_url=db_url)
    assert (result.outcome, result.error) == ("skipped", "disabled: url not set")


def test_unknown_source_is_refused(db_url):
    from config.loader import load_config

    with pytest.raises(KeyError, match="nope"):
        crawl_sources(config=load_config(), keys=["nope"], database_url=db_url)


def test_check_source_extracts_without_storing(files_mirror, db_url, session):
    config = mirrored_config(files_mirror)
    calls = check_source(config=config, key="vinnova", now=NOW, settings_overrides=TEST_SETTINGS)
    assert sorted(c.external_id for c in calls) == [
        "2026-02231", "2026-03112", "2027-00418", "2027-00801",
    ]  # fmt: skip
    assert session.exec(select(Call)).all() == []
    assert session.exec(select(CrawlRun)).all() == []


def test_check_source_raises_with_the_report_when_the_source_fails(tmp_path):
    recordings = tmp_path / "rec"
    (recordings / "vinnova").mkdir(parents=True)
    (recordings / "vinnova" / "x.json").write_text("<html>not json</html>")
    (recordings / "vinnova" / "routes.yaml").write_text(
        "entry: /vinnova/x/{since}\nroutes:\n  - path: /vinnova/x/*\n    file: x.json\n"
    )
    with Mirror(recordings) as mirror, pytest.raises(SourceFailed) as info:
        check_source(
            config=mirrored_config(mirror), key="vinnova", now=NOW, settings_overrides=TEST_SETTINGS
        )
    assert info.value.report.result.outcome == "failed"
    assert "while parsing" in info.value.report.result.error


def test_stuck_source_is_killed_and_recorded_as_failed(tmp_path, db_url, session):
    recordings = tmp_path / "rec"
    (recordings / "vinnova").mkdir(parents=True)
    (recordings / "vinnova" / "x.json").write_text("[]")
    (recordings / "vinnova" / "routes.yaml").write_text(
        "entry: /vinnova/x/{since}\nroutes:\n  - {path: /vinnova/x/*, file: x.json, hang: true}\n"
    )
    with Mirror(recordings) as mirror:
        (result,) = crawl_sources(
            config=mirrored_config(mirror),
            keys=["vinnova"],
            database_url=db_url,
            now=NOW,
            # the download never times out by itself; the whole source's limit applies
            settings_overrides={
                **TEST_SETTINGS,
                "DOWNLOAD_TIMEOUT": 120,
                "CLOSESPIDER_TIMEOUT": 1,
                "BEVAKA_KILL_GRACE_SECONDS": 1,
            },
        )
    assert result.outcome == "failed"
    assert result.error == "timed out after 2 s (crawl process killed)"
    (run,) = _runs(session, "vinnova")
    assert (run.outcome, run.error, run.errors) == ("failed", result.error, 1)
    assert run.finished_at is not None


def test_a_crawl_with_a_fixed_clock_records_how_long_it_took(tmp_path, db_url, session):
    """The scheduler passes its job time as the crawl's "now"; finished_at used to be that
    same time (a crawl of 0 s). It is now the start plus the time the crawl took."""
    recordings = copy_recordings(tmp_path / "rec", "eu_portal")
    with Mirror(recordings) as mirror:
        config = mirrored_config(mirror)
        result = crawl_sources(
            config=config,
            keys=["eu_portal"],
            database_url=db_url,
            now=NOW,
            settings_overrides=TEST_SETTINGS,
        )[0]
    (run,) = _runs(session, "eu_portal")
    assert result.outcome == "ok" and run.started_at == NOW
    assert run.finished_at > run.started_at
    assert run.finished_at - run.started_at <= timedelta(seconds=result.duration_seconds + 1)
