"""The ``bevaka`` command. Each command group's module (cli/crawl.py, cli/digest.py, …) adds its commands through ``register(app)``."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.context import (
    EXIT_CONFIG,
    ConfigRef,
    console,
    err_console,
    fail,
    now_utc,
    print_json,
    state,
)

app = typer.Typer(
    name="bevaka",
    help="Bevaka watches funding calls for Lidköpings kommun and the V6 partners, tags them "
    "with the förvaltningar and topics they fit, and mails a weekly Swedish digest.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database: schema, backup, restore.", no_args_is_help=True)
calls_app = typer.Typer(help="List, show and import calls.", no_args_is_help=True)
secret_app = typer.Typer(help="Make a BEVAKA_SECRET_KEY.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(secret_app, name="secret")
app.add_typer(db_app, name="db")
app.add_typer(calls_app, name="calls")


class Format(StrEnum):
    table = "table"
    json = "json"


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config directory (default: $BEVAKA_CONFIG or the shipped config/).",
        ),
    ] = None,
) -> None:
    """Remember where the configuration is; every command loads and validates all of it
    (through ``state(ctx)``) before doing anything else."""
    ctx.obj = ConfigRef(config)


# --- config ----------------------------------------------------------------------------


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate settings.yaml, sources.yaml and needs.yaml; exit 2 with one line per problem.

    Example: bevaka config check
    """
    cfg = state(ctx).config
    enabled = sum(1 for s in cfg.sources.sources if s.enabled)
    console.print(
        f"config OK: {cfg.directory} — {len(cfg.sources.sources)} sources ({enabled} enabled), "
        f"{len(cfg.needs.departments)} förvaltningar, {len(cfg.needs.topics)} topics"
    )
    opinion = cfg.needs.second_opinion
    model = cfg.needs.second_opinion_model
    if opinion.mode != "off" and model is not None:
        console.print(
            f"second opinion: {opinion.mode} (model {escape(opinion.model)}, trained "
            f"{escape(model.trained_at)} on {model.items} item(s), {len(model.keys)} "
            "förvaltningar)",
            markup=False,
            soft_wrap=True,
        )


# --- secret --------------------------------------------------------------------------


@secret_app.command("generate")
def secret_generate() -> None:
    """Print a new random BEVAKA_SECRET_KEY (48 random bytes, URL-safe) on stdout.

    Needs no configuration. Example: echo "BEVAKA_SECRET_KEY=$(bevaka secret generate)" >> /etc/bevaka/bevaka.env
    """
    import secrets

    from config.schema import check_secret_key

    sys.stdout.write(check_secret_key(secrets.token_urlsafe(48)) + "\n")


