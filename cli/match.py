"""``bevaka match`` and ``bevaka explain``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
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
    from cli.context import console, now_utc, print_json, state
    from matching.service import run_match

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
    from cli.context import EXIT_CONFIG, console, fail, print_json, state
    from matching.engine import call_fields, evaluate
    from matching.explain import explain_json, explain_lines
    from matching.service import compiled_for
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


class Only(StrEnum):
    departments = "departments"
    topics = "topics"


class Mode(StrEnum):
    off = "off"
    advise = "advise"
    veto = "veto"
    add = "add"
    both = "both"


def _with_opinion(
    ctx: typer.Context,
    loaded: tuple,
    path: Path | None,
    mode: Mode | None,
    model: Path | None,
):
    """``loaded`` (needs, label) with another second-opinion mode or model file; a model
    that cannot be used exits 2 naming the file, as `bevaka config check`."""
    from cli.context import EXIT_CONFIG, err_console, state
    from config.loader import ConfigError, with_second_opinion

    if mode is None and model is None:
        return loaded
    needs, label = loaded
    base = path.parent if path is not None else state(ctx).config.directory
    try:
        needs = with_second_opinion(
            needs,
            base,
            mode=mode.value if mode is not None else None,
            model=model.resolve() if model is not None else None,
            shown=label,
        )
    except ConfigError as exc:
        for problem in exc.problems:
            err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    return needs, f"{label} + second opinion {needs.second_opinion.mode}"


def _load_needs(ctx: typer.Context, path: Path | None):
    """needs.yaml from ``path`` alone, or the configuration's; a bad file exits 2 with
    one line per problem, as `bevaka config check`."""
    from cli.context import EXIT_CONFIG, err_console, state
    from config.loader import ConfigError, validate_file
    from config.schema import NeedsFile

    if path is None:
        return state(ctx).config.needs, "config/needs.yaml"
    try:
        return validate_file(NeedsFile, path), str(path)
    except ConfigError as exc:
        for problem in exc.problems:
            err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        err_console.print(f"needs file refused: {len(exc.problems)} problem(s)", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


def eval_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Labelled items (JSON Lines): each a `bevaka calls import` record plus "
            '"expected": [keys]'
        ),
    ] = None,
    needs_file: Annotated[
        Path | None,
        typer.Option("--needs", help="The needs file to measure (default: the config's)"),
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option("--compare", help="A second needs file, measured side by side"),
    ] = None,
    only: Annotated[
        Only | None,
        typer.Option("--only", help="Score only departments (förvaltningar) or only topics"),
    ] = None,
    from_decisions: Annotated[
        bool,
        typer.Option(
            "--from-decisions",
            help="Take the labels from the decisions recorded in the database instead of "
            "a file (noted, considering, pursuing, applied, granted: wanted; declined as "
            "not relevant: not wanted)",
        ),
    ] = False,
    second_opinion: Annotated[
        Mode | None,
        typer.Option(
            "--second-opinion",
            help="Measure with this second-opinion mode instead of needs.yaml's "
            "(off, advise, veto, add, both)",
        ),
    ] = None,
    compare_second_opinion: Annotated[
        Mode | None,
        typer.Option(
            "--compare-second-opinion",
            help="Put the same needs (or --compare's) with this second-opinion mode side by side",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="The second opinion's model file (default: needs.yaml's)"),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Measure needs.yaml on labelled calls: micro and per-förvaltning precision, recall
    and F1, the noise rate on items that should get no tag, and every false positive and
    false negative with the explanation `bevaka explain` gives.

    The file needs no database: its items are imported in memory. Before saving a rule
    change, compare the two files: bevaka eval labelled.jsonl --compare new-needs.yaml

    With the coordinator's own decisions: bevaka eval --from-decisions --compare new.yaml

    The learned second opinion both ways (the rules alone against the rules with it):
    bevaka eval FILE --only departments --second-opinion off --compare-second-opinion add

    Example: bevaka eval data/eval/dev.jsonl --only departments
    """
    from rich.markup import escape

    from cli.context import console, fail, print_json
    from matching.evaluation import (
        EvalInputError,
        compare_lines,
        error_lines,
        evaluate_items,
        read_items,
        summary_lines,
    )

    if (file is None) == (not from_decisions):
        fail("give a labelled FILE or --from-decisions (one of them)")
    loaded = _load_needs(ctx, needs_file)
    other = _load_needs(ctx, compare) if compare is not None else None
    if compare_second_opinion is not None:
        base, base_path = (other, compare) if other is not None else (loaded, needs_file)
        other = _with_opinion(ctx, base, base_path, compare_second_opinion, model)
    elif other is not None and model is not None:
        other = _with_opinion(ctx, other, compare, None, model)
    needs, label = _with_opinion(ctx, loaded, needs_file, second_opinion, model)
    scope = only.value if only is not None else ("departments" if from_decisions else "all")
    if from_decisions and scope == "topics":
        fail("decisions are recorded per förvaltning: --from-decisions scores departments")
    if file is not None:
        try:
            items = read_items(file, needs)
            if other is not None:
                read_items(file, other[0])  # its keys must be known to both files
        except EvalInputError as exc:
            for line in str(exc).splitlines():
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            fail(f"{escape(str(file))}: labelled items refused")
    else:
        items = _decision_items(ctx, set(needs.department_keys))
    first = evaluate_items(items, needs, scope=scope, label=label)
    second = (
        evaluate_items(items, other[0], scope=scope, label=other[1]) if other is not None else None
    )
    if fmt is Format.json:
        data = {"source": str(file) if file else "decisions", "result": first.as_dict()}
        if second is not None:
            data["compare"] = second.as_dict()
        print_json(data)
        return
    if second is None:
        lines = summary_lines(first) + error_lines(first)
    else:
        lines = compare_lines(first, second)
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _decision_items(ctx: typer.Context, keys: set[str]):
    from sqlmodel import col, select

    from cli.context import state
    from matching.evaluation import items_from_decisions
    from storage.models import Call, Decision

    with state(ctx).session() as session:
        decisions = [
            (d.call_id, d.department, d.status, d.reason)
            for d in session.exec(
                select(Decision).order_by(col(Decision.created_at), col(Decision.id))
            )
        ]
        ids = sorted({d[0] for d in decisions})
        calls = list(session.exec(select(Call).where(col(Call.id).in_(ids)).order_by(col(Call.id))))
        for call in calls:
            session.expunge(call)
    return items_from_decisions(calls, decisions, keys)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``bevaka`` app."""
    app.command("match")(match)
    app.command("explain")(explain)
    app.command("eval")(eval_command)
