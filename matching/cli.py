"""``bevaka match`` and ``bevaka explain``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class Format(StrEnum):
    table = "table"
    json = "json"


def match(
    ctx: typer.Context,
    all_calls: Annotated[
        bool, typer.Option("--all", help="Re-tag every call, not only new and changed ones.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the tags each call would gain and lose against the stored tags; "
            "store nothing.",
        ),
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Tag new and changed calls with förvaltningar and topics (config/needs.yaml).

    A changed needs.yaml re-tags every call (the compiled rules have a new hash).
    Preview a rule change with --dry-run: it lists, per call, the tags that would be
    added (+) and removed (-), and stores nothing.

    Example: bevaka match --dry-run
    """
    from matching.service import run_match
    from scheduler.context import console, now_utc, print_json, state

    st = state(ctx)
    with st.session() as session:
        report = run_match(
            session=session,
            needs=st.config.needs,
            now=now_utc(),
            all_calls=all_calls,
            dry_run=dry_run,
        )
        if dry_run:
            session.rollback()
    if fmt is Format.json:
        print_json(report.as_dict())
        return
    for change in report.changes:
        keys = [f"+{k}" for k in change.added] + [f"-{k}" for k in change.removed]
        title = " ".join(change.title.split())[:70]
        console.print(f"#{change.call_id} {' '.join(keys)}  {title}", markup=False, soft_wrap=True)
    prefix = "dry run (nothing stored): " if dry_run else ""
    console.print(
        f"{prefix}matched {report.checked} call(s) ({report.up_to_date} up to date) with rules "
        f"{report.rules_hash[:12]}: {report.added} tag(s) added, {report.removed} removed, "
        f"{report.updated} updated; {len(report.changes)} call(s) changed",
        markup=False,
        soft_wrap=True,
    )


def explain(
    ctx: typer.Context,
    call_id: Annotated[int, typer.Argument(help="The call's id (see `bevaka calls list`)")],
    tag: Annotated[
        str | None,
        typer.Option("--tag", help="Only this förvaltning or topic key, with every need in full"),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Explain a call's tags under the current needs.yaml: for each tag the need, term,
    field and a snippet of the text; for the förvaltningar it did not get, the closest
    needs and which terms were missing or excluded.

    Example: bevaka explain 42 --tag barn-och-skola
    """
    from matching.engine import call_fields, evaluate
    from matching.explain import explain_json, explain_lines
    from matching.service import compiled_for
    from scheduler.context import EXIT_CONFIG, console, fail, print_json, state
    from storage.repo import get_call, tags_for

    st = state(ctx)
    needs = st.config.needs
    if tag is not None and needs.audience(tag) is None:
        known = ", ".join([*needs.department_keys, *needs.topic_keys])
        fail(f"unknown förvaltning or topic {tag!r}; known: {known}", code=EXIT_CONFIG)
    with st.session() as session:
        call = get_call(session=session, call_id=call_id)
        if call is None:
            fail(f"no call with id {call_id}")
        stored = sorted(t.key for t in tags_for(session=session, call_ids=[call_id])[call_id])
    compiled = compiled_for(needs)
    evaluation = evaluate(compiled, call)
    current = sorted(t.key for t in evaluation.tags)
    if fmt is Format.json:
        data = explain_json(evaluation, key=tag)
        data.update({"call_id": call_id, "stored_tags": stored, "current_tags": current})
        print_json(data)
        return
    out = [
        f"Call {call_id}: {' '.join(call.title.split())}",
        f"programme: {evaluation.programme or '-'}, language: {evaluation.language}"
        f"{'' if call.language else ' (detected)'}, rules {compiled.rules_hash[:12]}",
    ]
    if stored != current and tag is None:
        out.append(
            f"stored tags ({', '.join(stored) or 'none'}) differ from the current rules: "
            "run `bevaka match`"
        )
    out.append("")
    out.extend(explain_lines(evaluation, key=tag, fields=call_fields(call)))
    for line in out:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``bevaka`` app."""
    app.command("match")(match)
    app.command("explain")(explain)
