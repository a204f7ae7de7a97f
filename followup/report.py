"""The yearly follow-up report to kommunstyrelsen: the numbers (:func:`build_annual_report`)
and their renderings (HTML with inline SVG charts, PDF through WeasyPrint, CSV).

What counts for year Y (calendar year in the configured time zone):

- *calls surfaced*: calls (kind ``call``) first seen in Y, per programme, and per förvaltning
  and topic through their Tag rows;
- *decisions*: every (call, förvaltning) with at least one decision row in Y, in the state
  of its latest row at the end of Y (history is append-only; an edit adds a row);
- *applications*: current status applied, granted or rejected; amounts in SEK from the
  latest row; *grants*: current status granted;
- *source uptime*: finished CrawlRun rows started in Y; uptime = ok runs / finished runs.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from config.loader import Config
from config.programmes import PROGRAMMES
from followup.decisions import APPLIED_STATUSES, REASONS, STATUSES, latest_per_pair
from notifications.formatting import format_date, format_money, format_number, make_environment
from storage.models import Call, CrawlRun, Decision, Tag

TEMPLATES = Path(__file__).resolve().parent / "templates"
UNKNOWN_PROGRAMME = "Okänt program"


@dataclass(frozen=True)
class Row:
    """One line of a table: a key, its Swedish label and a count (amount in SEK if any)."""

    key: str
    label: str
    count: int
    amount_sek: float | None = None


@dataclass(frozen=True)
class SourceUptime:
    source: str
    name: str
    runs: int
    ok: int
    empty: int
    failed: int

    @property
    def uptime(self) -> float | None:
        return self.ok / self.runs if self.runs else None


@dataclass(frozen=True)
class DecisionLine:
    """One förvaltning's current decision on one call (for the report's detail table)."""

    call_id: int
    title: str
    programme: str
    department: str
    department_label: str
    status: str
    status_label: str
    reason_label: str | None
    applied_sek: float | None
    granted_sek: float | None
    decided_at: datetime


@dataclass
class AnnualReport:
    year: int
    generated_at: datetime
    tz: ZoneInfo
    calls_surfaced: int = 0
    calls_tagged: int = 0
    by_programme: list[Row] = field(default_factory=list)
    by_department: list[Row] = field(default_factory=list)
    by_topic: list[Row] = field(default_factory=list)
    by_status: list[Row] = field(default_factory=list)
    declined_reasons: list[Row] = field(default_factory=list)
    decisions_by_department: list[Row] = field(default_factory=list)
    decisions: list[DecisionLine] = field(default_factory=list)
    applications: int = 0
    applied_sek: float = 0.0
    grants: int = 0
    granted_sek: float = 0.0
    rejected: int = 0
    uptime: list[SourceUptime] = field(default_factory=list)

    @property
    def summary_text(self) -> str:
        return summary_text(self)


def year_bounds(year: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[1 January 00:00, next 1 January 00:00) of ``year`` in ``tz``, as UTC."""
    start = datetime(year, 1, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=tz).astimezone(UTC)
    return start, end


def _sorted_rows(counter: Counter, labels: dict[str, str]) -> list[Row]:
    return [
        Row(key, labels.get(key, key), n)
        for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], labels.get(kv[0], kv[0])))
    ]


def programme_label(code: str | None) -> str:
    if not code:
        return UNKNOWN_PROGRAMME
    programme = PROGRAMMES.get(code)
    return programme.name if programme else code


