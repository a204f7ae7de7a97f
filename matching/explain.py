"""Plain-text and JSON explanations of one call's evaluation (``bevaka explain``)."""

from __future__ import annotations

from typing import Any

from matching.engine import (
    APPLICANT_REASON,
    GEOGRAPHY_REASON,
    AudienceResult,
    CallContext,
    DefaultResult,
    Evaluation,
    Hit,
    NeedResult,
    Restriction,
)
from matching.second_opinion import ADDED_FIELD, Opinion, Word
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
    if need.restricted:
        why.append(RESTRICTED)
    if need.hits:
        why.append("found: " + ", ".join(_hit_text(h) for h in need.hits))
    return "; ".join(why) + groups


CONTEXT_REASONS = (APPLICANT_REASON, GEOGRAPHY_REASON)
RESTRICTED = "who may apply: the call is closed to municipalities (see 'Who may apply')"


def context_lines(context: CallContext) -> list[str]:
    """Who may apply and where, as the matcher judged them for the whole call."""
    parts = []
    if context.restriction is not None:
        r = context.restriction
        found = (
            _hit_text(r.hit) if r.hit.field else f"none of {r.hit.term} ... found"
        )  # a restriction that holds when its terms are missing has no field
        parts.append(f"{r.label} ({found}): no tag except from needs that allow {r.name!r}")
    if context.lifted is not None:
        r = context.lifted
        parts.append(f"not {r.label}: {_hit_text(r.hit)} says there is an opportunity")
    if context.municipal is not None:
        parts.append(
            f"municipalities named ({_hit_text(context.municipal)}): "
            f"every score x{context.multiplier:g}"
        )
    who = "; ".join(parts) or "no restriction found"
    geo = context.geography
    where = {
        "home": lambda: f"{geo.place} ({_hit_text(geo.hit)})" if geo.hit else str(geo.place),
        "national": lambda: f"the whole country ({_hit_text(geo.hit)})" if geo.hit else "",
        "eu": lambda: str(geo.place),
        "other": lambda: (
            f"another region: {geo.place} ({_hit_text(geo.hit)}): no tag" if geo.hit else ""
        ),
        "unknown": lambda: "no place named",
    }[geo.status]()
    return [f"Who may apply: {who}", f"Where: {where}"]


def _default_status(default: DefaultResult) -> str:
    if default.passed and default.trigger is not None:
        return f"applies (+{default.score:g}): {_trigger_text(default.trigger)}"
    why = []
    if default.trigger is None:
        why.append("programme, funder and name not found")
    else:
        why.append(f"found {_trigger_text(default.trigger)}")
    if default.excluded_by:
        why.append("excluded by " + ", ".join(_hit_text(h) for h in default.excluded_by))
    if default.restricted:
        why.append(RESTRICTED)
    return "does not apply: " + "; ".join(why)


def _trigger_text(hit: Hit) -> str:
    if hit.field == "programme":
        return f"programme {hit.match}"
    if hit.field == "url":
        return f"funder {hit.term} (the call's address is on {hit.match})"
    return _hit_text(hit)


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


def _word_text(word: Word) -> str:
    return f"{word.where} {word.word!r} {word.weight:+.2f}"


def opinion_line(opinion: Opinion) -> str:
    """The second opinion on one förvaltning: its probability and the call's words that
    weigh most for and against."""
    pro = ", ".join(_word_text(w) for w in opinion.for_words) or "none"
    con = ", ".join(_word_text(w) for w in opinion.against_words) or "none"
    return (
        f"second opinion ({opinion.mode}): p {opinion.probability:.2f} "
        f"(without its words {opinion.base:.2f}); for: {pro}; against: {con}"
    )


def _reason_lines(audience: AudienceResult) -> list[str]:
    lines = []
    for reason in audience.reasons:
        if reason["need"] in CONTEXT_REASONS or reason.get("field") == ADDED_FIELD:
            continue  # said once for the whole call (context_lines), or by opinion_line
        lines.append(
            f"  - need {reason['need']!r}: term {reason['term']!r} in {reason['field']} "
            f"(+{reason['weight']:g}): {reason['snippet']}"
        )
    return lines


def _overruled(audience: AudienceResult, opinion: Opinion, boost: str) -> str:
    """Why the second opinion added or dropped a tag, beside the rules' own verdict."""
    if audience.added:
        verb, sign, name, limit, rules = "added", ">=", "add_above", opinion.add_above, "<"
    else:
        verb, sign, name, limit, rules = "vetoed", "<", "veto_below", opinion.veto_below, ">="
    return (
        f"{verb} by the second opinion: p {opinion.probability:.2f} {sign} {name} {limit:g} "
        f"(the rules: score {audience.score:g}{boost} {rules} threshold {audience.threshold:g})"
    )


