"""``bevaka sources suggest``, and every error in ``sources check`` / the last error in
``sources list``, run as the real ``bevaka`` command against a local mirror."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crawler.mirror import Mirror

pytestmark = pytest.mark.slow
FILES = Path(__file__).resolve().parent.parent / "files"


def _sources(config_dir: Path, entries: list[dict]) -> None:
    (config_dir / "sources.yaml").write_text(
        yaml.safe_dump({"sources": entries}, allow_unicode=True)
    )
    settings = yaml.safe_load((config_dir / "settings.yaml").read_text())
    settings["crawl"].update(
        {"obey_robots": False, "download_delay": 0, "autothrottle": False, "retries": 0}
    )
    (config_dir / "settings.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True))


def test_suggest_on_a_saved_page(bevaka, config_dir) -> None:
    page = FILES / "engine" / "sitevision-esf-rounds.html"
    out = bevaka(
        "sources", "suggest", str(page), "--url", "https://regionblekinge.se/esf.html",
        "--format", "json", check=True,
    )  # fmt: skip
    data = json.loads(out.stdout)
    assert data["strategy"] == "sections"
    assert data["options"] == {"find": "sections"}
    assert [c["title"] for c in data["calls"]] == ["Utlysning 1:2023", "Utlysning 2:2023"]
    assert data["calls"][0]["deadlines"] == ["2023-03-06T22:59:59+00:00"]
    assert data["calls"][1]["deadline_unknown"] is True
    table = bevaka("sources", "suggest", str(page), check=True, env={"COLUMNS": "200"})
    assert "2 call(s) found by: sections" in table.stdout
    assert "find: sections" in table.stdout


def test_suggest_proposes_link_selectors_and_a_feed(bevaka, tmp_path) -> None:
    html = (
        (FILES / "engine" / "links-listing.html")
        .read_text()
        .replace("{base}", "https://www.lansstyrelsen.se")
        .replace(
            "</head>",
            '<link rel="alternate" type="application/rss+xml" href="/rss/utlysningar.xml"></head>',
        )
    )
    page = tmp_path / "saved.html"
    page.write_text(html)
    out = bevaka(
        "sources", "suggest", str(page), "--url", "https://www.lansstyrelsen.se/engine/u.html",
        "--format", "json", check=True,
    )  # fmt: skip
    data = json.loads(out.stdout)
    assert data["strategy"] == "links"
    assert data["overrides"]["item"] == "div.lst-card"
    assert data["selector_matches"] == 3
    assert data["structured"][0]["kind"] == "feed"
    assert data["structured"][0]["url"] == "https://www.lansstyrelsen.se/rss/utlysningar.xml"


def test_suggest_refuses_what_is_neither_url_nor_file(bevaka) -> None:
    out = bevaka("sources", "suggest", "ingen-sida-har")
    assert out.returncode == 2
    assert "neither an http(s) URL nor a file" in out.stderr


def test_check_prints_every_error_and_list_the_last(bevaka, config_dir) -> None:
    with Mirror(FILES, keys=["engine"]) as mirror:
        _sources(
            config_dir,
            [
                {
                    "key": "flera",
                    "name": "Flera sidor",
                    "kind": "listing",
                    "url": mirror.base_url + "/engine/finns-inte-1.html",
                    "urls": [
                        mirror.base_url + "/engine/finns-inte-2.html",
                        mirror.base_url + "/engine/links-listing.html",
                    ],
                }
            ],
        )
        check = bevaka("sources", "check", "flera", env={"COLUMNS": "200"})
        crawl = bevaka("crawl", "flera")
        table = bevaka("sources", "list", check=True, env={"COLUMNS": "250"})
    assert check.returncode == 1
    assert "error 1/2: HTTP 404 from " in check.stderr
    assert "finns-inte-1.html" in check.stderr and "finns-inte-2.html" in check.stderr
    assert "error 2/2" in check.stderr
    assert crawl.returncode == 1
    assert "last error" in table.stdout
    assert "HTTP 404" in table.stdout


def test_suggest_prints_a_scraped_title_as_written(bevaka, tmp_path) -> None:
    page = tmp_path / "saved.html"
    page.write_text(
        '<html><head><link rel="canonical" href="https://x.se/stod.html"></head><body><main>'
        "<h1>Stöd :100: [red]röd[/red]</h1><p>Ansökan kan göras löpande.</p></main></body></html>"
    )
    out = bevaka("sources", "suggest", str(page), check=True, env={"COLUMNS": "200"})
    assert "Stöd :100: [red]röd[/red]" in out.stdout
    assert "status: open" in out.stdout
    assert "löpande (rolling)" in out.stdout