def build_annual_report(
    *, session: Session, config: Config, year: int, now: datetime
) -> AnnualReport:
    """Collect the year's numbers from the database (read-only)."""
    tz = config.settings.tz
    start, end = year_bounds(year, tz)
    report = AnnualReport(year=year, generated_at=now, tz=tz)
    dept_labels = {d.key: d.name for d in config.needs.departments}
    topic_labels = {t.key: t.name for t in config.needs.topics}

    # Calls surfaced, per programme / förvaltning / topic.
    calls = session.exec(
        select(Call).where(
            Call.kind == "call",
            col(Call.first_seen_at) >= start,
            col(Call.first_seen_at) < end,
        )
    ).all()
    report.calls_surfaced = len(calls)
    programmes = Counter(c.programme or "" for c in calls)
    report.by_programme = [
        Row(r.key or "-", programme_label(r.key), r.count)
        for r in _sorted_rows(programmes, {k: programme_label(k) for k in programmes})
    ]
    ids = [c.id for c in calls]
    dept_counter: Counter = Counter()
    topic_counter: Counter = Counter()
    tagged: set[int] = set()
    if ids:
        for tag in session.exec(select(Tag).where(col(Tag.call_id).in_(ids))):
            if tag.kind == "department":
                dept_counter[tag.key] += 1
                tagged.add(tag.call_id)
            elif tag.kind == "topic":
                topic_counter[tag.key] += 1
    report.calls_tagged = len(tagged)
    report.by_department = _sorted_rows(dept_counter, dept_labels)
    report.by_topic = _sorted_rows(topic_counter, topic_labels)

    # Decisions: pairs active in the year, in their state at the end of the year.
    rows = session.exec(select(Decision).where(col(Decision.created_at) < end)).all()
    active = {(r.call_id, r.department) for r in rows if r.created_at >= start}
    latest = {k: v for k, v in latest_per_pair(rows).items() if k in active}
    decided_calls = {
        c.id: c
        for c in session.exec(
            select(Call).where(col(Call.id).in_(sorted({k[0] for k in latest})))
        ).all()
    }
    status_counter: Counter = Counter()
    reason_counter: Counter = Counter()
    dept_decisions: Counter = Counter()
    for (call_id, department), d in sorted(latest.items()):
        status_counter[d.status] += 1
        dept_decisions[department] += 1
        if d.status == "declined" and d.reason:
            reason_counter[d.reason] += 1
        if d.status in APPLIED_STATUSES:
            report.applications += 1
            report.applied_sek += d.amount_applied_sek or 0.0
        if d.status == "granted":
            report.grants += 1
            report.granted_sek += d.amount_granted_sek or 0.0
        if d.status == "rejected":
            report.rejected += 1
        call = decided_calls.get(call_id)
        report.decisions.append(
            DecisionLine(
                call_id=call_id,
                title=call.title if call else f"#{call_id}",
                programme=programme_label(call.programme if call else None),
                department=department,
                department_label=dept_labels.get(department, department),
                status=d.status,
                status_label=STATUSES.get(d.status, d.status),
                reason_label=REASONS.get(d.reason) if d.reason else None,
                applied_sek=d.amount_applied_sek,
                granted_sek=d.amount_granted_sek,
                decided_at=d.created_at,
            )
        )
    report.decisions.sort(key=lambda line: (line.department_label, line.title, line.call_id))
    report.by_status = [
        Row(key, label, status_counter[key])
        for key, label in STATUSES.items()
        if status_counter[key]
    ]
    report.declined_reasons = _sorted_rows(reason_counter, REASONS)
    report.decisions_by_department = _sorted_rows(dept_decisions, dept_labels)

    # Source uptime.
    source_names = {s.key: s.name for s in config.sources.sources}
    runs = session.exec(
        select(CrawlRun).where(
            col(CrawlRun.started_at) >= start,
            col(CrawlRun.started_at) < end,
            CrawlRun.outcome != "running",
        )
    ).all()
    per_source: dict[str, Counter] = {}
    for run in runs:
        per_source.setdefault(run.source, Counter())[run.outcome] += 1
    report.uptime = [
        SourceUptime(
            source=key,
            name=source_names.get(key, key),
            runs=sum(counter.values()),
            ok=counter["ok"],
            empty=counter["empty"],
            failed=sum(n for outcome, n in counter.items() if outcome not in ("ok", "empty")),
        )
        for key, counter in sorted(
            per_source.items(), key=lambda kv: source_names.get(kv[0], kv[0])
        )
    ]
    return report


def _kr(amount: float) -> str:
    return format_money(amount, "SEK").replace("\u00a0", " ")


def _n(value: int) -> str:
    return format_number(value).replace("\u00a0", " ")


# The declined reasons as the end of "det vanligaste skälet var …".
REASON_PHRASES = {
    "no_cofinancing": "att medfinansiering saknades",
    "no_capacity": "att kapacitet saknades",
    "not_eligible": "att förvaltningen inte var behörig att söka",
    "not_relevant": "att utlysningen inte var relevant",
    "deadline_too_close": "för kort tid till sista ansökningsdag",
    "other": "andra skäl",
}


def _reason_phrase(key: str) -> str:
    return REASON_PHRASES.get(key, REASONS.get(key, key).lower())