def describe_tagged(audience: AudienceResult) -> list[str]:
    boost = f" (x{audience.multiplier:g}: municipalities named)" if audience.multiplier != 1 else ""
    opinion = audience.opinion
    if audience.added and opinion is not None:
        head = _overruled(audience, opinion, boost)
    else:
        head = f"score {audience.score:g}{boost} >= threshold {audience.threshold:g}"
    lines = [f"{audience.key} ({audience.kind}, {audience.name}): {head}"]
    lines += _reason_lines(audience)
    if opinion is not None:
        lines.append(f"  {opinion_line(opinion)}")
    return lines


def describe_untagged(
    audience: AudienceResult, programme: str | None, *, full: bool = False
) -> list[str]:
    opinion = audience.opinion
    if audience.vetoed and opinion is not None:
        boost = f" (x{audience.multiplier:g})" if audience.multiplier != 1 else ""
        head = _overruled(audience, opinion, boost)
        lines = [f"{audience.key} ({audience.kind}, {audience.name}): not tagged, {head}"]
        lines += _reason_lines(audience)
        lines.append(f"  {opinion_line(opinion)}")
        return lines
    if audience.excluded_by:
        head = "excluded by " + ", ".join(_hit_text(h) for h in audience.excluded_by)
    elif audience.blocked:
        head = f"the call is for another region (score {audience.score:g})"
    else:
        boost = f" (x{audience.multiplier:g})" if audience.multiplier != 1 else ""
        head = f"score {audience.score:g}{boost} < threshold {audience.threshold:g}"
    lines = [f"{audience.key} ({audience.kind}, {audience.name}): not tagged, {head}"]
    needs = audience.needs if full else closest_needs(audience)
    defaults = [d for d in audience.defaults if full or d.trigger is not None]
    if not needs and not defaults:
        lines.append("  no term of any need was found")
    for need in needs:
        lines.append(f"  - need {need.name!r}: {_need_status(need, programme)}")
    for default in defaults:
        lines.append(f"  - programme default {default.name!r}: {_default_status(default)}")
    if opinion is not None:
        lines.append(f"  {opinion_line(opinion)}")
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
        lines.extend(context_lines(evaluation.context))
        lines.append("Tags:" if tagged else "Tags: none")
    for audience in tagged:
        lines.extend(describe_tagged(audience))
        if key is not None:
            for need in audience.needs:
                lines.append(f"  need {need.name!r}: {_need_status(need, evaluation.programme)}")
            for default in audience.defaults:
                lines.append(f"  programme default {default.name!r}: {_default_status(default)}")
    if key is None and untagged:
        lines.append("")
        lines.append("Not tagged (closest needs):")
    for audience in untagged:
        if (
            key is None
            and audience.kind == "topic"
            and not any(n.hits for n in audience.needs)
            and not any(d.trigger for d in audience.defaults)
        ):
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

    def restriction(r: Restriction | None) -> dict[str, Any] | None:
        return {"name": r.name, "label": r.label, "hit": hit(r.hit)} if r else None

    context = evaluation.context
    return {
        "language": evaluation.language,
        "programme": evaluation.programme,
        "who_may_apply": {
            "municipal": hit(context.municipal) if context.municipal else None,
            "multiplier": context.multiplier,
            "restriction": restriction(context.restriction),
            "lifted": restriction(context.lifted),
        },
        "where": {
            "status": context.geography.status,
            "place": context.geography.place,
            "hit": hit(context.geography.hit) if context.geography.hit else None,
        },
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
                "blocked": a.blocked,
                "multiplier": a.multiplier,
                "rules_tagged": a.rules_tagged,
                "second_opinion": opinion_json(a),
                "defaults": [
                    {
                        "name": d.name,
                        "passed": d.passed,
                        "score": d.score,
                        "trigger": hit(d.trigger) if d.trigger else None,
                        "excluded_by": [hit(h) for h in d.excluded_by],
                        "restricted": d.restricted,
                    }
                    for d in a.defaults
                ],
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
                        "restricted": n.restricted,
                    }
                    for n in a.needs
                ],
            }
            for a in evaluation.audiences
            if key is None or a.key == key
        ],
    }


def opinion_json(audience: AudienceResult) -> dict[str, Any] | None:
    opinion = audience.opinion
    if opinion is None:
        return None

    def words(found: tuple[Word, ...]) -> list[dict[str, Any]]:
        return [
            {"feature": w.feature, "word": w.word, "where": w.where, "weight": w.weight}
            for w in found
        ]

    return {
        "mode": opinion.mode,
        "probability": round(opinion.probability, 4),
        "base": round(opinion.base, 4),
        "veto_below": opinion.veto_below,
        "add_above": opinion.add_above,
        "vetoed": audience.vetoed,
        "added": audience.added,
        "for": words(opinion.for_words),
        "against": words(opinion.against_words),
    }
