"""``bevaka model train`` and ``bevaka model cv``: the learned second opinion."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

model_app = typer.Typer(
    help="Train and measure the learned second opinion (needs.yaml second_opinion).",
    no_args_is_help=True,
)


class Format(StrEnum):
    table = "table"
    json = "json"


def _labelled(ctx: typer.Context, files: list[Path], from_decisions: bool):
    """The labelled items of ``files`` and/or the recorded decisions, as `bevaka eval`
    reads them; a bad file ends the command."""
    from cli.context import console, fail, state
    from cli.match import _decision_items
    from matching.evaluation import EvalInputError, read_items

    if not files and not from_decisions:
        fail("give labelled FILE(s), --from-decisions, or both")
    # the model file is what these commands make: a missing or broken one must not stop them
    needs = state(ctx, second_opinion=False).config.needs
    items = []
    sources = []
    for file in files:
        try:
            items += read_items(file, needs)
        except EvalInputError as exc:
            for line in str(exc).splitlines():
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            fail(f"{file}: labelled items refused")
        sources.append(str(file))
    if from_decisions:
        items += _decision_items(ctx, set(needs.department_keys))
        sources.append("decisions")
    return needs, items, sources


@model_app.command("train")
def train_command(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Labelled items (JSON Lines, as for `bevaka eval`)"),
    ] = None,
    from_decisions: Annotated[
        bool,
        typer.Option(
            "--from-decisions",
            help="Also train on the decisions recorded in the database (as `bevaka eval "
            "--from-decisions` reads them)",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the model (default: needs.yaml's second_opinion.model, "
            "relative to the config directory)",
        ),
    ] = None,
    l2: Annotated[float, typer.Option("--l2", min=1e-6, help="L2 regularisation strength")] = 0.001,
) -> None:
    """Train the second opinion: one logistic regression per förvaltning over the stemmed
    words of title and text, programme, kind, URL host and identifier prefix.

    Training is deterministic: the same items give the same file. Nothing changes in
    matching until needs.yaml's second_opinion.mode says so; measure first with
    bevaka eval FILE --only departments --compare-second-opinion add

    Example: bevaka model train data/eval/dev.jsonl --from-decisions
    """
    from cli.context import console, fail, now_utc, state
    from config.loader import model_path
    from matching.second_opinion import examples_from_items, save_model, train

    needs, items, sources = _labelled(ctx, files or [], from_decisions)
    if not items:
        fail("no labelled items to train on")
    target = output or model_path(needs.second_opinion.model, state(ctx).config.directory)
    model = train(
        examples_from_items(items),
        needs.department_keys,
        trained_at=now_utc().date().isoformat(),
        l2=l2,
        sources=sources,
    )
    save_model(model, target)
    console.print(
        f"trained on {model.items} item(s) from {', '.join(sources)} "
        f"(training set {model.training_hash[:12]}, l2 {l2:g}) → {target}",
        markup=False,
        soft_wrap=True,
    )
    for key in needs.department_keys:
        km = model.keys.get(key)
        if km is None:
            console.print(f"  {key}: no model (needs both wanted and unwanted items)", markup=False)
        else:
            console.print(
                f"  {key}: {km.items} item(s), {km.positives} wanted, "
                f"{len(km.weights)} weighted feature(s)",
                markup=False,
            )
    mode = needs.second_opinion.mode
    console.print(f"second_opinion.mode in needs.yaml: {mode}", markup=False)


@model_app.command("cv")
def cv_command(
    ctx: typer.Context,
    files: Annotated[list[Path] | None, typer.Argument(help="Labelled items (JSON Lines)")] = None,
    from_decisions: Annotated[
        bool, typer.Option("--from-decisions", help="Also the recorded decisions")
    ] = False,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Number of folds")] = 5,
    l2: Annotated[float, typer.Option("--l2", min=1e-6, help="L2 regularisation strength")] = 0.001,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Cross-validate the second opinion: for each fold, train on the others and measure
    the rules alone and each mode and threshold on it (bevaka eval's scoring, departments).

    Example: bevaka model cv data/eval/dev.jsonl --folds 5
    """
    from cli.context import console, fail, print_json
    from matching.cross_validation import cross_validate, cv_lines

    needs, items, _sources = _labelled(ctx, files or [], from_decisions)
    try:
        rows = cross_validate(items, needs, folds=folds, l2=l2)
    except ValueError as exc:
        fail(str(exc))
    if fmt is Format.json:
        print_json(
            {"folds": folds, "items": len(items), "l2": l2, "rows": [r.as_dict() for r in rows]}
        )
        return
    for line in cv_lines(rows, len(items), folds):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
