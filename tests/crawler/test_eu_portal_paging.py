"""eu_portal paging against a server that sends fewer results a page than asked (the
recorded SEDIA results of tests/files/eu_portal, re-cut into pages of 2 while the spider
asks for 4), and a crawl that ends before every announced result came: that is not ``ok``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from crawl_support import FILES, TEST_SETTINGS, mirrored_config

from crawler.mirror import Mirror
from crawler.runner import crawl_sources
from storage.db import make_engine
from storage.models import CrawlRun

pytestmark = pytest.mark.storage

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
SERVER_PAGE = 2


def all_results() -> list[dict]:
    pages = sorted((FILES / "eu_portal").glob("search-page*.json"))
    return [r for page in pages for r in json.loads(page.read_text("utf-8"))["results"]]


def recording(target: Path, *, empty_from: int | None = None, max_pages: int = 30) -> Path:
    """The results served ``SERVER_PAGE`` a page (whatever pageSize asks for); from page
    ``empty_from`` on, empty pages."""
    results = all_results()
    directory = target / "eu_portal"
    directory.mkdir(parents=True)
    template = json.loads((FILES / "eu_portal" / "search-page1.json").read_text("utf-8"))
    routes = []
    count = -(-len(results) // SERVER_PAGE)
    for number in range(1, count + 1):
        chunk = results[(number - 1) * SERVER_PAGE : number * SERVER_PAGE]
        if empty_from is not None and number >= empty_from:
            chunk = []
        page = {
            **template,
            "pageNumber": number,
            "pageSize": SERVER_PAGE,
            "totalResults": len(results),
            "results": chunk,
        }
        name = f"page{number}.json"
        (directory / name).write_text(json.dumps(page), "utf-8")
        routes.append(
            {
                "path": "/eu_portal/search",
                "method": "POST",
                "query": {"pageNumber": str(number)},
                "file": name,
                "content_type": "application/json",
            }
        )
    spec = {
        "entry": "/eu_portal/search",
        "options": {"page_size": 4, "fetch_details": False, "max_pages": max_pages},
        "routes": routes,
    }
    (directory / "routes.yaml").write_text(yaml.safe_dump(spec), "utf-8")
    return target


def crawl(directory: Path, db_url: str):
    with Mirror(directory) as mirror:
        (result,) = crawl_sources(
            config=mirrored_config(mirror),
            keys=["eu_portal"],
            database_url=db_url,
            now=NOW,
            settings_overrides=TEST_SETTINGS,
        )
        pages = [r[1].rsplit("pageNumber=", 1)[1] for r in mirror.requests if r[0] == "POST"]
    engine = make_engine(db_url)
    with engine.connect() as connection:
        (run,) = connection.execute(CrawlRun.__table__.select()).all()
    engine.dispose()
    return result, pages, run


def test_small_server_pages_are_read_until_every_announced_result_came(tmp_path, db_url):
    result, pages, run = crawl(recording(tmp_path / "rec"), db_url)
    assert pages == ["1", "2", "3", "4", "5", "6"]  # 11 results, 2 a page
    assert (result.outcome, result.seen, result.new) == ("ok", 9, 9)
    assert run.outcome == "ok"


def test_results_that_stop_before_the_announced_total_fail_the_run(tmp_path, db_url):
    result, pages, run = crawl(recording(tmp_path / "rec", empty_from=4), db_url)
    assert pages == ["1", "2", "3", "4"]
    assert result.outcome == "failed" and run.outcome == "failed"
    assert result.error == "incomplete: 6 of 11 announced results read (page 4 came back empty)"
    assert result.new == 5  # what was read is stored all the same


def test_max_pages_before_the_total_is_not_ok(tmp_path, db_url):
    result, pages, _ = crawl(recording(tmp_path / "rec", max_pages=3), db_url)
    assert pages == ["1", "2", "3"]
    assert result.outcome == "failed"
    assert result.error.startswith("incomplete: 6 of 11 announced results read (max_pages (3)")
