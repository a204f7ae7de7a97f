"""axe-core in the browser tests: the npm package ``axe-core`` (package.json; `make browser`
runs `npm ci`), evaluated in the page through Playwright. ``page.evaluate`` runs outside the
page's Content-Security-Policy, so the app's CSP stays as it is for the test."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@lru_cache(maxsize=1)
def _source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_violations(page) -> list[dict]:
    """axe's violations on the page as it is now (WCAG 2.x A/AA and best practices)."""
    page.evaluate(_source())
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["html"][:200] for n in v["nodes"]]}
        for v in result["violations"]
    ]


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert violations == [], violations
