"""Plain-text and JSON explanations of one call's evaluation (``bevaka explain``)."""

from __future__ import annotations

from typing import Any

from matching.engine import AudienceResult, Evaluation, Hit, NeedResult
from matching.text import snippet


def _hit_text(hit: Hit) -> str:
    return f"{hit.term!r} in {hit.field} ({hit.match!r})"


def _need_status(need: NeedResult, programme: str | None) -> str:
    groups = (
        "; all-of groups met by " + ", ".join(_hit_text(h) for h in need.conditions)
        if need.conditions
        else ""
    )
    if need.passed:
        terms = ", ".join(_hit_text(h) for h in need.hits)
        return f"matched (+{need.score:g}): {terms}{groups}"
    why: list[str] = []
    if not need.programme_ok:
        why.append(
            f"programme filter: only {', '.join(need.programmes)} (this call: {programme or 'none'})"
        )
    if need.excluded_by:
        why.append("excluded by " + ", ".join(_hit_text(h) for h in need.excluded_by))
    if need.missing_any:
        why.append("none of its 'any' terms found")
    for group in need.missing_groups:
        shown = ", ".join(group[:6]) + (", ..." if len(group) > 6 else "")
        why.append(f"no term of the all-of group [{shown}]")
    if need.hits:
        why.append("found: " + ", ".join(_hit_text(h) for h in need.hits))
    return "; ".join(why) + groups


def closest_needs(audience: AudienceResult, limit: int = 3) -> list[NeedResult]:
    """The needs that came nearest: most matched weight first, then fewest gaps."""
    ranked = sorted(
        audience.needs,
        key=lambda n: (
            -n.partial_score,
            len(n.missing_groups) + n.missing_any + bool(n.excluded_by),
        ),
    )
    return [n for n in ranked if n.partial_score > 0 or n.excluded_by][:limit]


def describe_tagged(audience: AudienceResult) -> list[str]:
    lines = [
        f"{audience.key} ({audience.kind}, {audience.name}): "
        f"score {audience.score:g} >= threshold {audience.threshold:g}"
    ]
    for reason in audience.reasons:
        lines.append(
            f"  - need {reason['need']!r}: term {reason['term']!r} in {reason['field']} "
            f"(+{reason['weight']:g}): {reason['snippet']}"
        )
    return lines


def describe_untagged(
    audience: AudienceResult, programme: str | None, *, full: bool = False
) -> list[str]:
    if audience.excluded_by:
        head = "excluded by " + ", ".join(_hit_text(h) for h in audience.excluded_by)
    else:
        head = f"score {audience.score:g} < threshold {audience.threshold:g}"
    lines = [f"{audience.key} ({audience.kind}, {audience.name}): not tagged, {head}"]
    needs = audience.needs if full else closest_needs(audience)
    if not needs:
        lines.append("  no term of any need was found")
    for need in needs:
        lines.append(f"  - need {need.name!r}: {_need_status(need, programme)}")
    return lines


def explain_lines(
    evaluation: Evaluation,
    *,
    key: str | None = None,
    fields: dict[str, str] | None = None,
) -> list[str]:
    """Why the call got each tag and why the förvaltningar it did not get were left out.
    With ``key``: only that förvaltning/topic, every need in full."""
    lines: list[str] = []
    audiences = [a for a in evaluation.audiences if key is None or a.key == key]
    tagged = [a for a in audiences if a.tagged]
    untagged = [a for a in audiences if not a.tagged]
    if key is None:
        lines.append("Tags:" if tagged else "Tags: none")
    for audience in tagged:
        lines.extend(describe_tagged(audience))
        if key is not None:
            for need in audience.needs:
                lines.append(f"  need {need.name!r}: {_need_status(need, evaluation.programme)}")
    if key is None and untagged:
        lines.append("")
        lines.append("Not tagged (closest needs):")
    for audience in untagged:
        if key is None and audience.kind == "topic" and not any(n.hits for n in audience.needs):
            continue
        lines.extend(describe_untagged(audience, evaluation.programme, full=key is not None))
    if key is not None and fields:
        shown = [
            f"  {h.field}: {snippet(fields[h.field], h.match)}"
            for a in audiences
            for n in a.needs
            for h in n.hits
            if not a.tagged
        ]
        if shown:
            lines.append("Where the found terms are:")
            lines.extend(dict.fromkeys(shown))
    return lines


def explain_json(evaluation: Evaluation, *, key: str | None = None) -> dict[str, Any]:
    def hit(h: Hit) -> dict[str, Any]:
        return {"term": h.term, "field": h.field, "match": h.match, "weight": h.weight}

    return {
        "language": evaluation.language,
        "programme": evaluation.programme,
        "audiences": [
            {
                "key": a.key,
                "kind": a.kind,
                "name": a.name,
                "tagged": a.tagged,
                "score": a.score,
                "threshold": a.threshold,
                "excluded_by": [hit(h) for h in a.excluded_by],
                "reasons": a.reasons,
                "needs": [
                    {
                        "name": n.name,
                        "passed": n.passed,
                        "score": n.score,
                        "hits": [hit(h) for h in n.hits],
                        "missing_any": n.missing_any,
                        "missing_groups": n.missing_groups,
                        "conditions": [hit(h) for h in n.conditions],
                        "excluded_by": [hit(h) for h in n.excluded_by],
                        "programme_ok": n.programme_ok,
                    }
                    for n in a.needs
                ],
            }
            for a in evaluation.audiences
            if key is None or a.key == key
        ],
    }
