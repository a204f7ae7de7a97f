"""Render the example digest (notifications.example) and screenshot it in headless Chromium.

Usage: .venv/bin/python docs/make_screenshots.py [OUTPUT.png]   (default: docs/digest.png)

The same example world feeds the golden-file tests, so the picture shows what they check.
Needs /usr/bin/chromium (``make browser`` installs Debian's package).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 720, 1760


def render_example_html(workdir: Path, who: str = "coordinator") -> str:
    from freezegun import freeze_time
    from sqlmodel import Session

    from notifications.digest import build_digest
    from notifications.example import EXAMPLE_NOW, example_config, seed_example
    from notifications.render import render_digest
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.models import Subscriber

    url = f"sqlite:///{workdir / 'example.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, freeze_time(EXAMPLE_NOW):
            ids = seed_example(session)
            session.commit()
            subscriber = session.get(Subscriber, ids[who])
            digest = build_digest(
                session=session, config=example_config(), subscriber=subscriber, now=EXAMPLE_NOW
            )
            return render_digest(digest).html
    finally:
        engine.dispose()


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("chromium not found: run `make browser` (apt-get install -y chromium)")


def screenshot(html_file: Path, png: Path, *, width: int = WIDTH, height: int = HEIGHT) -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                html_file.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return png


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "digest.png"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        html_file = workdir / "digest.html"
        html_file.write_text(render_example_html(workdir), encoding="utf-8")
        screenshot(html_file, out.resolve())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
