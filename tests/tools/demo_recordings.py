"""The demo's recordings of the Swedish sources, made from their test fixtures.

``crawler/recordings/<key>/`` (what ``bevaka demo`` serves) is ``tests/files/<key>/`` with
every year in the pages moved by ``SHIFT[key]``, so that the real text's calls are live
around the demo's date (30 November 2026). URLs keep their years. Run after changing a
fixture::

    .venv/bin/python tests/tools/demo_recordings.py

``tests/crawler/test_swedish_sources.py`` fails when a recording is out of date.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "files"
RECORDINGS = ROOT / "crawler" / "recordings"

#: years to add per source (0: the pages as they are, e.g. news or pages with past rounds)
SHIFT: dict[str, int] = {
    "esf": 4,
    "esf_nyheter": 4,
    "uhr": 6,
    "interreg_oks": 0,
    "vgr": 0,
    "lansstyrelsen_vg": 8,
    "lona_vg": 6,
    "skr": 0,
    "skolverket": 4,
    "leader_nv_skaraborg": 0,
    "jordbruksverket_leader": 0,
    "skaraborg": 0,
    "klimatklivet": 4,
    "mucf": 3,
    "energimyndigheten": 6,
    "interreg_baltic": 5,
    "interreg_north_sea": 4,
    "interreg_europe": 0,
    "urbact": 1,
    "boverket": 9,
    "arvsfonden": 0,
    "kulturradet": 11,
}
#: a year in text, not inside a URL path ("/news-2022/", "april-2015/")
_YEAR = re.compile(r"(?<![\d/-])(20[0-2]\d)(?![\d/])")
_SHARED = "../lona_vg/lona.html"  # a fixture page shared with another fixture


def _moved(text: str, years: int) -> str:
    return _YEAR.sub(lambda m: str(int(m.group(1)) + years), text) if years else text


def render(key: str) -> dict[str, str]:
    """The files of ``crawler/recordings/<key>/``: name -> text."""
    years = SHIFT[key]
    out: dict[str, str] = {}
    for path in sorted((FIXTURES / key).iterdir()):
        if path.name == "README.md":
            continue
        text = path.read_text(encoding="utf-8")
        if path.name == "routes.yaml":
            head = f"# Demo recording: tests/files/{key}/ with every year moved by +{years}.\n"
            out[path.name] = head + text.replace(_SHARED, Path(_SHARED).name)
        else:
            out[path.name] = _moved(text, years)
    if _SHARED in (FIXTURES / key / "routes.yaml").read_text(encoding="utf-8"):
        shared = (FIXTURES / key / _SHARED).resolve()
        out[shared.name] = _moved(shared.read_text(encoding="utf-8"), years)
    moved = (
        f"every year in the pages moved by +{years} so that its calls are live around the "
        "demo's date (30 November 2026)"
        if years
        else "the pages unchanged"
    )
    out["README.md"] = (
        f"# Demo recording: {key}\n\nMade by tests/tools/demo_recordings.py from the test "
        f"fixture `tests/files/{key}/` (real page text; its README says what is real and what "
        f"is reconstructed), with {moved}.\n"
    )
    return out


def write(key: str, target: Path = RECORDINGS) -> None:
    directory = target / key
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for name, text in render(key).items():
        (directory / name).write_text(text, encoding="utf-8")


def main() -> int:
    for key in SHIFT:
        write(key)
    print(f"wrote {len(SHIFT)} recordings under {RECORDINGS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
