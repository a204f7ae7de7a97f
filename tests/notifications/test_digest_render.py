"""Golden files for the rendered digest (frozen time), and the screenshot.

Regenerate the golden files after an intended template change with

    BEVAKA_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/notifications/test_digest_render.py

and review the diff of tests/files/digest/ before committing.
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
from pathlib import Path

import pytest
from freezegun import freeze_time

from notifications.digest import build_digest
from notifications.example import EXAMPLE_NOW, example_config
from notifications.render import digest_message, render_digest
from storage.models import Subscriber

GOLDEN = Path(__file__).resolve().parent.parent / "files" / "digest"
UPDATE = os.environ.get("BEVAKA_UPDATE_GOLDEN") == "1"
ROOT = Path(__file__).resolve().parent.parent.parent


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path} differs; rerun with BEVAKA_UPDATE_GOLDEN=1 if intended"


@pytest.mark.parametrize("who", ["anna", "coordinator"])
def test_golden_html_and_text(session, world, who):
    with freeze_time(EXAMPLE_NOW):
        subscriber = session.get(Subscriber, world[who])
        digest = build_digest(
            session=session, config=example_config(), subscriber=subscriber, now=EXAMPLE_NOW
        )
        rendered = render_digest(digest)
    check_golden(f"{who}.html", rendered.html)
    check_golden(f"{who}.txt", rendered.text)


def test_without_public_url_unsubscribe_goes_to_the_coordinator(session, world):
    config = example_config(public_url=None)
    subscriber = session.get(Subscriber, world["anna"])
    digest = build_digest(session=session, config=config, subscriber=subscriber, now=EXAMPLE_NOW)
    rendered = render_digest(digest)
    message = digest_message(digest, settings=config.settings, message_id="<x@lidkoping.se>")
    assert message["List-Unsubscribe"] == (
        "<mailto:international@lidkoping.se?subject=Avregistrera%20anna.berg%40lidkoping.se>"
    )
    assert "List-Unsubscribe-Post" not in message
    assert "Skriv till international@lidkoping.se, så avregistrerar vi dig." in rendered.text
    assert "/prenumeration/" not in rendered.html and "/avregistrera/" not in rendered.html


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.browser
@pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium (make browser)")
def test_screenshot_of_the_example_digest(tmp_path):
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import make_screenshots
    finally:
        sys.path.remove(str(ROOT / "docs"))
    out = tmp_path / "digest.png"
    assert make_screenshots.main(["make_screenshots.py", str(out)]) == 0
    assert _png_size(out) == (make_screenshots.WIDTH, make_screenshots.HEIGHT)
    assert out.stat().st_size > 20_000  # a rendered page, not a blank one
    docs_png = ROOT / "docs" / "digest.png"
    assert _png_size(docs_png) == (make_screenshots.WIDTH, make_screenshots.HEIGHT)
