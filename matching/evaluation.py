"""``bevaka eval``: measure needs.yaml against labelled calls (pure, no database).

A labelled item is a ``bevaka calls import`` record plus ``"expected"``: the keys of the
förvaltningar and topics it should get. Items are imported in memory
(:func:`storage.importer.record_from_json`), matched with the engine that tags stored
calls, and scored: micro and per-key precision, recall and F1, the noise rate (items that
fit none but got a tag), and every false positive and false negative with its
explanation in the words of ``bevaka explain``.

Labels may be partial (``labelled``): a coordinator's decisions say something only about
the förvaltningar that recorded one, so only those keys are scored for that call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.schema import NeedsFile
from matching.engine import CompiledNeeds, Evaluation, compile_needs
from matching.explain import context_lines, describe_tagged, describe_untagged
from storage.importer import record_from_json
from storage.records import CallData

SCOPES = ("all", "departments", "topics")
# decision statuses meaning "the förvaltning wanted it" (followup/decisions.py)
WANTED = ("noted", "considering", "pursuing", "applied", "granted")
NOT_WANTED_REASON = "not_relevant"
# keys of a labelled line besides the import record's: the label and the labeller's note
LABEL_KEYS = ("expected", "note")


class EvalInputError(ValueError):
    """A labelled file that cannot be read; the message names the line."""


@dataclass
class Item:
    """One labelled call. ``labelled``: the keys its labels speak for (None: every key in
    scope); ``expected``: those of them it should get."""

    ref: str  # "line 12" or "call 42"
    call: CallData | Any
    expected: frozenset[str]
    labelled: frozenset[str] | None = None
    order: int = 0  # the line number or call id, for listing in the file's order

    @property
    def title(self) -> str:
        return " ".join(str(getattr(self.call, "title", "") or "").split())

    @property
    def url(self) -> str:
        return str(getattr(self.call, "url", "") or "")

    @property
    def language(self) -> str:
        return str(getattr(self.call, "language", "") or "")


def read_items(path: Path, needs: NeedsFile) -> list[Item]:
    """The labelled items of a JSON Lines file; every bad line is reported at once."""
    known = {*needs.department_keys, *needs.topic_keys}
    items: list[Item] = []
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{where}: expected a JSON object")
            continue
        expected = obj.pop("expected", None)
        note = obj.pop("note", None)
        if note is not None and not isinstance(note, str):
            problems.append(f"{where}: 'note' must be a string")
            continue
        if not isinstance(expected, list) or not all(isinstance(k, str) for k in expected):
            problems.append(f"{where}: 'expected' must be a list of keys (may be empty)")
            continue
        unknown = sorted(set(expected) - known)
        if unknown:
            problems.append(
                f"{where}: unknown key(s) in 'expected': {', '.join(map(repr, unknown))}"
            )
            continue
        try:
            call = record_from_json(obj)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        items.append(Item(f"line {number}", call, frozenset(expected), order=number))
    if problems:
        raise EvalInputError("\n".join(problems))
    return items


def items_from_decisions(
    calls: Iterable[Any], decisions: Iterable[tuple[int, str, str, str | None]], keys: set[str]
) -> list[Item]:
    """Items whose labels are the latest decision per (call, förvaltning): ``WANTED``
    statuses say it wanted the call, declined as not relevant that it did not; other
    decisions (declined for lack of time or co-financing, rejected) say neither.
    ``decisions``: (call id, department, status, reason), oldest first."""
    latest: dict[tuple[int, str], tuple[str, str | None]] = {}
    for call_id, department, status, reason in decisions:
        if department in keys:
            latest[(call_id, department)] = (status, reason)
    labels: dict[int, tuple[set[str], set[str]]] = {}
    for (call_id, department), (status, reason) in latest.items():
        wanted, spoken = labels.setdefault(call_id, (set(), set()))
        if status in WANTED:
            wanted.add(department)
            spoken.add(department)
        elif status == "declined" and reason == NOT_WANTED_REASON:
            spoken.add(department)
    items = []
    for call in calls:
        label = labels.get(call.id)
        if label and label[1]:
            labelled = frozenset(label[1])
            items.append(Item(f"call {call.id}", call, frozenset(label[0]), labelled, call.id))
    return items


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass
class Error:
    """A false positive (``kind`` "fp") or false negative ("fn") with its explanation."""

    item: Item
    key: str
    kind: str
    explanation: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ref": self.item.ref,
            "title": self.item.title,
            "url": self.item.url,
            "key": self.key,
            "kind": self.kind,
            "explanation": self.explanation,
        }


@dataclass
class Result:
    needs_label: str
    rules_hash: str
    scope: str
    items: int = 0
    micro: Counts = field(default_factory=Counts)
    per_key: dict[str, Counts] = field(default_factory=dict)
    per_language: dict[str, Counts] = field(default_factory=dict)
    empty_items: int = 0  # items expected to get none (of the keys in scope)
    noisy_items: int = 0  # of those, the ones that got a tag anyway
    errors: list[Error] = field(default_factory=list)
    predicted: dict[str, frozenset[str]] = field(default_factory=dict)  # ref → keys

    @property
    def noise(self) -> float:
        return self.noisy_items / self.empty_items if self.empty_items else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "needs": self.needs_label,
            "rules_hash": self.rules_hash,
            "scope": self.scope,
            "items": self.items,
            "micro": self.micro.as_dict(),
            "per_key": {k: c.as_dict() for k, c in self.per_key.items()},
            "per_language": {k: c.as_dict() for k, c in self.per_language.items()},
            "noise": {
                "items_expected_none": self.empty_items,
                "tagged_anyway": self.noisy_items,
                "rate": round(self.noise, 4),
            },
            "false_positives": [e.as_dict() for e in self.errors if e.kind == "fp"],
            "false_negatives": [e.as_dict() for e in self.errors if e.kind == "fn"],
        }


def scope_keys(needs: NeedsFile, scope: str) -> list[str]:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use {', '.join(SCOPES)}")
    departments = needs.department_keys if scope in ("all", "departments") else []
    topics = needs.topic_keys if scope in ("all", "topics") else []
    return [*departments, *topics]


def _explain(evaluation: Evaluation, key: str, kind: str) -> list[str]:
    audience = evaluation.audience(key)
    if audience is None:  # pragma: no cover - a full evaluation judges every key
        return []
    if kind == "fp":
        lines = describe_tagged(audience)
    else:
        lines = describe_untagged(audience, evaluation.programme)
    return lines + [f"  {line}" for line in context_lines(evaluation.context)]


def evaluate_items(
    items: Sequence[Item],
    needs: NeedsFile,
    *,
    scope: str = "all",
    label: str = "needs.yaml",
    compiled: CompiledNeeds | None = None,
) -> Result:
    """Score ``needs`` on ``items`` (keys of ``scope`` only)."""
    compiled = compiled or compile_needs(needs)
    keys = scope_keys(needs, scope)
    in_scope = set(keys)
    result = Result(label, compiled.rules_hash, scope, per_key={k: Counts() for k in keys})
    for item in items:
        evaluation = compiled.evaluate(item.call, full=True)
        scored = in_scope if item.labelled is None else in_scope & item.labelled
        if not scored:
            continue
        result.items += 1
        predicted = {t.key for t in evaluation.tags} & scored
        expected = item.expected & scored
        result.predicted[item.ref] = frozenset(predicted)
        language = evaluation.language
        by_language = result.per_language.setdefault(language, Counts())
        for key in sorted(scored, key=keys.index):
            hit, wanted = key in predicted, key in expected
            counts = result.per_key[key]
            for target in (counts, result.micro, by_language):
                target.tp += hit and wanted
                target.fp += hit and not wanted
                target.fn += wanted and not hit
            if hit != wanted:
                kind = "fp" if hit else "fn"
                result.errors.append(Error(item, key, kind, _explain(evaluation, key, kind)))
        if not expected:
            result.empty_items += 1
            result.noisy_items += bool(predicted)
    return result


# --- text output ------------------------------------------------------------------------


def _row(name: str, counts: Counts) -> str:
    return (
        f"{name:<26} {counts.precision:5.2f} {counts.recall:5.2f} {counts.f1:5.2f}"
        f" {counts.tp:4d} {counts.fp:4d} {counts.fn:4d}"
    )


HEADER = f"{'':<26} {'P':>5} {'R':>5} {'F1':>5} {'TP':>4} {'FP':>4} {'FN':>4}"


def summary_lines(result: Result) -> list[str]:
    lines = [
        f"{result.items} item(s), scored on {result.scope}, needs {result.needs_label} "
        f"(rules {result.rules_hash[:12]})",
        HEADER,
        _row("micro", result.micro),
    ]
    lines += [_row(k, c) for k, c in result.per_key.items() if c.tp + c.fp + c.fn]
    quiet = [k for k, c in result.per_key.items() if not c.tp + c.fp + c.fn]
    if quiet:
        lines.append(f"(no labels or tags for: {', '.join(quiet)})")
    lines += [_row(f"language {lang}", c) for lang, c in sorted(result.per_language.items())]
    lines.append(
        f"noise: {result.noisy_items} of {result.empty_items} item(s) expected to get none "
        f"got a tag ({100 * result.noise:.1f} %)"
    )
    return lines


def error_lines(result: Result) -> list[str]:
    lines: list[str] = []
    for kind, heading in (("fp", "False positives"), ("fn", "False negatives")):
        errors = [e for e in result.errors if e.kind == kind]
        lines.append("")
        lines.append(f"{heading} ({len(errors)}):")
        for error in errors:
            lines.append(
                f"{error.item.ref} [{error.key}] {error.item.title[:90]} <{error.item.url}>"
            )
            lines.extend(f"    {line}" for line in error.explanation)
    return lines


def compare_lines(first: Result, second: Result) -> list[str]:
    """The two results side by side, then every (item, key) whose outcome differs."""
    width = 26
    lines = [
        f"A: needs {first.needs_label} (rules {first.rules_hash[:12]})",
        f"B: needs {second.needs_label} (rules {second.rules_hash[:12]})",
        f"{first.items} item(s), scored on {first.scope}",
        f"{'':<{width}} {'A P':>5} {'A R':>5} {'A F1':>5}   {'B P':>5} {'B R':>5} {'B F1':>5}"
        f" {'ΔF1':>6}",
    ]

    def pair(name: str, a: Counts, b: Counts) -> str:
        return (
            f"{name:<{width}} {a.precision:5.2f} {a.recall:5.2f} {a.f1:5.2f}   "
            f"{b.precision:5.2f} {b.recall:5.2f} {b.f1:5.2f} {b.f1 - a.f1:+6.2f}"
        )

    lines.append(pair("micro", first.micro, second.micro))
    for key, counts in first.per_key.items():
        other = second.per_key.get(key, Counts())
        if counts.tp + counts.fp + counts.fn + other.tp + other.fp + other.fn:
            lines.append(pair(key, counts, other))
    for lang in sorted(set(first.per_language) | set(second.per_language)):
        lines.append(
            pair(
                f"language {lang}",
                first.per_language.get(lang, Counts()),
                second.per_language.get(lang, Counts()),
            )
        )
    lines.append(
        f"noise: A {first.noisy_items}/{first.empty_items} ({100 * first.noise:.1f} %), "
        f"B {second.noisy_items}/{second.empty_items} ({100 * second.noise:.1f} %)"
    )
    changes = changed(first, second)
    lines.append("")
    lines.append(f"Changed ({len(changes)}): + B is right where A was wrong, - B is wrong")
    for sign, error in changes:
        item = error.item
        lines.append(f"{sign} {item.ref} [{error.key}] {item.title[:90]} <{item.url}>")
        lines.extend(f"    {line}" for line in error.explanation)
    return lines


def changed(first: Result, second: Result) -> list[tuple[str, Error]]:
    """(sign, error) for each (item, key) right under one needs file and wrong under the
    other: "+" with A's error (B fixed it), "-" with B's error (B broke it)."""
    a = {(e.item.ref, e.key): e for e in first.errors}
    b = {(e.item.ref, e.key): e for e in second.errors}
    out = [("+", e) for k, e in a.items() if k not in b]
    out += [("-", e) for k, e in b.items() if k not in a]
    return sorted(out, key=lambda pair: (pair[1].item.order, pair[1].key))
