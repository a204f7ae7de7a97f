"""The term syntax of config/needs.yaml (documented in docs/matching.md).

====================  ==========================================================
``skola``             the word and its inflections (skolan, skolor; schools for
                      ``school``); a bare word of 5+ letters also matches Swedish
                      compounds it starts or ends (skolutveckling, grundskolan)
``"kommun"``          quoted: the word and its inflections only, never inside a
                      compound (kommunen, kommuner — not kommunikation)
``vård*``             prefix: any word starting with it (vårdcentral, vårdnad)
``*vård``             tail: any word ending with it, inflected (sjukvården)
``*omsorg*``          infix: any word containing it (äldreomsorgspersonal)
``climate adaptation``  two or more words: a phrase, words in this order with only
``"public health"``     spaces, hyphens or slashes between them; each word may carry
``renewable energ*``    its own ``*``
====================  ==========================================================

Regular-expression syntax (``( ) [ ] { } \\ | ^ $ ?``) is refused: terms are words.
This module only parses; :mod:`matching.engine` compiles. It must not import config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from matching.text import BREAKS, normalise, tokens

Mode = Literal["word", "compound", "prefix", "suffix", "infix"]

COMPOUND_MIN_LETTERS = 5
# Characters of regular-expression syntax: a term with one is refused (a term is never
# handed to a regular expression engine as a pattern; see matching.text.linear_regex).
REGEX_SYNTAX = frozenset("()[]{}\\|^$?")
AFFIX_MIN_LETTERS = 3


class TermSyntaxError(ValueError):
    """A term that cannot be parsed; the message says why and how to write it."""


@dataclass(frozen=True)
class WordPattern:
    mode: Mode
    text: str  # normalised, no stars


@dataclass(frozen=True)
class ParsedTerm:
    raw: str
    words: tuple[WordPattern, ...]


def _part_words(part: str) -> list[str]:
    return [t for t in tokens(normalise(part)) if t not in BREAKS]


def parse_term(raw: str) -> ParsedTerm:
    """Parse one term; raise :class:`TermSyntaxError` with a readable reason."""
    if not isinstance(raw, str):
        raise TermSyntaxError(f"a term must be a string, got {raw!r}")
    text = raw.strip()
    if not text:
        raise TermSyntaxError("terms must not be empty strings")
    syntax = sorted(set(text) & REGEX_SYNTAX)
    if syntax:
        raise TermSyntaxError(
            f"{raw!r}: terms are words, not regular expressions ({' '.join(syntax)} is not "
            "term syntax); write the words, with * for any beginning or ending (vård*, *vård)"
        )
    quoted = len(text) >= 2 and text[0] == '"' and text[-1] == '"'
    inner = text[1:-1].strip() if quoted else text
    if '"' in inner:
        raise TermSyntaxError(
            f"{raw!r}: quotes must enclose the whole term, e.g. '\"public health\"'"
        )
    words: list[WordPattern] = []
    for part in inner.split():
        lead = part.startswith("*")
        trail = part.endswith("*") and len(part) > 1
        core = part.strip("*")
        if "*" in core:
            raise TermSyntaxError(
                f"{raw!r}: '*' may only stand at the start or end of a word (vård*, *vård)"
            )
        pieces = _part_words(core)
        if not pieces:
            if core or part.strip("*") == "":
                raise TermSyntaxError(f"{raw!r}: a term needs letters or digits")
            continue
        for index, piece in enumerate(pieces):
            first, last = index == 0, index == len(pieces) - 1
            if lead and first and trail and last:
                mode: Mode = "infix"
            elif lead and first:
                mode = "suffix"
            elif trail and last:
                mode = "prefix"
            else:
                mode = "word"
            if mode != "word" and len(piece) < AFFIX_MIN_LETTERS:
                raise TermSyntaxError(
                    f"{raw!r}: {piece!r} is too short for '*' "
                    f"(a prefix, tail or infix needs at least {AFFIX_MIN_LETTERS} letters)"
                )
            words.append(WordPattern(mode, piece))
    if not words:
        raise TermSyntaxError(f"{raw!r}: a term needs letters or digits")
    only = words[0]
    if (
        len(words) == 1
        and only.mode == "word"
        and not quoted
        and len(only.text) >= COMPOUND_MIN_LETTERS
        and only.text.isalpha()
    ):
        words[0] = WordPattern("compound", only.text)
    return ParsedTerm(text, tuple(words))
