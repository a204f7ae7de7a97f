"""Every spider kind has its spider module, a test module, fixtures and a config entry; the
Scrapy project lists the spiders by their kind names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.loader import load_config
from crawler.spiders import SPIDERS_BY_KIND
from crawler.spiders.base import BevakaSpider

ROOT = Path(__file__).resolve().parents[2]
CODE_KINDS = ("eu_portal", "vinnova", "tillvaxtverket")
#: driven by config; their recordings are per source, and a kind may be offered before a
#: shipped source uses it (wordpress, sitemap: their fixtures are tests/files/engine/)
GENERIC_KINDS = ("feed", "listing", "wordpress", "sitemap")


def test_code_spiders_are_registered():
    assert set(CODE_KINDS) <= set(SPIDERS_BY_KIND)


@pytest.mark.parametrize("kind", sorted(SPIDERS_BY_KIND))
def test_spider_has_module_test_fixtures_and_config_entry(kind):
    spider = SPIDERS_BY_KIND[kind]
    assert issubclass(spider, BevakaSpider)
    assert spider.name == kind
    assert (ROOT / "crawler" / "spiders" / f"{kind}.py").is_file()
    assert (ROOT / "tests" / "crawler" / f"test_{kind}.py").is_file(), f"no tests for {kind}"
    entries = [s for s in load_config(ROOT / "config").sources.sources if s.kind == kind]
    assert entries or kind in GENERIC_KINDS, f"no {kind} entry in config/sources.yaml"
    files = ROOT / "tests" / "files"
    fixtures = list(files.glob(f"{kind}*")) + [
        files / s.key for s in entries if (files / s.key).is_dir()
    ]
    if kind in GENERIC_KINDS:
        fixtures.append(files / "engine" / "routes.yaml")
    assert fixtures, f"no fixtures for {kind} in tests/files/"


@pytest.mark.parametrize("kind", sorted(set(SPIDERS_BY_KIND) - set(GENERIC_KINDS)))
def test_code_spider_has_demo_recording(kind):
    assert (ROOT / "crawler" / "recordings" / kind / "routes.yaml").is_file()


def test_scrapy_list_shows_the_spiders():
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEVAKA_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert set(CODE_KINDS) <= set(result.stdout.split())
