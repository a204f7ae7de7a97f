"""CLI commands of the scheduler: run, jobs, run-once, demo."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.context import EXIT_CONFIG, console, fail, state


def _parse_as_of(value: str | None, tz) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--as-of: not an ISO date or datetime: {value!r}", code=2)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def _stage_table(results) -> Table:
    table = Table("stage", "result", "details")
    for r in results:
        details = ", ".join(f"{k}: {v}" for k, v in r.summary.items())
        table.add_row(
            r.name,
            "ok" if r.ok else "[red]failed[/red]",
            escape(details + (f" — {r.error}" if r.error else "")),
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(ctx: typer.Context) -> None:
        """Run the scheduler service until SIGTERM/SIGINT (one per database).

        Crawls each source on its schedule (default weekdays 06:00), matches after every
        crawl, sends the weekly digest (default Monday 07:00) and source-health alerts.
        A second `bevaka run` against the same database refuses to start.

        Example: bevaka run
        """
        from scheduler.logs import register_secrets, setup_logging
        from scheduler.service import run_service

        st = state(ctx)
        st.require_schema()
        setup_logging()
        register_secrets([st.settings.smtp.password, st.settings.secret_key])
        try:
            code = run_service(st.config, st.engine)
        except SystemExit as exc:
            console.file.flush()
            print(exc.code, file=sys.stderr)
            sys.stderr.flush()
            os._exit(1)
        sys.stdout.flush()
        sys.stderr.flush()
        # Worker threads of an abandoned job must not keep the process alive.
        os._exit(code)

    @app.command("jobs")
    def jobs(ctx: typer.Context) -> None:
        """List the configured jobs with their next run times in local time.

        Example: bevaka jobs
        """
        from scheduler.service import job_specs

        st = state(ctx)
        tz = st.settings.tz
        now = datetime.now(tz)
        table = Table("job", "schedule (cron)", "next run", "what it does")
        for spec in job_specs(st.config, st.engine):
            nxt = spec.trigger(tz).get_next_fire_time(None, now)
            table.add_row(
                spec.id,
                spec.cron,
                nxt.strftime("%a %Y-%m-%d %H:%M %Z") if nxt else "never",
                escape(spec.description),
            )
        console.print(table)
        console.print(f"times in {tz.key}")

    @app.command("run-once")
    def run_once_cmd(
        ctx: typer.Context,
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="Pretend it is this date/time (ISO)")
        ] = None,
        no_send: Annotated[
            bool, typer.Option("--no-send", help="Write digests to the outbox instead of mailing")
        ] = False,
    ) -> None:
        """Run crawl → match → digest now, with a summary; exit 1 if any stage failed.

        Example: bevaka run-once
        """
        from scheduler.logs import register_secrets
        from scheduler.pipeline import run_once

        st = state(ctx)
        st.require_schema()
        register_secrets([st.settings.smtp.password, st.settings.secret_key])
        config = st.config
        if no_send:
            settings = config.settings.model_copy(
                update={"smtp": config.settings.smtp.model_copy(update={"host": None})}
            )
            config = type(config)(config.directory, settings, config.sources, config.needs)
        now = _parse_as_of(as_of, st.settings.tz) or datetime.now(UTC)
        with console.status("crawl → match → digest …"):
            results = run_once(config, st.engine, now)
        console.print(_stage_table(results))
        if not all(r.ok for r in results):
            raise typer.Exit(1)

    @app.command("demo")
    def demo(
        ctx: typer.Context,
        directory: Annotated[
            Path, typer.Option("--dir", help="Where the demo database and outbox go")
        ] = Path("var/demo"),
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="Pretend it is this date/time (ISO)")
        ] = None,
    ) -> None:
        """The whole pipeline offline on recorded responses; digests land in DIR/outbox.

        DIR may hold other files: the demo removes only what an earlier demo made there
        (listed in DIR/.bevaka-demo.json) and refuses a DIR whose bevaka.sqlite3 or outbox/
        it did not make.

        Serves recorded responses of every shipped source from a local HTTP server, crawls
        them into a fresh SQLite database, tags the calls and writes the digests of a few
        sample subscribers as .eml and .html files. Needs no network and no mail server.

        Example: bevaka demo --dir var/demo
        """
        from scheduler.demo import DEMO_AS_OF, DemoDirectoryError, run_demo

        st = state(ctx)
        now = _parse_as_of(as_of, st.settings.tz) or DEMO_AS_OF
        try:
            with console.status("demo: crawling recorded sources, matching, writing digests …"):
                result = run_demo(st.config, directory, now=now)
        except DemoDirectoryError as exc:
            fail(str(exc), code=EXIT_CONFIG)
        console.print(_stage_table(result.stages))
        console.print(
            f"\n[bold]Bevaka demo[/bold] as of {now.astimezone(st.settings.tz):%Y-%m-%d %H:%M}: "
            f"{result.calls} calls stored, {result.tagged} tagged, {result.links} cross-source links."
        )
        console.print(f"Database: {result.database_url}")
        console.print(
            f"Digests:  {result.outbox}/ ({len(result.outbox_files)} files) — open the .html files in a browser"
        )
        for path in result.outbox_files[:12]:
            console.print(f"  {path}")
        console.print(
            f"Look around: DATABASE_URL={result.database_url} bevaka calls list  |  bevaka explain ID  |  bevaka web"
        )
        if not result.ok:
            raise typer.Exit(1)
