"""Politeness: settings from config, robots.txt obeyed, conditional requests through the
HTTP cache (an unchanged source answers 304 on the next crawl), bench mode switches it off."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crawl_support import add_sources, copy_recordings, mirrored_config

from config.loader import load_config
from crawler.mirror import Mirror
from crawler.runner import crawl_sources, scrapy_settings
from crawler.settings import BENCH_SETTINGS

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def test_settings_come_from_config():
    config = load_config()
    settings = scrapy_settings(config)
    crawl = config.settings.crawl
    assert settings["USER_AGENT"] == crawl.resolved_user_agent
    assert "international@lidkoping.se" in settings["USER_AGENT"]
    assert settings["ROBOTSTXT_OBEY"] is True
    assert settings["DOWNLOAD_DELAY"] == crawl.download_delay
    assert settings["AUTOTHROTTLE_ENABLED"] is True
    assert settings["RETRY_TIMES"] == crawl.retries
    assert settings["DOWNLOAD_MAXSIZE"] == crawl.max_response_bytes
    assert settings["DOWNLOAD_TIMEOUT"] == crawl.timeout_seconds
    assert settings["CLOSESPIDER_TIMEOUT"] == crawl.source_timeout_seconds


def test_bench_mode_switches_politeness_off():
    settings = scrapy_settings(load_config(), settings_overrides=BENCH_SETTINGS)
    assert settings["ROBOTSTXT_OBEY"] is False
    assert settings["DOWNLOAD_DELAY"] == 0
    assert settings["AUTOTHROTTLE_ENABLED"] is False
    assert settings["HTTPCACHE_ENABLED"] is False


@pytest.mark.slow
def test_unchanged_source_is_revalidated_and_robots_txt_is_obeyed(tmp_path, db_url, config_dir):
    recordings = copy_recordings(tmp_path / "rec", "vinnova")
    (recordings / "closed_site").mkdir()
    (recordings / "closed_site" / "robots.txt").write_text(
        "User-agent: *\nDisallow: /closed_site/\n"
    )
    (recordings / "closed_site" / "feed.xml").write_text("<rss><channel></channel></rss>")
    (recordings / "closed_site" / "routes.yaml").write_text(
        "entry: /closed_site/rss\nroutes:\n"
        "  - {path: /robots.txt, file: robots.txt, content_type: text/plain}\n"
        "  - {path: /closed_site/rss, file: feed.xml, content_type: text/xml}\n"
    )
    add_sources(
        config_dir,
        "  - key: closed_site\n    name: Closed\n    kind: tillvaxtverket\n"
        "    url: https://example.invalid/rss\n",
    )
    polite_but_quick = {
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "RETRY_TIMES": 0,
        "HTTPCACHE_DIR": str(tmp_path / "cache"),
        "LOG_LEVEL": "WARNING",
    }
    with Mirror(recordings) as mirror:
        config = mirrored_config(mirror, config_dir)
        kwargs = dict(config=config, database_url=db_url, settings_overrides=polite_but_quick)
        first = crawl_sources(keys=["vinnova", "closed_site"], now=NOW, **kwargs)
        second = crawl_sources(keys=["vinnova"], now=NOW, **kwargs)
        third = crawl_sources(keys=["vinnova"], now=NOW, **kwargs)
        api = [r for r in mirror.requests if r[1].startswith("/vinnova/")]
    assert [r.outcome for r in first] == ["ok", "failed"]
    assert "robots.txt" in first[1].error
    assert not any(r[1].startswith("/closed_site/") for r in mirror.requests)
    # the first crawl reads vinnova's whole register, the later ones the same window
    assert [r[1].rsplit("/", 1)[1] for r in api] == ["2000-01-01", "2026-12-31", "2026-12-31"]
    assert (second[0].outcome, second[0].unchanged) == ("ok", 4)
    assert (third[0].outcome, third[0].unchanged) == ("ok", 4)
    assert "If-None-Match" not in api[0][2] and "If-None-Match" not in api[1][2]
    assert api[2][2]["If-None-Match"].startswith('"')
