"""Amounts of money in Swedish funders' prose, told apart: the call's total budget or a cap
per project.

Swedish pages say both in one paragraph: "Totalt fördelas 57,7 miljoner. Ni kan söka högst
744 000 kr per förstudie." The first is the call's budget, the second what one project can
get; a digest that shows 744 000 kr as the budget misleads. :func:`budget_amounts` reads
every amount ("57,7 miljoner" = 57 700 000 SEK, "2 mkr", "10 MSEK", "744 000 kr",
"1.5 miljoner kronor") and sorts it by the nearest cue word before it in its sentence
("totalt", "budget", "fördelas" → total; "högst", "maximalt", "upp till", "kan söka" →
per project) or by "per projekt/förstudie/…" right after it. An amount with no cue is a
total. Used by the tillvaxtverket and vinnova spiders (their texts are Swedish).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCALES = {
    "miljarder": 1e9,
    "miljard": 1e9,
    "miljoner": 1e6,
    "miljon": 1e6,
    "mnkr": 1e6,
    "mkr": 1e6,
    "msek": 1e6,
    "kronor": 1.0,
    "kr": 1.0,
    "sek": 1.0,
}
_AMOUNT = re.compile(
    r"(?<![\d,.])(?P<int>\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)(?:[.,](?P<dec>\d+))?"
    r"\s*(?P<unit>miljarder|miljard|miljoner|miljon|mnkr|mkr|msek|kronor|kr|sek)\b"
    r"(?:\s+(?:kronor|kr|sek)\b)?",
    re.IGNORECASE,
)
_TOTAL_CUE = re.compile(
    r"\b(?:totalt|total\w*|budget\w*|fördela[rs]?|avsatt\w*|sammanlagt|finns\s+det|det\s+finns)\b",
    re.IGNORECASE,
)
_PER_CUE = re.compile(
    r"\b(?:högst|maximalt|max|upp\s+till|kan\s+söka|kan\s+få|mellan)\b", re.IGNORECASE
)
_PER_AFTER = re.compile(
    r"^[^.;\d]{0,30}?\bper\s+(?:projekt|förstudie|ansökan|företag|sökande|aktör|deltagare|"
    r"etapp|part|organisation|kommun|insats)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.;!?:](?:\s|$)|\n")
MAX_INPUT_CHARS = 20_000


@dataclass(frozen=True)
class Amount:
    value: float
    currency: str
    per_project: bool


def amounts(text: str | None) -> list[Amount]:
    """Every amount in ``text`` (SEK), each marked total or per project."""
    if not text:
        return []
    text = text[:MAX_INPUT_CHARS]
    out: list[Amount] = []
    for m in _AMOUNT.finditer(text):
        whole = re.sub(r"\D", "", m.group("int"))
        decimals = m.group("dec") or ""
        scale = _SCALES[m.group("unit").lower()]
        if decimals and scale == 1.0 and len(decimals) == 3:
            whole, decimals = whole + decimals, ""  # "744.000 kr": a thousands separator
        try:
            value = float(f"{whole}.{decimals}" if decimals else whole) * scale
        except ValueError:
            continue
        if value <= 0:
            continue
        starts = [e.end() for e in _SENTENCE_END.finditer(text, 0, m.start())]
        before = text[starts[-1] if starts else 0 : m.start()]
        cues = [(c.end(), False) for c in _TOTAL_CUE.finditer(before)]
        cues += [(c.end(), True) for c in _PER_CUE.finditer(before)]
        per_project = max(cues)[1] if cues else False
        if _PER_AFTER.match(text[m.end() :]):
            per_project = True
        out.append(Amount(value=value, currency="SEK", per_project=per_project))
    return out


def budget_amounts(text: str | None) -> tuple[float | None, float | None]:
    """The call's total budget and the largest cap per project that ``text`` states (SEK);
    None for what it does not state."""
    found = amounts(text)
    totals = [a.value for a in found if not a.per_project]
    caps = [a.value for a in found if a.per_project]
    return (totals[0] if totals else None), (max(caps) if caps else None)
