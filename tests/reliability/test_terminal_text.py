"""Text from config or from a source reaches the terminal as written (issue 17, item 8):
rich neither turns ``:100:`` into an emoji nor ``[red]`` into colour. The real CLI in a
subprocess."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.storage

HOSTILE = "[red]x[/red] :100: [bold]fet[/bold] \\[y] :smile:"


def test_a_config_error_on_line_100_names_the_line(bevaka, config_dir):
    settings = config_dir / "settings.yaml"
    lines = settings.read_text(encoding="utf-8").splitlines()
    padding = [f"# padding {n}" for n in range(99 - len(lines))] if len(lines) < 99 else []
    lines = (lines + padding)[:99] if len(lines) >= 99 else lines + padding
    body = "\n".join(lines[:99])
    assert body.count("\n") == 98
    settings.write_text(body + "\nbogus_setting_on_line_100: 1\n", encoding="utf-8")
    result = bevaka("config", "check")
    assert result.returncode == 2
    assert "settings.yaml:100:" in result.stderr, result.stderr
    assert "\N{HUNDRED POINTS SYMBOL}" not in result.stderr


def test_a_scraped_title_with_markup_prints_as_written(bevaka, tmp_path):
    path = tmp_path / "calls.jsonl"
    path.write_text(
        json.dumps({"title": HOSTILE, "url": "https://www.vinnova.se/e/markup/"}) + "\n",
        encoding="utf-8",
    )
    assert bevaka("calls", "import", str(path)).returncode == 0
    shown = bevaka("calls", "show", "1")
    assert shown.returncode == 0, shown.stderr
    assert HOSTILE in shown.stdout
    listed = bevaka("calls", "list", env={"COLUMNS": "300"})
    assert HOSTILE in listed.stdout, listed.stdout
    missing = bevaka("calls", "show", "999")
    assert "no call with id 999" in missing.stderr
