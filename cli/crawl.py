"""CLI commands of the crawler: ``bevaka crawl``, ``bevaka sources list|check``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.context import EXIT_CONFIG, console, err_console, fail, print_json, state

sources_app = typer.Typer(
    help="List the sources with their health, or check one.", no_args_is_help=True
)


class Format(StrEnum):
    table = "table"
    json = "json"


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _local(value, tz) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "—"


def _counts(result) -> str:
    return (
        f"{result.seen} seen, {result.new} new, {result.changed} changed, "
        f"{result.invalid} invalid, {result.errors} errors"
    )


def crawl(
    ctx: typer.Context,
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Source keys (default: every enabled source)", show_default=False),
    ] = None,
) -> None:
    """Crawl sources and store their calls: each source in its own Scrapy process, with a
    progress line per source and a summary table. Exit status 1 when any source failed (the
    other sources' calls are stored all the same).

    Example: bevaka crawl eu_portal vinnova
    """
    from crawler.runner import SourceResult, crawl_sources

    st = state(ctx)
    st.require_schema()

    def progress(key: str, stage: str, result: SourceResult | None) -> None:
        if stage == "start":
            console.print(f"[bold]{escape(key)}[/bold] crawling …", markup=True)
        elif result is not None:
            colour = {"ok": "green", "empty": "yellow", "skipped": "dim"}.get(result.outcome, "red")
            line = f"[bold]{escape(key)}[/bold] [{colour}]{result.outcome}[/{colour}]"
            if result.outcome != "skipped":
                line += f": {_counts(result)} ({result.duration_seconds:.1f} s)"
            if result.error:
                line += f" — {escape(result.error[:300])}"
            console.print(line, markup=True)

    try:
        results = crawl_sources(
            config=st.config,
            keys=sources or None,
            database_url=st.settings.database_url,
            progress=progress,
        )
    except KeyError as exc:
        fail(str(exc.args[0]), code=EXIT_CONFIG)
    table = Table(
        "source", "outcome", "seen", "new", "changed", "unchanged", "invalid", "errors", "seconds"
    )
    for r in results:
        table.add_row(
            r.source,
            r.outcome,
            *(str(v) for v in (r.seen, r.new, r.changed, r.unchanged, r.invalid, r.errors)),
            f"{r.duration_seconds:.1f}",
        )
    console.print(table)
    failed = [r.source for r in results if r.failed]
    if failed:
        err_console.print(f"failed: {', '.join(failed)}", markup=False)
        raise typer.Exit(1)


@sources_app.command("list")
def sources_list(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """List the configured sources with their health: state (enabled, or disabled: url not
    set), last run, outcome (with the optional detail fetches that failed in it),
    consecutive failures and last success.

    Example: bevaka sources list --format json
    """
    from storage.repo import source_health

    st = state(ctx)
    rows = []
    with st.session() as session:
        for entry in st.config.sources.sources:
            health = source_health(session=session, source=entry.key)
            run = health.last_run
            rows.append(
                {
                    "key": entry.key,
                    "name": entry.name,
                    "kind": entry.kind,
                    "call_kind": entry.call_kind,
                    "state": entry.state,
                    "url": entry.url,
                    "last_run": _iso(run.started_at) if run else None,
                    "outcome": health.outcome,
                    "consecutive_failures": health.consecutive_failures,
                    "last_success": _iso(health.last_success),
                    "last_error": run.error if run else None,
                    "last_seen": run.seen if run else None,
                    "detail_failures": int((run.stats or {}).get("detail_failures", 0))
                    if run
                    else None,
                    "_last_run": run.started_at if run else None,
                    "_last_success": health.last_success,
                }
            )
    if fmt is Format.json:
        print_json([{k: v for k, v in row.items() if not k.startswith("_")} for row in rows])
        return
    tz = st.settings.tz
    table = Table(
        "key",
        "name",
        "kind",
        "state",
        "last run",
        "outcome",
        "failures",
        "last success",
        "last error",
    )
    for row in rows:
        last_error = row["last_error"] or ""
        table.add_row(
            row["key"],
            escape(row["name"]),
            row["kind"],
            row["state"],
            _local(row["_last_run"], tz),
            row["outcome"]
            + (
                f" ({row['detail_failures']} detail fetches failed)"
                if row["detail_failures"]
                else ""
            ),
            str(row["consecutive_failures"]),
            _local(row["_last_success"], tz),
            escape(last_error[:160] + ("…" if len(last_error) > 160 else "")) or "—",
        )
    console.print(table)


@sources_app.command("check")
def sources_check(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="The source key (see `bevaka sources list`)")],
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many calls")] = 50,
) -> None:
    """Crawl one source without storing anything and show what it extracts (title, dates,
    status, budget, URL per call, and the errors): the tool for mending a source's selectors.
    Works for disabled sources that have a url. Exit status 1 when the crawl failed.

    Example: bevaka sources check tillvaxtverket
    """
    from cli.context import now_utc
    from crawler.runner import inspect_source
    from storage.records import derive_status, next_deadline

    st = state(ctx)
    try:
        report = inspect_source(config=st.config, key=source)
    except KeyError as exc:
        fail(str(exc.args[0]), code=EXIT_CONFIG)
    result = report.result
    now = now_utc()
    if fmt is Format.json:
        print_json(
            {
                "source": source,
                "outcome": result.outcome,
                "seen": result.seen,
                "invalid": result.invalid,
                "errors": result.errors,
                "error": result.error,
                "error_messages": result.messages,
                "calls": [c.model_dump(mode="json") for c in report.calls[:limit]],
            }
        )
    else:
        tz = st.settings.tz
        for call in report.calls[:limit]:
            status = derive_status(
                opens_at=call.opens_at, deadlines=call.deadlines, now=now, hint=call.status
            )
            deadline = next_deadline(call.deadlines, now)
            console.print(f"[bold]{escape(call.title[:120])}[/bold]", markup=True)
            budget = (
                f"{call.budget:,.0f} {call.currency or ''}".strip()
                if call.budget is not None
                else (call.budget_text or "—")
            )
            for label, value in (
                ("id", call.external_id),
                ("url", call.url),
                ("status", status),
                ("opens", _local(call.opens_at, tz)),
                ("deadline", _local(deadline, tz)),
                ("programme", call.programme or "—"),
                ("budget", budget),
                ("regions", ", ".join(call.regions) or "—"),
            ):
                console.print(f"  {label:>9}: {escape(str(value))}", markup=True)
        shown = min(len(report.calls), limit)
        console.print(
            f"{result.outcome}: {len(report.calls)} call(s) extracted"
            + (f", {shown} shown" if shown < len(report.calls) else "")
            + f"; {result.invalid} invalid, {result.errors} error(s)",
            markup=False,
        )
        messages = result.messages or ([result.error] if result.error else [])
        for number, message in enumerate(messages, 1):
            err_console.print(
                f"error {number}/{len(messages)}: {message}",
                markup=False,
                emoji=False,
                soft_wrap=True,
            )
        if result.errors > len(messages):
            err_console.print(
                f"({result.errors - len(messages)} more error(s) not shown)", markup=False
            )
    if result.failed:
        raise typer.Exit(1)


@sources_app.command("suggest")
def sources_suggest(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A page's URL, or a saved HTML file")],
    link_pattern: Annotated[
        str | None,
        typer.Option("--link-pattern", help="Only links whose URL matches this (RE2)"),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="A saved file's web address (to resolve its links)"),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Propose the settings of a `listing` source for a page, and show what they extract
    (title, link, opening date, deadline and status per call), so that a source can be
    mended without writing CSS. Reads a saved file, or fetches the URL once. Prefers a
    feed or WordPress API the page announces.

    Example: bevaka sources suggest https://www.lansstyrelsen.se/dalarna/utlysningar.html
    """
    import yaml

    from cli.context import now_utc
    from crawler.suggest import read_page, suggest

    st = state(ctx)
    try:
        html, address = read_page(target, user_agent=st.settings.crawl.resolved_user_agent, url=url)
        found = suggest(html, address, now=now_utc(), link_pattern=link_pattern)
    except ValueError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    if fmt is Format.json:
        print_json(
            {
                "url": found.url,
                "strategy": found.strategy,
                "options": found.options,
                "overrides": found.overrides,
                "structured": found.structured,
                "selector_matches": found.selector_matches,
                "notes": found.notes,
                "calls": [
                    {
                        **c,
                        "opens_at": _iso(c["opens_at"]),
                        "deadlines": [_iso(d) for d in c["deadlines"]],
                    }
                    for c in found.calls
                ],
            }
        )
        return
    tz = st.settings.tz
    for alt in found.structured:
        console.print(
            f"prefer kind {alt['kind']}: {alt['url']} ({alt['why']})", markup=False, emoji=False
        )
    console.print(
        f"{len(found.calls)} call(s) found by: {found.strategy or 'nothing'}", markup=False
    )
    for call in found.calls:
        deadlines = ", ".join(_local(d, tz) for d in call["deadlines"]) or (
            "löpande (rolling)"
            if call["rolling"]
            else "unknown"
            if call["deadline_unknown"]
            else "—"
        )
        console.print(f"[bold]{escape(call['title'][:120])}[/bold]", markup=True, emoji=False)
        for label, value in (
            ("url", call["url"]),
            ("status", call["status"]),
            ("opens", _local(call["opens_at"], tz)),
            ("deadline", deadlines),
        ):
            console.print(f"  {label:>9}: {escape(str(value))}", markup=True, emoji=False)
    entry = {"kind": "listing", "url": found.url, "options": found.options}
    console.print("\nsuggested entry (sources.yaml):", markup=False, emoji=False)
    console.print(
        yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), markup=False, emoji=False
    )
    if found.overrides:
        console.print(
            "optional selector overrides (same items):\n"
            + yaml.safe_dump({"options": found.overrides}, allow_unicode=True, sort_keys=False),
            markup=False,
            emoji=False,
        )
    for note in found.notes:
        console.print(f"note: {note}", markup=False, emoji=False)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``bevaka`` app."""
    app.command("crawl")(crawl)
    app.add_typer(sources_app, name="sources")
