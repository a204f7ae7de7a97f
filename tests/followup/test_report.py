"""The yearly report's numbers against the seeded year (see conftest.py for the hand count)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from followup.report import build_annual_report, render_csv, render_html, summary_text

NOW = datetime(2027, 3, 15, 10, tzinfo=UTC)


def _rows(rows):
    return {r.key: r.count for r in rows}


def test_calls_surfaced_per_programme_department_and_topic(session, seeded, followup_config):
    report = build_annual_report(session=session, config=followup_config, year=2026, now=NOW)
    assert report.calls_surfaced == 7
    assert report.calls_tagged == 6
    assert _rows(report.by_programme) == {
        "ERASMUS": 2,
        "HORIZON": 1,
        "LIFE": 1,
        "CERV": 1,
        "AMIF": 1,
        "-": 1,
    }
    assert report.by_programme[0].key == "ERASMUS"  # largest first
    labels = {r.key: r.label for r in report.by_programme}
    assert labels["ERASMUS"] == "Erasmus+"
    assert labels["-"] == "Okänt program"
    assert _rows(report.by_department) == {
        "utbildning": 3,
        "kommunledning": 2,
        "samhallsbyggnad": 2,
        "social": 2,
    }
    assert report.by_department[0].label == "Utbildningsförvaltningen"
    assert _rows(report.by_topic) == {"klimat": 2}


def test_decisions_use_the_latest_row_at_year_end(session, seeded, followup_config):
    report = build_annual_report(session=session, config=followup_config, year=2026, now=NOW)
    assert _rows(report.by_status) == {
        "noted": 1,
        "pursuing": 1,
        "applied": 1,
        "granted": 2,
        "rejected": 1,
        "declined": 3,
    }
    # c4 was edited from no_cofinancing to deadline_too_close: only the latest counts.
    assert _rows(report.declined_reasons) == {
        "no_capacity": 1,
        "no_cofinancing": 1,
        "deadline_too_close": 1,
    }
    assert report.applications == 4
    assert report.applied_sek == 3_800_000  # c0 1M (carried over), c1 500k, c3 2M, c7 300k
    assert report.grants == 2
    assert report.granted_sek == 1_250_000  # c0 800k, c1 450k; c7's 2027 grant is not in 2026
    assert report.rejected == 1
    assert _rows(report.decisions_by_department) == {
        "utbildning": 2,
        "kommunledning": 3,
        "samhallsbyggnad": 2,
        "social": 2,
    }
    by_pair = {(d.call_id, d.department): d for d in report.decisions}
    c = seeded.calls
    assert by_pair[(c["c7"], "social")].status == "applied"
    assert by_pair[(c["c4"], "samhallsbyggnad")].reason_label == (
        "För kort tid till sista ansökningsdag"
    )


def test_the_next_year_sees_the_later_grant(session, seeded, followup_config):
    report = build_annual_report(session=session, config=followup_config, year=2027, now=NOW)
    assert report.calls_surfaced == 1  # c8: 31 December 23:30 UTC is 2027 in Stockholm
    assert _rows(report.by_status) == {"granted": 1}
    assert report.granted_sek == 250_000
    assert report.applied_sek == 300_000


def test_source_uptime(session, seeded, followup_config):
    report = build_annual_report(session=session, config=followup_config, year=2026, now=NOW)
    uptime = {u.source: u for u in report.uptime}
    assert set(uptime) == {"eu_portal", "vinnova"}
    eu = uptime["eu_portal"]
    assert (eu.runs, eu.ok, eu.empty, eu.failed) == (12, 10, 1, 1)
    assert eu.name == "EU Funding & Tenders Portal"
    assert abs(eu.uptime - 10 / 12) < 1e-9
    vinnova = uptime["vinnova"]
    assert (vinnova.runs, vinnova.ok, vinnova.failed) == (4, 3, 1)


def test_summary_text_is_swedish_with_the_numbers(session, seeded, followup_config):
    report = build_annual_report(session=session, config=followup_config, year=2026, now=NOW)
    text = summary_text(report)
    assert text.startswith("Under 2026 fångade bevakningen")
    assert "7 utlysningar, varav 6" in text
    assert "Flest utlysningar kom från Erasmus+ (2)" in text
    assert "4 ansökningar lämnades in om sammanlagt 3 800 000 kr" in text
    assert "2 beviljades med sammanlagt 1 250 000 kr" in text
    assert "1 fick avslag" in text
    assert "I 3 fall avstod" in text
    assert "81 % av hämtningarna lyckades" in text  # 13 of 16


def test_html_has_charts_tables_and_escapes_titles(session, seeded, followup_config):
    from storage.models import Call

    call = session.get(Call, seeded.calls["c1"])
    call.title = "<script>alert(1)</script> Skolutbyte"
    session.add(call)
    session.commit()
    report = build_annual_report(session=session, config=followup_config, year=2026, now=NOW)
    html = render_html(report)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Skolutbyte" in html
    assert html.count("<svg") == 2
    ids = re.findall(r'id="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids must be unique across both charts"
    assert "Skapad 15 mars 2027" in html
    assert "Utbildningsförvaltningen" in html
    assert re.search(r'id="calls-surfaced">7<', html)
    # 10 ok of 12 eu_portal runs
    assert "83 %" in html


def test_csv_has_one_row_per_number(session, seeded, followup_config):
    report = build_annual_report(session=session, config=followup_config, year=2026, now=NOW)
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    index = {(r["section"], r["key"]): r for r in rows}
    assert index[("total", "calls_surfaced")]["count"] == "7"
    assert index[("total", "applications")]["amount_sek"] == "3800000"
    assert index[("total", "grants")]["amount_sek"] == "1250000"
    assert index[("programme", "ERASMUS")]["count"] == "2"
    assert index[("department", "utbildning")]["count"] == "3"
    assert index[("declined_reason", "no_capacity")]["count"] == "1"
    assert index[("uptime_runs", "eu_portal")]["count"] == "12"
    assert index[("uptime_ok", "eu_portal")]["count"] == "10"


def test_empty_year_renders(session, followup_config):
    report = build_annual_report(session=session, config=followup_config, year=2030, now=NOW)
    assert report.calls_surfaced == 0
    html = render_html(report)
    assert "<svg" not in html
    assert "Inga beslut registrerades" in html
    assert "Inga beslut om utlysningarna registrerades under året." in report.summary_text


def test_pdf_is_tagged_titled_as_its_heading_and_fits_the_page(
    session, seeded, followup_config, tmp_path
):
    import shutil
    import subprocess

    import pytest

    from followup.report import render_pdf

    if not (shutil.which("pdfinfo") and shutil.which("pdftotext")):
        pytest.skip("needs poppler-utils (make browser)")
    report = build_annual_report(session=session, config=followup_config, year=2026, now=NOW)
    pdf = tmp_path / "uppfoljning.pdf"
    pdf.write_bytes(render_pdf(report))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Title:\s+Uppföljning av externa finansieringsmöjligheter 2026$", info, re.M)
    assert re.search(r"^Tagged:\s+yes$", info, re.M)
    width = float(re.search(r"^Page size:\s+([\d.]+) x", info, re.M).group(1))
    # every word inside the right margin (16 mm = 45 pt), the decisions table included
    boxes = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    right = max(float(x) for x in re.findall(r'xMax="([\d.]+)"', boxes))
    assert right <= width - 45 + 1, right
    assert "Förvaltningarnas" in boxes  # the decisions table is in it
