"""What a reader needs to know about a call, found in the call's own text (summary,
description, the portal's conditions): its first sentences, who can apply, the co-financing
rate and the amount per project. Pure functions of the text; nothing is guessed: a fact is
given only where the text says it, in the text's own words (cut to one sentence).

Swedish and English sources both occur ("Kommuner och regioner kan söka stöd …", "Stödet kan
vara högst 50 procent av projektets kostnader", "Upp till 200 000 euro per projekt",
"Eligible applicants: …", "co-financing rate of 80%").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SUMMARY_SENTENCES = 2
SUMMARY_MAX = 320
FACT_MAX = 220

_SPACE = re.compile(r"\s+")
# A sentence ends at . ! ? followed by a space and a capital letter (or the end); "t.ex."
# and amounts ("1,5 mkr") do not end one.
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÅÄÖÉ0-9\"”])")
_ABBREVIATIONS = ("t.ex.", "bl.a.", "m.m.", "s.k.", "e.g.", "i.e.", "ca.", "inkl.", "milj.")

# "Vem kan söka? Offentliga och privata organisationer …", "Eligible applicants: …"
_WHO_HEADING = re.compile(
    r"(?:vem kan söka|vilka kan söka|who can apply|eligible applicants|eligibility)\s*[?:]?\s*",
    re.IGNORECASE,
)
# "Kommuner och regioner kan söka stöd …", "Bidraget kan sökas av kommuner …"
_WHO_SENTENCE = re.compile(
    r"(\bkan sökas av\b|\bkan söka\b|\bmay apply\b|\bcan apply\b|\bare eligible\b)", re.IGNORECASE
)
_RATE = re.compile(
    r"(?:medfinansier\w*|stöd\w*|bidrag\w*|beviljas|co-?financ\w*|funding rate|"
    r"finansier\w*)[^.]{0,80}?(\d{1,3}(?:[,.]\d+)?)\s*(?:%|procent|per cent|percent)"
    r"|(\d{1,3}(?:[,.]\d+)?)\s*(?:%|procent|per cent|percent)[^.]{0,60}?"
    r"(?:av (?:projektets |de stödberättigande )?kostnad\w*|medfinansier\w*|co-?financ\w*|"
    r"of (?:the )?(?:eligible |total )?costs)",
    re.IGNORECASE,
)
_PER_PROJECT = re.compile(
    r"((?:upp till|högst|maximalt|max\.?|mellan|up to|between|maximum of)?\s*"
    r"(?:\d[\d\s\u00a0.,]*\s*(?:och|and|-|–)\s*)?"
    r"(?:EUR|SEK|€)?\s*\d[\d\s\u00a0.,]*\s*(?:miljoner|miljon|mkr|kr|kronor|euro|EUR|SEK|€|"
    r"million|MEUR)(?:\s*(?:kronor|euro))?)\s*(?:per|för varje|/)\s*(?:projekt|project|ansökan)",
    re.IGNORECASE,
)


def _clean(text: str | None) -> str:
    return _SPACE.sub(" ", text or "").strip()


def sentences(text: str | None) -> list[str]:
    """The text split into sentences (abbreviations such as "t.ex." kept whole)."""
    text = _clean(text)
    if not text:
        return []
    parts = _SENTENCE.split(text)
    out: list[str] = []
    for part in parts:
        if out and out[-1].lower().endswith(_ABBREVIATIONS):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return [p for p in out if p]


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def first_sentences(
    text: str | None, count: int = SUMMARY_SENTENCES, limit: int = SUMMARY_MAX
) -> str:
    """The first ``count`` sentences, at most ``limit`` characters (cut at a word)."""
    parts = sentences(text)
    return _cut(" ".join(parts[:count]), limit) if parts else ""


def who_can_apply(texts: Iterable[str | None]) -> str:
    """Who may apply, in the source's words: the text after "Vem kan söka?" (up to its first
    sentence), or the first sentence saying "… kan söka …"; "" when no text says it."""
    for text in texts:
        text = _clean(text)
        heading = _WHO_HEADING.search(text)
        if heading:
            rest = sentences(text[heading.end() :])
            if rest:
                return _cut(rest[0], FACT_MAX)
    for text in texts:
        for sentence in sentences(text):
            if _WHO_SENTENCE.search(sentence):
                return _cut(sentence, FACT_MAX)
    return ""


def cofinancing_rate(texts: Iterable[str | None]) -> str:
    """The share of the costs the funder pays (or the co-financing rate), as "50 %"; ""."""
    for text in texts:
        for sentence in sentences(text):
            match = _RATE.search(sentence)
            if match:
                value = (match.group(1) or match.group(2)).replace(".", ",")
                lead = (
                    "högst " if re.search(r"högst|maximalt|up to|upp till", sentence, re.I) else ""
                )
                return f"{lead}{value} %"
    return ""


def amount_per_project(texts: Iterable[str | None]) -> str:
    """The amount one project can get, in the source's words ("upp till 2 miljoner kronor per
    projekt"); ""."""
    for text in texts:
        match = _PER_PROJECT.search(_clean(text))
        if match:
            return _cut(_clean(match.group(0)), FACT_MAX)
    return ""


def call_facts(texts: list[str | None]) -> tuple[tuple[str, str], ...]:
    """(label, value) pairs for the digest entry and the call page, in reading order."""
    out = []
    who = who_can_apply(texts)
    if who:
        out.append(("Vem kan söka", who))
    rate = cofinancing_rate(texts)
    if rate:
        out.append(("Stödnivå", rate))
    per_project = amount_per_project(texts)
    if per_project:
        out.append(("Belopp per projekt", per_project))
    return tuple(out)
