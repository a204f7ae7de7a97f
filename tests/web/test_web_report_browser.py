"""The yearly report page in Debian's headless Chromium: styled under the app's own CSP, the
charts drawn in colour (a pixel check: not one colour, the bar colour present), a phone-width
viewport, and no axe-core violations."""

from __future__ import annotations

import io

import pytest
from axe_support import AXE, assert_accessible
from test_web_browser import CHROMIUM, _screenshot, live_app, page  # noqa: F401 - fixtures

from followup.charts import BAR_COLOUR

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"),
    pytest.mark.skipif(not AXE.exists(), reason="needs node_modules/axe-core (make browser)"),
]


def _colours(png: bytes) -> set[tuple[int, int, int]]:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {colour for _, colour in image.getcolors(maxcolors=1_000_000)}


def test_report_page_is_styled_with_visible_charts(live_app, page, seeded, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    blocked: list[str] = []
    page.on(
        "console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.goto(f"{live_app['base']}/uppfoljning/2027")
    expect(page.get_by_role("heading", level=1)).to_contain_text("2027")
    assert blocked == []  # nothing refused by the CSP
    # the linked stylesheet applies (the summary box has its background)
    background = page.locator("#summary").evaluate("e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(241, 245, 248)"
    charts = page.locator(".chart svg")
    assert charts.count() == 2
    bar = tuple(int(BAR_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    for i in range(2):
        colours = _colours(charts.nth(i).screenshot())
        assert len(colours) > 2, "the chart is one colour"
        assert bar in colours, "no bar drawn in the bar colour"
    assert_accessible(page)
    _screenshot(page, "web-report.png", tmp_path)

    # a phone: the page is laid out for the device width, not 980 px
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
