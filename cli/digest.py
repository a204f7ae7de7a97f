"""``bevaka subscribers ...`` and ``bevaka digest``."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.context import EXIT_CONFIG, console, err_console, fail, now_utc, print_json, state

subscribers_app = typer.Typer(help="Manage who gets the weekly digest.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    json = "json"


class Role(StrEnum):
    representative = "representative"
    coordinator = "coordinator"


@subscribers_app.command("add")
def subscribers_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The subscriber's email address")],
    name: Annotated[str, typer.Option("--name", help="Name shown in the digest")],
    department: Annotated[
        str | None, typer.Option("--department", help="Förvaltning key from needs.yaml")
    ] = None,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="Topic key from needs.yaml; repeatable")
    ] = None,
    role: Annotated[
        Role, typer.Option("--role", help="representative or coordinator (gets everything)")
    ] = Role.representative,
) -> None:
    """Add a subscriber (a representative, the coordinator, or a list address).

    Example: bevaka subscribers add anna.berg@lidkoping.se --name "Anna Berg" --department kommunledning --topic klimat-och-miljo
    """
    from notifications.subscribers import SubscriberError, add_subscriber

    st = state(ctx)
    try:
        with st.session() as session:
            sub = add_subscriber(
                session=session,
                needs=st.config.needs,
                email=email,
                name=name,
                department=department,
                topics=topic or [],
                role=role.value,
                now=now_utc(),
            )
            address = sub.email
    except SubscriberError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    console.print(f"added {escape(address)} ({role.value})")


@subscribers_app.command("set")
def subscribers_set(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The subscriber's email address")],
    name: Annotated[str | None, typer.Option("--name", help="New name")] = None,
    department: Annotated[
        str | None,
        typer.Option("--department", help='Förvaltning key from needs.yaml ("" clears it)'),
    ] = None,
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Topic key; repeatable; replaces the current topics"),
    ] = None,
    no_topics: Annotated[bool, typer.Option("--no-topics", help="Remove all topics")] = False,
    role: Annotated[
        Role | None, typer.Option("--role", help="representative or coordinator")
    ] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--paused", help="Resume or pause the digest")
    ] = None,
) -> None:
    """Change a subscriber's topics, förvaltning, name, role or paused state.

    Example: bevaka subscribers set anna.berg@lidkoping.se --topic klimat-och-miljo --department kommunledning
    """
    from notifications.subscribers import SubscriberError, update_subscriber

    st = state(ctx)
    topics = [] if no_topics else topic
    try:
        with st.session() as session:
            sub = update_subscriber(
                session=session,
                needs=st.config.needs,
                email=email,
                name=name,
                department=department,
                topics=topics,
                role=role.value if role else None,
                active=active,
            )
            address = sub.email
    except SubscriberError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    console.print(f"updated {escape(address)}")


@subscribers_app.command("remove")
def subscribers_remove(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The subscriber's email address")],
) -> None:
    """Remove a subscriber with its topics and ledger rows.

    Example: bevaka subscribers remove anna.berg@lidkoping.se
    """
    from notifications.subscribers import remove_subscriber

    st = state(ctx)
    with st.session() as session:
        removed = remove_subscriber(session=session, email=email)
    if not removed:
        fail(f"no subscriber {email!r}", code=EXIT_CONFIG)
    console.print(f"removed {escape(email)}")


@subscribers_app.command("export")
def subscribers_export(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The subscriber's email address")],
) -> None:
    """Everything Bevaka stores about one address, as JSON on stdout (a subject access
    request): the subscriber, topics, digest ledger, announcements, decisions and analyses.

    Example: bevaka subscribers export anna.berg@lidkoping.se > anna.json
    """
    from notifications.personal import export_subscriber

    with state(ctx).session() as session:
        data = export_subscriber(session=session, email=email)
    if data is None:
        fail(f"no subscriber {email!r}", code=EXIT_CONFIG)
    print_json(data)


@subscribers_app.command("forget")
def subscribers_forget(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The subscriber's email address")],
) -> None:
    """Erase one address: name, förvaltning and topics go, the address is replaced by a
    placeholder everywhere (the ledger keeps its weeks and counts without it), every link
    mailed to it stops working, and its files in the outbox are deleted.

    Example: bevaka subscribers forget anna.berg@lidkoping.se
    """
    from notifications.personal import forget_subscriber

    st = state(ctx)
    with st.session() as session:
        changed = forget_subscriber(
            session=session,
            email=email,
            now=now_utc(),
            outbox=Path(st.settings.digest.outbox_dir),
        )
    if changed is None:
        fail(f"no subscriber {email!r}", code=EXIT_CONFIG)
    summary = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in changed.items())
    console.print(f"forgot {escape(email)} ({summary})", soft_wrap=True)


@subscribers_app.command("list")
def subscribers_list(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """List subscribers with their förvaltning, topics, role and state.

    Example: bevaka subscribers list --format json
    """
    from notifications.subscribers import list_subscribers, view

    st = state(ctx)
    with st.session() as session:
        views = [view(session=session, subscriber=s) for s in list_subscribers(session=session)]
    if fmt is Format.json:
        print_json([v.as_json() for v in views])
        return
    table = Table("email", "name", "förvaltning", "topics", "role", "state")
    for v in views:
        table.add_row(
            escape(v.email),
            escape(v.name),
            escape(v.department or "—"),
            escape(", ".join(v.topics) or "—"),
            v.role,
            "active" if v.active else ("unsubscribed" if v.unsubscribed else "paused"),
        )
    console.print(table)
    console.print(f"{len(views)} subscriber(s)")


def parse_as_of(value: str, tz) -> datetime:
    """``2026-11-30`` (07.00 local time that day) or an ISO datetime (local when naive)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time(7, 0), tzinfo=tz)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD or an ISO datetime, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def week_moment(week: str, tz, now: datetime) -> datetime:
    """A moment in ISO week ``week`` (``2026-W48``): ``now`` when it lies in that week, else
    the week's Monday 07.00 local time (the digests are built as of then)."""
    match = _WEEK.match(week.strip())
    if match is None:
        raise typer.BadParameter(f"expected an ISO week such as 2026-W48, got {week!r}")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise typer.BadParameter(f"no such ISO week: {week!r}") from None
    local = now.astimezone(tz).isocalendar()
    if (local.year, local.week) == (monday.isocalendar().year, monday.isocalendar().week):
        return now
    return datetime.combine(monday, time(7, 0), tzinfo=tz)


