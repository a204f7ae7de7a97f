"""The crawler's CLI, run as the real ``bevaka`` command against sources pointed at a local
mirror: bevaka crawl, bevaka sources list, bevaka sources check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from crawl_support import FILES, copy_recordings

from config.schema import SourcesFile
from crawler.mirror import Mirror, mirrored_sources

pytestmark = pytest.mark.slow


def _point_config_at(config_dir: Path, mirror: Mirror, recordings: Path) -> None:
    shipped = SourcesFile.model_validate(yaml.safe_load((config_dir / "sources.yaml").read_text()))
    mine = [s for s in shipped.sources if s.key in ("eu_portal", "vinnova", "tillvaxtverket")]
    mirrored = mirrored_sources(SourcesFile(sources=mine), mirror.base_url, recordings)
    entries = [s.model_dump(exclude_defaults=True) for s in mirrored.sources]
    # the shipped V6 entry: disabled until its address is known
    (v6,) = [s for s in shipped.sources if s.key == "v6"]
    entries.append(v6.model_dump(exclude_defaults=True))
    (config_dir / "sources.yaml").write_text(
        yaml.safe_dump({"sources": entries}, allow_unicode=True)
    )
    settings = yaml.safe_load((config_dir / "settings.yaml").read_text())
    settings["crawl"].update(
        {"obey_robots": False, "download_delay": 0, "autothrottle": False, "retries": 0}
    )
    (config_dir / "settings.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True))


def test_crawl_stores_reports_and_fails_for_a_broken_source(bevaka, config_dir, tmp_path):
    recordings = copy_recordings(tmp_path / "rec", "eu_portal", "vinnova", "tillvaxtverket")
    (recordings / "tillvaxtverket" / "feed.xml").write_text("<html>Sidan kunde inte visas</html>")
    with Mirror(recordings) as mirror:
        _point_config_at(config_dir, mirror, recordings)
        crawl = bevaka("crawl")
        health = bevaka("sources", "list", "--format", "json", check=True)
        table = bevaka("sources", "list", check=True, env={"COLUMNS": "200"})
        calls = bevaka("calls", "list", "--source", "vinnova", "--format", "json", check=True)
    assert crawl.returncode == 1, crawl.stdout + crawl.stderr
    assert "eu_portal ok: 9 seen, 9 new" in crawl.stdout
    assert "tillvaxtverket failed" in crawl.stdout
    assert "failed: tillvaxtverket" in crawl.stderr
    rows = {row["key"]: row for row in json.loads(health.stdout)}
    assert rows["eu_portal"]["outcome"] == "ok"
    assert rows["eu_portal"]["consecutive_failures"] == 0
    assert rows["eu_portal"]["last_success"] is not None
    # the optional topicDetails fetches that failed (one 500, five not recorded)
    assert rows["eu_portal"]["detail_failures"] == 6
    assert "ok (6 detail fetches failed)" in table.stdout
    assert rows["tillvaxtverket"]["outcome"] == "failed"
    assert rows["tillvaxtverket"]["consecutive_failures"] == 1
    assert "not an RSS feed" in rows["tillvaxtverket"]["last_error"]
    assert rows["v6"]["state"] == "disabled: url not set"
    assert rows["v6"]["outcome"] == "never run"
    assert "disabled: url not set" in table.stdout
    assert len(json.loads(calls.stdout)) == 4


def test_sources_check_shows_calls_without_storing(bevaka, config_dir, tmp_path):
    with Mirror(FILES) as mirror:
        _point_config_at(config_dir, mirror, FILES)
        check = bevaka("sources", "check", "tillvaxtverket", check=True)
        as_json = bevaka("sources", "check", "vinnova", "--format", "json", check=True)
        stored = bevaka("calls", "list", "--format", "json", check=True)
    assert "Stärkt kompetensförsörjning i Västsverige" in check.stdout
    assert "60,000,000 SEK" in check.stdout
    assert "Västra Götaland, Halland" in check.stdout
    assert "ok: 6 call(s) extracted; 1 invalid, 1 error(s)" in check.stdout
    data = json.loads(as_json.stdout)
    assert data["outcome"] == "ok"
    assert sorted(c["external_id"] for c in data["calls"]) == [
        "2026-02231",
        "2026-03112",
        "2027-00418",
        "2027-00801",
    ]
    assert json.loads(stored.stdout) == []


def test_crawl_unknown_source_exits_2(bevaka):
    result = bevaka("crawl", "no_such_source")
    assert result.returncode == 2
    assert "unknown source(s): no_such_source" in result.stderr
