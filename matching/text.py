"""Text normalisation for Swedish and English: case folding, Unicode NFKC, zero-width
characters, tokens, language detection, stemming, inflection endings and snippets.

Everything here is pure and cheap; the stemmers are PyStemmer (Snowball, C).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import re2
import Stemmer

# Soft hyphen, zero-width space/joiners, word joiner, BOM: invisible, and they split words.
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")

# A token is a run of letters/digits. Sentence punctuation is kept as its own token so
# that a phrase never matches across a full stop, a semicolon or a keyword separator.
TOKEN_RE = re.compile(r"[^\W_]+|[.!?;:|•]")
BREAKS = frozenset(".!?;:|•")

LANGUAGES = ("sv", "en")

SV_STOP = frozenset(
    [
        "och",
        "att",
        "det",
        "som",
        "en",
        "på",
        "är",
        "av",
        "för",
        "med",
        "till",
        "den",
        "har",
        "de",
        "inte",
        "om",
        "ett",
        "var",
        "jag",
        "han",
        "men",
        "sig",
        "från",
        "vid",
        "så",
        "kan",
        "när",
        "under",
        "också",
        "efter",
        "eller",
        "då",
        "skulle",
        "vi",
        "ska",
        "alla",
        "sina",
        "genom",
        "samt",
        "hur",
        "andra",
        "detta",
        "dessa",
        "mot",
        "inom",
        "vilka",
        "där",
        "mellan",
        "utan",
        "bland",
    ]
)
EN_STOP = frozenset(
    [
        "the",
        "and",
        "of",
        "to",
        "in",
        "is",
        "for",
        "on",
        "with",
        "by",
        "that",
        "are",
        "be",
        "as",
        "this",
        "from",
        "will",
        "an",
        "or",
        "which",
        "should",
        "their",
        "these",
        "have",
        "has",
        "it",
        "at",
        "its",
        "can",
        "not",
        "been",
        "into",
        "such",
        "they",
        "than",
        "also",
        "through",
        "who",
    ]
)

STOP_WORDS = SV_STOP | EN_STOP | frozenset(["a", "i", "e"])

# Swedish noun and adjective endings (definite, plural, genitive). A word "inflects" a
# term when it is the term (or the term without a final a/e) plus one of these.
SV_ENDINGS = tuple(
    sorted(
        {
            "",
            "s",
            "n",
            "t",
            "a",
            "e",
            "r",
            "en",
            "an",
            "et",
            "na",
            "ns",
            "ts",
            "or",
            "ar",
            "er",
            "rna",
            "ens",
            "ans",
            "ets",
            "nas",
            "ors",
            "ars",
            "ers",
            "orna",
            "arna",
            "erna",
            "rnas",
            "ornas",
            "arnas",
            "ernas",
        },
        key=len,
    )
)

_SV = Stemmer.Stemmer("swedish")
_EN = Stemmer.Stemmer("english")


def normalise(text: str | None) -> str:
    """NFKC, case-folded, without invisible characters."""
    if not text:
        return ""
    if text.isascii():
        return text.lower()  # NFKC and case folding are plain lower() for ASCII
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def tokens(text: str) -> list[str]:
    """Tokens of already normalised text (words, numbers and sentence breaks)."""
    return TOKEN_RE.findall(text)


# The same tokens without a regular expression per word: every ASCII character that is
# not a letter or digit becomes a space (a sentence break becomes " . "), then str.split.
_BREAK_MARK = "."
_ASCII_WORDS = str.maketrans(
    {
        i: chr(i) if chr(i).isalnum() else (_BREAK_MARK if chr(i) in BREAKS else " ")
        for i in range(128)
    }
)
_BYTE_WORDS = bytes(
    (b if chr(b).isalnum() else ord(_BREAK_MARK) if chr(b) in BREAKS else 32) if b < 128 else b
    for b in range(256)
)
_ODD = re.compile(r"[^\w\s.]|_")  # non-ASCII characters that are neither word nor space
# A cheaper first look (no Unicode category per character): a non-ASCII character that is
# not one of the common (case-folded) letters below. Only then is _ODD needed.
_COMMON_LETTERS = "åäöéüæøáàèíóúñçëïâêîôûœ"
_MAYBE_ODD = re.compile(f"[^\\x00-\\x7f{_COMMON_LETTERS}]")


def _odd(found: re.Match[str]) -> str:
    return " . " if found.group() in BREAKS else " "


def scan_tokens(text: str) -> list[str]:
    """:func:`tokens` of already normalised text, faster, with every sentence break as
    ``"."`` (which break it was does not matter to matching)."""
    if text.isascii():
        text = text.translate(_ASCII_WORDS)
    else:  # str.translate is slow beyond ASCII: translate the UTF-8 bytes instead
        text = text.encode("utf-8").translate(_BYTE_WORDS).decode("utf-8")
        if _MAYBE_ODD.search(text) and _ODD.search(text):
            text = _ODD.sub(_odd, text)
    if _BREAK_MARK in text:
        text = text.replace(_BREAK_MARK, " . ")
    return text.split()


def scan_text(text: str | None) -> list[str]:
    """``scan_tokens(normalise(text))``, faster for plain text (ASCII and the common
    letters of _COMMON_LETTERS in either case): there NFKC changes nothing, nothing is
    invisible, casefold() is lower(), and after it every character is ASCII or a letter."""
    if not text:
        return []
    if text.isascii():
        text = text.lower().translate(_ASCII_WORDS)
    elif _NOT_PLAIN_CASE.search(text) is None:
        text = text.lower().encode("utf-8").translate(_BYTE_WORDS).decode("utf-8")
    else:
        return scan_tokens(normalise(text))
    if _BREAK_MARK in text:
        text = text.replace(_BREAK_MARK, " . ")
    return text.split()


def language_code(value: str | None) -> str | None:
    """``"sv"``/``"en"`` for values like ``sv``, ``sv-SE``, ``EN``; None otherwise."""
    if not value:
        return None
    code = value.strip().lower()[:2]
    return code if code in LANGUAGES else None


def detect_language(words: set[str], text_sample: str = "") -> str:
    """``sv`` or ``en`` from the stop-words present (and å/ä/ö as a tie-breaker)."""
    sv = len(words & SV_STOP)
    en = len(words & EN_STOP)
    if sv == en:
        return "sv" if any(c in text_sample for c in "åäö") else "en"
    return "sv" if sv > en else "en"


@lru_cache(maxsize=200_000)
def stems(word: str) -> tuple[str, str]:
    """(Swedish stem, English stem) of a normalised word."""
    return _SV.stemWord(word), _EN.stemWord(word)


def cores(term: str) -> tuple[str, ...]:
    """The forms a Swedish ending attaches to: ``skola`` → (skola, skol). The second
    (without the final a/e) only takes endings that start with a vowel or n (skolor,
    lärarna), so ``care`` never becomes ``car``."""
    if len(term) >= 4 and term[-1] in "ae":
        return (term, term[:-1])
    return (term,)


def _endings(index: int) -> tuple[str, ...]:
    return SV_ENDINGS if index == 0 else _STRIPPED_ENDINGS


def inflects(word: str, term_cores: tuple[str, ...]) -> bool:
    """``word`` is one of the cores plus a Swedish ending (``skolan``, ``skolorna``)."""
    for index, core in enumerate(term_cores):
        if word.startswith(core) and word[len(core) :] in (
            _ENDING_SET if index == 0 else _STRIPPED_SET
        ):
            return True
    return False


def ends_with_inflected(word: str, term_cores: tuple[str, ...], min_head: int) -> bool:
    """``word`` ends with a core plus an ending, after at least ``min_head`` letters
    (``grundskolan`` ends with ``skola`` + ``n`` after ``grund``)."""
    for index, core in enumerate(term_cores):
        for ending in _endings(index):
            tail = core + ending
            if len(word) - len(tail) >= min_head and word.endswith(tail):
                return True
    return False


def starts_compound(word: str, term_cores: tuple[str, ...], min_rest: int) -> bool:
    """``word`` is a Swedish compound starting with the term (``skolutveckling``)."""
    return any(word.startswith(c) and len(word) - len(c) >= min_rest for c in term_cores)


_ENDING_SET = frozenset(SV_ENDINGS)
_STRIPPED_ENDINGS = tuple(e for e in SV_ENDINGS if e and e[0] in "aeioun")
_STRIPPED_SET = frozenset(_STRIPPED_ENDINGS)

SNIPPET_WIDTH = 70


def flatten(text: str | None) -> str:
    """One line, single spaces."""
    return " ".join((text or "").split())


def snippet(original: str, needle: str, width: int = SNIPPET_WIDTH, *, flat: bool = False) -> str:
    """A short single-line excerpt of ``original`` around the first occurrence of ``needle``
    (a normalised word or phrase), with ellipses where it was cut. ``flat``: the text is
    already flattened (see :func:`flatten`)."""
    flat_text = original if flat else flatten(original)
    return _snippet(flat_text, needle, width)


@lru_cache(maxsize=16)
def _lower(text: str) -> str:
    return text.lower()


def _find_word(flat: str, needle: str) -> tuple[int, int] | None:
    """Case-insensitive whole-word find of a single word, without regular expressions
    (only when lower() keeps the length, so offsets are the original's)."""
    low = _lower(flat)
    if len(low) != len(flat):
        return None
    start = low.find(needle)
    while start >= 0:
        end = start + len(needle)
        if (start == 0 or not low[start - 1].isalnum()) and (
            end == len(low) or not low[end].isalnum()
        ):
            return start, end
        start = low.find(needle, start + 1)
    return None


IGNORECASE = re.IGNORECASE
# What may separate a phrase's words in the text: Python's \s for str (every character
# str.isspace() knows), hyphens and slashes, written for RE2.
_GAP = r"[\s\x{1c}-\x{1f}\x{85}\p{Z}\-/]+"


def linear_regex(pattern: str, *, ignore_case: bool = False) -> re2._Regexp:
    """``pattern`` compiled by RE2, which runs in time linear in the text (no
    backtracking); a construct RE2 does not have (back-references, look-arounds) raises
    ValueError. Every regular expression built from the needs' terms or a call's text
    goes through here (tests/matching/test_linear_patterns.py)."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise ValueError(f"not a linear-time pattern: {pattern!r}: {exc}") from None


def _snippet(flat: str, needle: str, width: int) -> str:
    if not flat:
        return ""
    span = _find_word(flat, needle) if " " not in needle else None
    if span is None:
        span = _search(flat, needle, IGNORECASE)
        if span is None:
            normal = normalise(flat)
            span = _search(normal, needle, 0)
            if span is None or len(normal) != len(flat):
                return flat[: 2 * width] + ("…" if len(flat) > 2 * width else "")
    return _cut(flat, *span, width)


def _cut(text: str, first: int, last: int, width: int) -> str:
    """``text[first:last]`` with up to ``width`` characters each side, cut at a space, and
    "…" where something was left out."""
    start = max(0, first - width)
    end = min(len(text), last + width)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    if end < len(text):
        space = text.rfind(" ", last, end)
        end = space if space > last else end
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def snippet_in(original: str, needle: str, width: int = SNIPPET_WIDTH) -> str:
    """:func:`snippet` of ``original``, flattening only the text around the first
    occurrence of ``needle`` instead of the whole field (the same result: flattening only
    changes runs of whitespace, which are never part of a word or of a phrase's words, so
    the occurrences are the same and come in the same order)."""
    span = _find_word(original, needle) if " " not in needle else None
    if span is None:
        if _plain_case(original):  # the same matches as IGNORECASE, found faster
            span = _search(_lower(original), needle, 0)
        else:
            span = _search(original, needle, re.IGNORECASE)
        if span is None:  # the rarer fallbacks work on the flattened text
            return _snippet(flatten(original), needle, width)
    first, last = span
    begin = max(0, first - width - 4)  # room for a paragraph break or two
    if begin and original[begin] == " ":
        begin -= 1  # a side may have more than width + 1 characters
    stop = last + width + 4
    if original[stop - 1 : stop] == " ":
        stop += 1
    window = original[begin:stop]
    at, until, short = first - begin, last - begin, False
    if "\n\n" in window:  # a paragraph break flattens to one space
        left = window[:at].replace("\n\n", " ")
        right = window[until:].replace("\n\n", " ")
        window = left + window[at:until] + right
        at, until = len(left), len(window) - len(right)
        short = (begin > 0 and len(left) <= width) or (stop < len(original) and len(right) <= width)
    if (
        not short
        and window.isprintable()  # its only whitespace is ASCII spaces
        and "  " not in window
        and window[0] != " "
        and window[-1] != " "
    ):  # flattening would not change the text around the match (the common case)
        local, first, last = window, at, until
    else:
        local, first, last = _flat_around(original, first, last, width)
    return _cut(local, first, last, width)  # as _snippet, on the local text


@lru_cache(maxsize=8192)
def _needle_body_re(needle: str, flags: int) -> re2._Regexp:
    """The words of ``needle`` (a matched word or phrase) with any gap between them."""
    return linear_regex(
        _GAP.join(re2.escape(part) for part in needle.split()), ignore_case=bool(flags)
    )


def _search(text: str, needle: str, flags: int) -> tuple[int, int] | None:
    """The first place of ``needle`` in ``text`` that no word character precedes (the
    look-behind RE2 does not have is checked on each find); ``flags``: IGNORECASE or 0."""
    pattern = _needle_body_re(needle, flags)
    at = 0
    while True:
        found = pattern.search(text, at)
        if found is None:
            return None
        start = found.start()
        if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
            return found.span()
        at = start + 1


# Letters whose lower() is what IGNORECASE compares (no special case folding: not ß, ſ,
# ı, the Kelvin sign …): in a text of only these and ASCII, a case-sensitive search of
# the lowered text finds what a case-insensitive search of the text finds.
_NOT_PLAIN_CASE = re.compile(f"[^\\x00-\\x7f{_COMMON_LETTERS}{_COMMON_LETTERS.upper()}]")


@lru_cache(maxsize=16)
def _plain_case(text: str) -> bool:
    return text.isascii() or (
        _NOT_PLAIN_CASE.search(text) is None and len(_lower(text)) == len(text)
    )


def _flat_around(original: str, first: int, last: int, width: int) -> tuple[str, int, int]:
    """The flattened text around ``original[first:last]``, with more than ``width``
    characters on a side unless the text ends there, and the match's place in it."""
    reach = 2 * width + 2
    while True:  # the flattened text before the match: at least width + 1 characters
        begin = max(0, first - reach)
        before = original[begin:first]
        left = " ".join(before.split())
        if left and before[-1].isspace():
            left += " "
        if begin == 0 or len(left) > width:
            break
        reach *= 4
    reach = 2 * width + 2
    while True:  # and after it
        stop = last + reach
        after = original[last:stop]
        right = " ".join(after.split())
        if right and after[0].isspace():
            right = " " + right
        if stop >= len(original) or len(right) > width:
            break
        reach *= 4
    middle = " ".join(original[first:last].split())
    return left + middle + right, len(left), len(left) + len(middle)
