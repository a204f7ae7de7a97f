"""CLI commands for the follow-up: ``decide``, ``decisions list``, ``analysis show|edit`` and
``report annual``."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table

from cli.context import EXIT_CONFIG, console, fail, now_utc, print_json, state


class ListFormat(StrEnum):
    table = "table"
    json = "json"


class ShowFormat(StrEnum):
    text = "text"
    html = "html"
    json = "json"


class ReportFormat(StrEnum):
    html = "html"
    pdf = "pdf"
    csv = "csv"


decisions_app = typer.Typer(help="Decisions of the förvaltningar on calls.", no_args_is_help=True)
analysis_app = typer.Typer(
    help="The benefit and risk analysis for a pursued call.", no_args_is_help=True
)
report_app = typer.Typer(help="Reports for kommunstyrelsen.", no_args_is_help=True)


def _departments(st) -> dict[str, str]:
    return {d.key: d.name for d in st.config.needs.departments}


def _check_department(st, department: str) -> None:
    known = _departments(st)
    if department not in known:
        allowed = ", ".join(sorted(known)) or "(none in needs.yaml)"
        fail(f"unknown department {department!r}; use one of {allowed}", code=EXIT_CONFIG)


def decide(
    ctx: typer.Context,
    call_id: Annotated[int, typer.Argument(help="The call's id (see `bevaka calls list`)")],
    department: Annotated[
        str, typer.Option("--department", "-d", help="The förvaltning's key in needs.yaml")
    ],
    status: Annotated[
        str,
        typer.Option(
            "--status",
            "-s",
            help="noted, considering, pursuing, applied, granted, rejected or declined",
        ),
    ],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="With declined: no_cofinancing, no_capacity, not_eligible, not_relevant, "
            "deadline_too_close or other",
        ),
    ] = None,
    applied_sek: Annotated[
        str | None,
        typer.Option("--applied-sek", help='Amount applied for, in SEK ("500000", "1 250 000")'),
    ] = None,
    granted_sek: Annotated[
        str | None, typer.Option("--granted-sek", help="Amount granted, in SEK")
    ] = None,
    partners: Annotated[
        str | None, typer.Option("--partners", help="Partners, free text (e.g. 'Skara, Vara')")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="A short note")] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who decided (e-mail; default: digest.coordinator_email)"),
    ] = None,
) -> None:
    """Record what a förvaltning decided about a call (adds a row; history is kept).

    Amounts applied for and partners carry over from the previous decision when not given.

    Example: bevaka decide 42 --department utbildning --status applied --applied-sek 500000
    """
    from followup.decisions import DecisionError, DecisionInput, parse_sek, record_decision

    st = state(ctx)
    known = _departments(st)
    try:
        amounts = {"applied": parse_sek(applied_sek), "granted": parse_sek(granted_sek)}
    except DecisionError:
        bad = applied_sek if applied_sek is not None else granted_sek
        fail(f'not an amount in SEK: {bad!r} (use e.g. 500000 or "1 250 000")', code=EXIT_CONFIG)
    data = DecisionInput(
        status=status,
        reason=reason,
        applied_sek=amounts["applied"],
        granted_sek=amounts["granted"],
        partners=partners,
        note=note,
    )
    actor = by or st.settings.digest.coordinator_email
    try:
        with st.session() as session:
            row = record_decision(
                session=session,
                call_id=call_id,
                department=department,
                data=data,
                actor=actor,
                now=now_utc(),
                known_departments=known,
            )
            summary = f"call {row.call_id} / {row.department}: {row.status}"
            if row.reason:
                summary += f" ({row.reason})"
            row_id = row.id
    except DecisionError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    console.print(f"recorded decision {row_id}: {escape(summary)}", markup=True)


@decisions_app.command("list")
def decisions_list(
    ctx: typer.Context,
    call: Annotated[int | None, typer.Option("--call", help="Only this call's decisions")] = None,
    department: Annotated[
        str | None, typer.Option("--department", "-d", help="Only this förvaltning")
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="Every row, oldest first (not only the current)")
    ] = False,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """List the current decision per call and förvaltning (or the whole history).

    Example: bevaka decisions list --department utbildning --format json
    """
    from followup.decisions import current_decisions, decision_history, decision_json, sek_text

    st = state(ctx)
    if department is not None:
        _check_department(st, department)
    with st.session() as session:
        if history:
            rows = decision_history(session=session, call_id=call, department=department)
        else:
            rows = current_decisions(
                session=session,
                call_ids=[call] if call is not None else None,
                department=department,
            )
    if fmt is ListFormat.json:
        print_json([decision_json(r) for r in rows])
        return
    tz = st.settings.tz
    amount = {"justify": "right", "no_wrap": True, "min_width": 12}  # "1 250 000 kr" whole
    table = Table(
        "id",
        "call",
        "department",
        "status",
        "reason",
        Column("applied", **amount),
        Column("granted", **amount),
        "by",
        "at",
    )
    for r in rows:
        table.add_row(
            str(r.id),
            str(r.call_id),
            r.department,
            r.status,
            r.reason or "",
            sek_text(r.amount_applied_sek),
            sek_text(r.amount_granted_sek),
            escape(r.actor),
            r.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)
    console.print(f"{len(rows)} decision(s)")


@analysis_app.command("show")
def analysis_show(
    ctx: typer.Context,
    call_id: Annotated[int, typer.Argument(help="The call's id")],
    department: Annotated[str, typer.Option("--department", "-d", help="The förvaltning's key")],
    fmt: Annotated[
        ShowFormat, typer.Option("--format", help="text, html (printable) or json")
    ] = ShowFormat.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout")
    ] = None,
) -> None:
    """Show the benefit and risk analysis of a call for a förvaltning (printable as HTML).

    Example: bevaka analysis show 42 --department utbildning --format html --output analys.html
    """
    from followup.analysis import FIELDS, latest_analysis, render_analysis_html
    from followup.decisions import current_decision
    from storage.models import Call

    st = state(ctx)
    _check_department(st, department)
    with st.session() as session:
        call = session.get(Call, call_id)
        if call is None:
            fail(f"no call with id {call_id}")
        row = latest_analysis(session=session, call_id=call_id, department=department)
        decision = current_decision(session=session, call_id=call_id, department=department)
    if fmt is ShowFormat.json:
        data = {
            "call_id": call_id,
            "department": department,
            "status": decision.status if decision else None,
            "answers": row.answers if row else {},
            "by": row.actor if row else None,
            "at": row.created_at.isoformat() if row else None,
        }
        if output:
            import json

            output.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        else:
            print_json(data)
        return
    if fmt is ShowFormat.html:
        html = render_analysis_html(
            call=call,
            department_label=_departments(st)[department],
            analysis=row,
            decision_status=decision.status if decision else None,
            tz=st.settings.tz,
            now=now_utc(),
        )
        _write_text(html, output)
        return
    lines = [f"{call.title}", f"department: {department}"]
    lines.append(f"status: {decision.status if decision else 'no decision'}")
    if row is None:
        lines.append("no analysis yet")
    else:
        lines.append(f"last edited {row.created_at.isoformat()} by {row.actor}")
        for f in FIELDS:
            lines.append(f"\n{f.label} ({f.key}):\n  {row.answers.get(f.key) or '—'}")
    _write_text("\n".join(lines) + "\n", output)


def _write_text(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {output}")


@analysis_app.command("edit")
def analysis_edit(
    ctx: typer.Context,
    call_id: Annotated[int, typer.Argument(help="The call's id")],
    department: Annotated[str, typer.Option("--department", "-d", help="The förvaltning's key")],
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="YAML or JSON mapping of field → text", exists=True, dir_okay=False
        ),
    ] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="Syfte och mål")] = None,
    own_need: Annotated[
        str | None, typer.Option("--own-need", help="Förvaltningens eget behov")
    ] = None,
    partners: Annotated[
        str | None, typer.Option("--partners", help="Partner och varför just de")
    ] = None,
    partner_countries: Annotated[
        str | None, typer.Option("--partner-countries", help="Partnerländer")
    ] = None,
    environment: Annotated[str | None, typer.Option("--environment", help="Miljöpåverkan")] = None,
    security: Annotated[str | None, typer.Option("--security", help="Säkerhet")] = None,
    democracy_human_rights: Annotated[
        str | None,
        typer.Option(
            "--democracy-human-rights",
            help="Demokrati och mänskliga rättigheter (read UD's human-rights reports)",
        ),
    ] = None,
    financing: Annotated[
        str | None, typer.Option("--financing", help="Finansiering och medfinansiering")
    ] = None,
    risks: Annotated[str | None, typer.Option("--risks", help="Risker")] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who wrote it (e-mail; default: digest.coordinator_email)"),
    ] = None,
) -> None:
    """Fill in or change the benefit and risk analysis (adds a row; other fields are kept).

    The förvaltning's current decision must be pursuing, applied, granted or rejected. An
    empty value clears a field. Fields in --file are applied first, then the options.

    Example: bevaka analysis edit 42 --department utbildning --purpose "Elevutbyte med Tyskland"
    """
    from followup.analysis import AnalysisError, load_answers_file, save_analysis

    st = state(ctx)
    _check_department(st, department)
    answers: dict[str, str] = {}
    try:
        if file is not None:
            answers.update(load_answers_file(file))
    except AnalysisError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    for key, value in (
        ("purpose", purpose),
        ("own_need", own_need),
        ("partners", partners),
        ("partner_countries", partner_countries),
        ("environment", environment),
        ("security", security),
        ("democracy_human_rights", democracy_human_rights),
        ("financing", financing),
        ("risks", risks),
    ):
        if value is not None:
            answers[key] = value
    if not answers:
        fail("nothing to change: give --file or at least one field option", code=EXIT_CONFIG)
    try:
        with st.session() as session:
            row = save_analysis(
                session=session,
                call_id=call_id,
                department=department,
                answers=answers,
                actor=by or st.settings.digest.coordinator_email,
                now=now_utc(),
            )
            filled = len(row.answers)
    except AnalysisError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    console.print(f"saved analysis for call {call_id} / {department}: {filled} of 9 fields filled")


@report_app.command("annual")
def report_annual(
    ctx: typer.Context,
    year: Annotated[int, typer.Option("--year", min=2000, max=2100, help="Calendar year")],
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="html, pdf or csv")
    ] = ReportFormat.html,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (required for pdf)"),
    ] = None,
) -> None:
    """The yearly follow-up for kommunstyrelsen: calls per programme and förvaltning,
    decisions and reasons, applications and grants, source uptime, and a Swedish summary.

    Example: bevaka report annual --year 2026 --format pdf --output uppfoljning-2026.pdf
    """
    from followup.report import build_annual_report, render_csv, render_html, render_pdf

    st = state(ctx)
    if fmt is ReportFormat.pdf and output is None:
        fail("--format pdf needs --output FILE", code=EXIT_CONFIG)
    with st.session() as session:
        report = build_annual_report(session=session, config=st.config, year=year, now=now_utc())
    if fmt is ReportFormat.pdf:
        assert output is not None
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(render_pdf(report))
        console.print(f"wrote {output}")
        return
    text = render_csv(report) if fmt is ReportFormat.csv else render_html(report)
    _write_text(text, output)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``bevaka`` app, and the digest's reminder section
    (every entry point that builds digests goes through the ``bevaka`` app)."""
    from followup.reminders import install

    install()
    app.command("decide")(decide)
    app.add_typer(decisions_app, name="decisions")
    app.add_typer(analysis_app, name="analysis")
    app.add_typer(report_app, name="report")