def digest_command(
    ctx: typer.Context,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Send (or, without an SMTP host, write to the outbox) and record in the ledger",
        ),
    ] = False,
    preview: Annotated[
        Path | None,
        typer.Option("--preview", help="Write .eml/.html/.txt files to DIR; records nothing"),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Build the digest as of this date (YYYY-MM-DD)")
    ] = None,
    subscriber: Annotated[
        str | None, typer.Option("--subscriber", help="Only this subscriber's digest")
    ] = None,
    test: Annotated[
        str | None,
        typer.Option("--test", help="Send a sample digest to this address (checks SMTP setup)"),
    ] = None,
    retry_failed: Annotated[
        str | None,
        typer.Option(
            "--retry-failed",
            metavar="WEEK",
            help="Put WEEK's failed digests (e.g. 2026-W48) back to pending and send them",
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Build this week's digests; --send delivers them (once per subscriber and week).

    Without --send or --preview it only reports who would get a digest. Exit status 1 when
    a digest could not be delivered.

    --retry-failed WEEK resends the digests of WEEK that were refused for good (after the
    address or the server has been fixed), with their Message-IDs.

    Example: bevaka digest --preview var/preview --as-of 2026-11-30 --subscriber anna.berg@lidkoping.se
    """
    from notifications.ledger import retry_failed as reset_failed
    from notifications.ledger import run_digest, send_test_digest

    st = state(ctx)
    if send and preview is not None:
        fail("use either --send or --preview", code=EXIT_CONFIG)
    now = parse_as_of(as_of, st.settings.tz) if as_of else now_utc()
    if retry_failed is not None:
        if preview is not None or test is not None:
            fail(
                "--retry-failed sends: it goes with neither --preview nor --test", code=EXIT_CONFIG
            )
        now = week_moment(retry_failed, st.settings.tz, now)
        st.require_schema()
        count = reset_failed(engine=st.engine, week=retry_failed)
        console.print(f"{count} failed digest(s) of {escape(retry_failed)} put back to pending")
        send = True
    if test is not None:
        from notifications.subscribers import SubscriberError, normalise_email

        try:
            address = normalise_email(test)
        except SubscriberError as exc:
            fail(str(exc), code=EXIT_CONFIG)
        outcome = send_test_digest(config=st.config, email=address, now=now)
        if isinstance(outcome, Path):
            console.print(
                f"no SMTP host configured: test digest written to {outcome}", markup=False
            )
            return
        if not outcome.ok:
            fail(f"test digest to {address} not delivered: {outcome.error}")
        console.print(f"test digest sent to {escape(address)} ({outcome.message_id})")
        return
    st.require_schema()
    report = run_digest(
        config=st.config,
        engine=st.engine,
        now=now,
        send=send,
        preview_dir=preview,
        subscriber_email=subscriber,
    )
    if fmt is Format.json:
        print_json(report.as_json())
    else:
        console.print(escape(report.summary()))
        for label, emails in (("would send to", report.would_send), ("sent to", report.sent)):
            for email in emails:
                console.print(f"  {label} {escape(email)}")
        for path in report.files:
            console.print(f"  wrote {escape(str(path))}")
        for email, error in {**report.failed, **report.pending}.items():
            err_console.print(f"  not delivered to {escape(email)}: {escape(error)}")
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``bevaka`` app."""
    app.add_typer(subscribers_app, name="subscribers")
    app.command("digest")(digest_command)
