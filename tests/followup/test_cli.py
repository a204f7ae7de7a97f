"""The follow-up commands, run as the real ``bevaka`` CLI in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from followup_seed import add_call, decide

NOW = datetime(2026, 11, 2, 8, tzinfo=UTC)


@pytest.fixture
def call_id(session, followup_config_dir) -> int:
    cid = add_call(session, "cli", seen=NOW, programme="ERASMUS", tags=("utbildning",))
    session.commit()
    return cid


def test_decide_validates_with_clear_errors(cli_env, call_id):
    """The validation matrix runs in-process (typer's runner on the real app and database);
    the other tests run the real command in a subprocess."""
    from typer.testing import CliRunner

    from cli.app import app

    runner = CliRunner(env=cli_env)

    def bevaka(*args):
        return runner.invoke(app, list(args))

    cases = [
        (["--department", "utbildning", "--status", "won"], "unknown status 'won'"),
        (["--department", "utbildning", "--status", "declined"], "needs a reason"),
        (
            ["--department", "utbildning", "--status", "declined", "--reason", "lazy"],
            "unknown reason 'lazy'",
        ),
        (["--department", "ekonomi", "--status", "noted"], "unknown department 'ekonomi'"),
        (
            ["--department", "utbildning", "--status", "noted", "--granted-sek", "5"],
            "only recorded with status 'granted'",
        ),
        (["--department", "utbildning", "--status", "noted", "--by", "nobody"], "not an e-mail"),
    ]
    for args, message in cases:
        result = bevaka("decide", str(call_id), *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
    missing = bevaka("decide", "999999", "--department", "utbildning", "--status", "noted")
    assert missing.exit_code == 2
    assert "no call with id 999999" in missing.output
    listed = bevaka("decisions", "list", "--format", "json")
    assert listed.exit_code == 0
    assert json.loads(listed.output) == []


def test_an_edit_adds_a_row_and_the_latest_counts(bevaka, call_id):
    bevaka(
        "decide",
        str(call_id),
        "--department",
        "utbildning",
        "--status",
        "applied",
        "--applied-sek",
        "500 000",  # as the web form takes it
        "--partners",
        "Skara kommun",
        "--by",
        "Anna.Andersson@lidkoping.se",
        check=True,
    )
    result = bevaka(
        "decide",
        str(call_id),
        "--department",
        "utbildning",
        "--status",
        "granted",
        "--granted-sek",
        "450000",
        check=True,
    )
    assert "granted" in result.stdout
    current = json.loads(
        bevaka("decisions", "list", "--call", str(call_id), "--format", "json", check=True).stdout
    )
    assert len(current) == 1
    assert current[0]["status"] == "granted"
    assert current[0]["granted_sek"] == 450000
    assert current[0]["applied_sek"] == 500000  # carried over from the earlier row
    assert current[0]["partners"] == "Skara kommun"
    assert current[0]["by"] == "international@lidkoping.se"  # default: the coordinator
    history = json.loads(
        bevaka("decisions", "list", "--history", "--format", "json", check=True).stdout
    )
    assert [(h["status"], h["by"]) for h in history] == [
        ("applied", "anna.andersson@lidkoping.se"),
        ("granted", "international@lidkoping.se"),
    ]
    table = bevaka("decisions", "list", "--department", "utbildning", check=True).stdout
    assert "granted" in table and "1 decision(s)" in table
    assert "500 000 kr" in table and "450 000 kr" in table and "500,000" not in table
    refused = bevaka(
        "decide", str(call_id), "-d", "utbildning", "-s", "applied", "--applied-sek", "mycket"
    )
    assert refused.returncode == 2 and "not an amount in SEK: 'mycket'" in refused.stderr


def test_analysis_edit_from_file_and_options_then_show(bevaka, call_id, session, tmp_path):
    refused = bevaka(
        "analysis", "edit", str(call_id), "--department", "utbildning", "--purpose", "x"
    )
    assert refused.returncode == 2
    assert "pursues" in refused.stderr
    decide(session, call_id, "utbildning", NOW, "pursuing")
    session.commit()
    answers = tmp_path / "analys.yaml"
    answers.write_text(
        "purpose: Elevutbyte med Tyskland\nrisks: Få sökande\npartner_countries: Tyskland\n",
        encoding="utf-8",
    )
    bevaka("analysis", "edit", str(call_id), "-d", "utbildning", "--file", str(answers), check=True)
    bevaka(
        "analysis",
        "edit",
        str(call_id),
        "-d",
        "utbildning",
        "--risks",
        "Få sökande; resor dyra",
        "--security",
        "<b>Inga</b> känsliga uppgifter",
        check=True,
    )
    shown = json.loads(
        bevaka(
            "analysis", "show", str(call_id), "-d", "utbildning", "--format", "json", check=True
        ).stdout
    )
    assert shown["status"] == "pursuing"
    assert shown["answers"] == {
        "purpose": "Elevutbyte med Tyskland",
        "risks": "Få sökande; resor dyra",
        "partner_countries": "Tyskland",
        "security": "<b>Inga</b> känsliga uppgifter",
    }
    out = tmp_path / "analys.html"
    bevaka(
        "analysis",
        "show",
        str(call_id),
        "-d",
        "utbildning",
        "--format",
        "html",
        "-o",
        str(out),
        check=True,
    )
    html = out.read_text(encoding="utf-8")
    assert "Nytto- och riskanalys" in html
    assert "Elevutbyte med Tyskland" in html
    assert "&lt;b&gt;Inga&lt;/b&gt;" in html and "<b>Inga</b>" not in html
    assert "mänskliga rättigheter" in html and "regeringen.se" in html
    bad = tmp_path / "bad.yaml"
    bad.write_text("budget: 5\n", encoding="utf-8")
    refused = bevaka("analysis", "edit", str(call_id), "-d", "utbildning", "--file", str(bad))
    assert refused.returncode == 2
    assert "unknown analysis field(s) budget" in refused.stderr


def test_report_annual_csv_html_and_pdf(bevaka, seeded, followup_config_dir, tmp_path):
    result = bevaka("report", "annual", "--year", "2026", "--format", "csv", check=True)
    rows = {(r["section"], r["key"]): r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows[("total", "calls_surfaced")]["count"] == "7"
    assert rows[("total", "grants")]["amount_sek"] == "1250000"
    html_file = tmp_path / "r.html"
    bevaka("report", "annual", "--year", "2026", "--output", str(html_file), check=True)
    assert "Uppföljning av externa finansieringsmöjligheter 2026" in html_file.read_text("utf-8")
    refused = bevaka("report", "annual", "--year", "2026", "--format", "pdf")
    assert refused.returncode == 2 and "--output" in refused.stderr
    pdf = tmp_path / "r.pdf"
    bevaka("report", "annual", "--year", "2026", "--format", "pdf", "-o", str(pdf), check=True)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    page = next(tmp_path.glob("page*.png")).read_bytes()
    assert page.startswith(b"\x89PNG")
    # The first page is not blank: the PNG of an A4 page at 40 dpi with text and charts.
    assert len(page) > 5000