def summary_text(report: AnnualReport) -> str:
    """A short Swedish text for kommunstyrelsen's agenda ("anmälningsärende")."""
    parts = [
        f"Under {report.year} fångade bevakningen av externa finansieringsmöjligheter upp "
        f"{_n(report.calls_surfaced)} utlysningar, varav {_n(report.calls_tagged)} bedömdes "
        f"vara relevanta för minst en förvaltning."
    ]
    if report.by_programme:
        most = report.by_programme[0].count
        top = [r.label for r in report.by_programme if r.count == most]
        if len(top) == 1:
            parts.append(f"Flest utlysningar kom från {top[0]} ({_n(most)}).")
        else:
            names = ", ".join(top[:-1]) + " och " + top[-1]
            parts.append(f"Flest utlysningar kom från {names} ({_n(most)} vardera).")
    decided = sum(r.count for r in report.by_status)
    if decided:
        parts.append(
            f"Förvaltningarna tog ställning i {_n(decided)} fall. "
            f"{_n(report.applications)} ansökningar lämnades in om sammanlagt "
            f"{_kr(report.applied_sek)}; {_n(report.grants)} beviljades med sammanlagt "
            f"{_kr(report.granted_sek)} och {_n(report.rejected)} fick avslag."
        )
        if report.declined_reasons:
            reasons = report.declined_reasons
            declined = sum(r.count for r in reasons)
            text = f"I {_n(declined)} fall avstod förvaltningen"
            if len(reasons) == 1 or reasons[0].count > reasons[1].count:
                text += (
                    f"; det vanligaste skälet var {_reason_phrase(reasons[0].key)} "
                    f"({_n(reasons[0].count)})"
                )
            parts.append(text + ".")
    else:
        parts.append("Inga beslut om utlysningarna registrerades under året.")
    if report.uptime:
        runs = sum(u.runs for u in report.uptime)
        ok = sum(u.ok for u in report.uptime)
        share = round(100 * ok / runs) if runs else 0
        parts.append(
            f"Bevakningen hämtade från {_n(len(report.uptime))} källor; {share} % av "
            f"hämtningarna lyckades."
        )
    parts.append(
        "Sammanställningen anmäls till kommunstyrelsen enligt policyn för internationellt arbete."
    )
    return " ".join(parts)


# --- rendering ---------------------------------------------------------------------------


REPORT_CSS = TEMPLATES / "report.css"
CSS_PATH = "/uppfoljning/stil.css"  # where the web app serves REPORT_CSS


def render_html(report: AnnualReport, *, for_pdf: bool = False, web_links: bool = False) -> str:
    """The report as a standalone Swedish HTML page with inline SVG bar charts
    (``web_links``: for the web app: links to the PDF and CSV versions, and the stylesheet
    linked, not inline, as the app's Content-Security-Policy allows no inline style)."""
    from followup.charts import bar_chart_svg

    env = make_environment(TEMPLATES, tz=report.tz)
    charts = {
        "department": bar_chart_svg(
            [(r.label, r.count) for r in report.by_department],
            title="Utlysningar per förvaltning",
            chart_id="dept",
        ),
        "programme": bar_chart_svg(
            [(r.label, r.count) for r in report.by_programme],
            title="Utlysningar per program",
            chart_id="prog",
        ),
    }
    return env.get_template("report.html").render(
        report=report,
        charts=charts,
        for_pdf=for_pdf,
        web_links=web_links,
        css_href=CSS_PATH if web_links else None,
        generated=format_date(report.generated_at, report.tz),
        sek=lambda amount: format_money(amount, "SEK") if amount is not None else "—",
    )


def render_pdf(report: AnnualReport) -> bytes:
    """The report as PDF (A4), rendered by WeasyPrint from the same HTML."""
    from weasyprint import HTML

    html = HTML(string=render_html(report, for_pdf=True), base_url=str(TEMPLATES))
    # tagged PDF (PDF/UA-1), so that screen readers read headings and tables
    return html.write_pdf(pdf_variant="pdf/ua-1")


CSV_HEADER = ("section", "key", "label", "count", "amount_sek")


def render_csv(report: AnnualReport) -> str:
    """The report's numbers as CSV: one row per (section, key)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)

    def amount(value: float | None) -> str:
        return "" if value is None else f"{value:.0f}"

    writer.writerow(("total", "calls_surfaced", "Utlysningar", report.calls_surfaced, ""))
    writer.writerow(("total", "calls_tagged", "Relevanta för förvaltning", report.calls_tagged, ""))
    writer.writerow(
        ("total", "applications", "Ansökningar", report.applications, amount(report.applied_sek))
    )
    writer.writerow(("total", "grants", "Beviljade", report.grants, amount(report.granted_sek)))
    writer.writerow(("total", "rejected", "Avslag", report.rejected, ""))
    for section, rows in (
        ("programme", report.by_programme),
        ("department", report.by_department),
        ("topic", report.by_topic),
        ("status", report.by_status),
        ("declined_reason", report.declined_reasons),
        ("decisions_department", report.decisions_by_department),
    ):
        for r in rows:
            writer.writerow((section, r.key, _csv_safe(r.label), r.count, amount(r.amount_sek)))
    for u in report.uptime:
        for section, value in (
            ("uptime_runs", u.runs),
            ("uptime_ok", u.ok),
            ("uptime_empty", u.empty),
            ("uptime_failed", u.failed),
        ):
            writer.writerow((section, u.source, _csv_safe(u.name), value, ""))
    return out.getvalue()


def _csv_safe(text: str) -> str:
    """Keep spreadsheet programs from reading a label as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