# --- db ------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to the latest revision.

    Example: DATABASE_URL=postgresql://bevaka@localhost/bevaka bevaka db upgrade
    """
    from storage.db import redact_url
    from storage.migrate import head_revision, upgrade

    url = state(ctx).settings.database_url
    try:
        upgrade(url)
    except Exception as exc:  # report any driver error without a traceback
        fail(f"cannot upgrade {redact_url(url)}: {exc.__class__.__name__}: {exc}")
    console.print(f"database {redact_url(url)} is at revision {head_revision()}")


@db_app.command("backup")
def db_backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The backup file to write (must not exist)")],
) -> None:
    """Write a consistent copy of the database to FILE while Bevaka runs (SQLite: the online
    backup API; PostgreSQL: pg_dump --format=custom).

    Example: bevaka db backup /var/backups/bevaka/bevaka-2026-12-01.backup
    """
    from storage.backup import BackupError, backup
    from storage.db import redact_url

    url = state(ctx).settings.database_url
    try:
        backup(url, file)
    except BackupError as exc:
        fail(str(exc))
    console.print(
        f"backed up {redact_url(url)} to {file} ({file.stat().st_size} bytes)", soft_wrap=True
    )


@db_app.command("restore")
def db_restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file written by `bevaka db backup`")],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a database that already holds tables")
    ] = False,
) -> None:
    """Restore a backup into the configured database. A database that already holds tables
    is refused unless --force (stop the services first).

    Example: DATABASE_URL=sqlite:////srv/bevaka/restored.sqlite3 bevaka db restore bevaka.backup
    """
    from storage.backup import BackupError, restore
    from storage.db import redact_url
    from storage.migrate import current_revision

    st = state(ctx)
    url = st.settings.database_url
    try:
        restore(url, file, force=force)
    except BackupError as exc:
        fail(str(exc))
    revision = current_revision(st.engine)
    console.print(f"restored {file} into {redact_url(url)} (revision {revision})", soft_wrap=True)
    st.engine.dispose()


# --- calls ---------------------------------------------------------------------------


def _local(value, tz) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "—"


@calls_app.command("list")
def calls_list(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="forthcoming, open, closed or unknown; repeatable"),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option("--tag", help="Only calls tagged with this förvaltning or topic key"),
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Only calls from this source key")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
) -> None:
    """List stored calls, sorted by next deadline.

    Example: bevaka calls list --status open --tag utbildning --format json
    """
    from storage.models import CALL_STATUSES
    from storage.repo import call_json, list_calls, tags_for

    for s in status or []:
        if s not in CALL_STATUSES:
            fail(f"unknown status {s!r}; use one of {', '.join(CALL_STATUSES)}", code=EXIT_CONFIG)
    st = state(ctx)
    with st.session() as session:
        calls = list_calls(session=session, statuses=status, tag=tag, source=source, limit=limit)
        tags = tags_for(session=session, call_ids=[c.id for c in calls])
    if fmt is Format.json:
        print_json([call_json(c, tags[c.id]) for c in calls])
        return
    tz = st.settings.tz
    table = Table("id", "status", "deadline", "source", "title", "tags")
    for c in calls:
        table.add_row(
            str(c.id),
            c.status,
            _local(c.next_deadline, tz),
            c.source,
            escape(c.title[:80]),
            escape(", ".join(t.key for t in tags[c.id])),
        )
    console.print(table)
    console.print(f"{len(calls)} call(s)")


@calls_app.command("show")
def calls_show(
    ctx: typer.Context,
    call_id: Annotated[int, typer.Argument(help="The call's id (see `bevaka calls list`)")],
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Show one call with its deadlines, tags and change history.

    Example: bevaka calls show 42 --format json
    """
    from storage.repo import call_json, changes_for, get_call, tags_for

    st = state(ctx)
    with st.session() as session:
        call = get_call(session=session, call_id=call_id)
        if call is None:
            fail(f"no call with id {call_id}")
        tags = tags_for(session=session, call_ids=[call_id])[call_id]
        changes = changes_for(session=session, call_id=call_id)
    data = call_json(call, tags)
    data["summary"] = call.summary
    data["description"] = call.description
    data["changes"] = [
        {
            "field": ch.field,
            "old": ch.old_value,
            "new": ch.new_value,
            "changed_at": ch.changed_at.isoformat(),
        }
        for ch in changes
    ]
    data["tag_reasons"] = {t.key: t.reasons for t in tags}
    if fmt is Format.json:
        print_json(data)
        return
    tz = st.settings.tz
    console.print(f"[bold]{escape(call.title)}[/bold]", markup=True)
    for label, value in (
        ("id", call.id),
        ("source", f"{call.source} / {call.external_id}"),
        ("url", call.url),
        ("programme", call.programme),
        ("identifier", call.identifier),
        ("status", call.status),
        ("opens", _local(call.opens_at, tz)),
        (
            "deadlines",
            ", ".join(_local(datetime.fromisoformat(d), tz) for d in call.deadlines) or "—",
        ),
        (
            "budget",
            f"{call.budget:,.0f} {call.currency or ''}".strip()
            if call.budget is not None
            else call.budget_text,
        ),
        ("tags", ", ".join(f"{t.key} ({t.score:.1f})" for t in tags) or "—"),
    ):
        console.print(
            f"{label:>10}: {escape(str(value if value is not None else '—'))}", markup=True
        )
    for ch in changes:
        console.print(
            f"{'changed':>10}: {_local(ch.changed_at, tz)} {ch.field}: {escape(str(ch.old_value))} → {escape(str(ch.new_value))}",
            markup=True,
        )


@calls_app.command("import")
def calls_import(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(help="A .jsonl file: one JSON object per line", exists=True, dir_okay=False),
    ],
) -> None:
    """Import calls from a JSON Lines file (idempotent; bad lines are reported, the rest imported).

    Each line needs "title" and "url"; optional: source (default "manual"), external_id
    (default: derived from url), identifier, programme, description, summary, language,
    opens_at, deadline (ISO date/datetime or a list), status, budget, currency, kind, keywords.

    Example: bevaka calls import calls.jsonl
    """
    from storage.importer import import_jsonl

    st = state(ctx)
    with st.session() as session:
        report = import_jsonl(session=session, path=path, now=now_utc(), tz=st.settings.tz)
    for number, message in report.notes:
        err_console.print(f"{path}:{number}: note: {message}", markup=False, soft_wrap=True)
    for number, message in report.errors:
        err_console.print(f"{path}:{number}: {message}", markup=False, soft_wrap=True)
    console.print(
        f"imported {report.new} new, {report.changed} changed, {report.unchanged} unchanged; "
        f"{len(report.errors)} bad line(s)"
    )
    if report.errors:
        raise typer.Exit(1)


def _register_packages() -> None:
    import cli.crawl
    import cli.digest
    import cli.followup
    import cli.match
    import cli.model
    import cli.service
    import cli.web

    for module in (
        cli.crawl,
        cli.followup,
        cli.match,
        cli.model,
        cli.digest,
        cli.service,
        cli.web,
    ):
        module.register(app)


_register_packages()


def describe_failure(exc: BaseException) -> str:
    """One line for an error of the machine rather than of Bevaka (a full disk, a database
    that refuses writes), instead of a traceback."""
    import errno

    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        hint = " (is its disk full?)" if "full" in reason or "I/O" in reason else ""
        return f"the database refused the operation: {reason}{hint}"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"no space left on the device{where}: free some space and run it again"
        return f"{exc.strerror or exc.__class__.__name__}{where}"
    return f"{exc.__class__.__name__}: {exc}"


def main() -> None:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except (OSError, SQLAlchemyError) as exc:
        err_console.print(f"error: {describe_failure(exc)}", markup=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
