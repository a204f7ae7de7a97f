"""Compiled needs and the pure matcher: no I/O, no database, no Scrapy.

``compile_needs(needs)`` turns config/needs.yaml into a :class:`CompiledNeeds` once:
every term is parsed into word patterns, every distinct pattern gets an id, and one
Aho-Corasick automaton holds a short key per pattern. Matching a call then

1. normalises each field (NFKC, case fold, no zero-width characters) and splits it into
   tokens (``scan_text``: str.translate + str.split);
2. judges each distinct word only once per compiled ruleset and language: a new word runs
   through the automaton and its candidate patterns are verified (stems, Swedish endings,
   compounds); the language's lexicon then gives it a character (see _Lexicon);
3. turns the field's tokens into one string of those characters, and takes from it with
   C calls the single-word terms (first word per term) and the places where a phrase can
   start (cached per pair of words); only those places are checked in Python;
4. scores only the needs those terms touch, and only förvaltningar/topics that can reach
   their threshold; snippets only for tags.

``match_call(compiled, call)`` returns the tags; ``evaluate(compiled, call)`` returns the
full judgement of every förvaltning/topic and need (used by ``bevaka explain``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain, filterfalse
from typing import Any
from urllib.parse import urlsplit

import ahocorasick

from config.programmes import (
    PROGRAMMES,
    programme_code,
    programme_from_identifier,
    programme_in_title,
)
from config.schema import Audience, NeedsFile
from matching.second_opinion import Opinion, SecondOpinion, added_reason
from matching.terms import ParsedTerm, WordPattern, parse_term
from matching.text import (
    STOP_WORDS,
    cores,
    detect_language,
    ends_with_inflected,
    inflects,
    language_code,
    normalise,
    scan_text,
    snippet_in,
    starts_compound,
    stems,
)

# Bump when matching behaviour changes, so stored tags are recomputed (it is in rules_hash).
ENGINE_VERSION = (
    "3"  # 2: programme defaults, who may apply, geography; 3: identifiers, unless, programme names
)

FIELDS = ("title", "keywords", "summary", "description")
MAX_REASONS = 12
COMPOUND_MIN_HEAD = 3  # letters before/after a term inside a Swedish compound
_CACHE_LIMIT = 400_000  # distinct words remembered per language before the cache restarts
# where another region's name counts (not in the full text, where it is often a mention)
_HEAD_FIELDS = ("title", "keywords", "summary")
# the programmes of the EU's portal: a call of one is EU-wide unless it names a place
EU_PROGRAMMES = frozenset(code for code, p in PROGRAMMES.items() if p.sedia_id)
# the "need" of the reasons that are not a need's terms (shown on the call's page, in
# Swedish like the needs' names; see docs/matching.md)
DEFAULT_REASON = "Program eller finansiär"
APPLICANT_REASON = "Sökande: kommuner nämns"
GEOGRAPHY_REASON = "Område"
EU_WIDE = "hela EU"


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One matched term: where (best field) and what text matched."""

    term: str
    field: str
    match: str
    weight: float  # field weight x need weight


@dataclass
class NeedResult:
    name: str
    weight: float
    passed: bool
    hits: list[Hit] = field(default_factory=list)
    missing_any: bool = False
    missing_groups: list[list[str]] = field(default_factory=list)
    conditions: list[Hit] = field(default_factory=list)  # one found term per all-of group
    excluded_by: list[Hit] = field(default_factory=list)
    programme_ok: bool = True
    programmes: list[str] = field(default_factory=list)
    restricted: bool = False  # the call's applicant restriction is not one this need allows

    @property
    def score(self) -> float:
        return sum(h.weight for h in self.hits) if self.passed else 0.0

    @property
    def partial_score(self) -> float:
        """What the matched terms would weigh if the need passed (for 'closest needs')."""
        return sum(h.weight for h in self.hits)


@dataclass
class DefaultResult:
    """A programme default (needs.yaml ``programme_defaults``) judged for one call."""

    name: str
    score: float
    trigger: Hit | None  # what named the programme or funder (programme, url or a field)
    excluded_by: list[Hit] = field(default_factory=list)
    restricted: bool = False

    @property
    def passed(self) -> bool:
        return self.trigger is not None and not self.excluded_by and not self.restricted


@dataclass(frozen=True)
class Restriction:
    name: str  # applicants.only[].name
    label: str
    hit: Hit


@dataclass(frozen=True)
class Geography:
    status: str  # home | national | eu | other | unknown
    place: str | None
    hit: Hit | None


@dataclass(frozen=True)
class CallContext:
    """What holds for the whole call: its programme and URL host, who may apply, where."""

    programme: str | None
    host: str
    municipal: Hit | None  # a term naming municipalities as applicants or partners
    multiplier: float  # applicants.municipal_weight when municipal, else 1
    restriction: Restriction | None
    geography: Geography
    identifier: str = ""  # upper case, "" when the call has none
    lifted: Restriction | None = None  # a restriction its `unless` terms lifted (hit: theirs)


NO_CONTEXT = CallContext(None, "", None, 1.0, None, Geography("unknown", None, None))


def identifier_fits(pattern: str, identifier: str) -> bool:
    """``HORIZON-MISS-*-CLIMA-*`` fits ``HORIZON-MISS-2026-01-CLIMA-02`` (upper case both;
    ``*`` is any text, everything else literal): plain string work, no regex engine."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return identifier == pattern
    if not identifier.startswith(parts[0]) or not identifier.endswith(parts[-1]):
        return False
    position, end = len(parts[0]), len(identifier) - len(parts[-1])
    for part in parts[1:-1]:
        found = identifier.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return position <= end


@dataclass
class AudienceResult:
    key: str
    kind: str  # department | topic
    name: str
    score: float
    threshold: float
    excluded_by: list[Hit]
    needs: list[NeedResult]
    reasons: list[dict[str, Any]]
    defaults: list[DefaultResult] = field(default_factory=list)
    multiplier: float = 1.0
    blocked: bool = False  # the call is for another region (see Evaluation.context)
    # the learned second opinion (needs.yaml second_opinion; None when off or for a key
    # the model does not know), and what it did: dropped the rules' tag or added one
    opinion: Opinion | None = None
    vetoed: bool = False
    added: bool = False

    @property
    def rules_tagged(self) -> bool:
        """The rules' own verdict, before the second opinion."""
        return not self.excluded_by and not self.blocked and self.score >= self.threshold

    @property
    def tagged(self) -> bool:
        return (self.rules_tagged and not self.vetoed) or self.added


@dataclass(frozen=True)
class TagResult:
    """A tag for one call. ``reasons`` is what Tag.reasons stores (see docs/matching.md):
    a list of {"need", "term", "field", "match", "snippet", "weight"}."""

    key: str
    kind: str
    name: str
    score: float
    reasons: list[dict[str, Any]]


@dataclass
class Evaluation:
    language: str
    programme: str | None
    audiences: list[AudienceResult]
    context: CallContext = NO_CONTEXT

    @property
    def tags(self) -> list[TagResult]:
        return [
            TagResult(a.key, a.kind, a.name, round(a.score, 3), a.reasons)
            for a in self.audiences
            if a.tagged
        ]

    def audience(self, key: str) -> AudienceResult | None:
        return next((a for a in self.audiences if a.key == key), None)


# --- compiled form ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    mode: str
    text: str
    cores: tuple[str, ...]
    stem_sv: str
    stem_en: str
    key: str  # the automaton key: a substring every matching word contains


@dataclass(frozen=True)
class _Term:
    raw: str
    # pattern ids; inside a phrase a stop-word is kept as its literal text (str) and
    # compared directly, so that "of" or "och" never has to be found and cached
    specs: tuple[int | str, ...]
    anchor: int = 0  # index of the first pattern id (not literal) in specs
    required: frozenset[int] = frozenset()  # the pattern ids a phrase needs in the field


@dataclass(frozen=True)
class _Need:
    audience: int
    name: str
    weight: float
    any: tuple[int, ...]
    all: tuple[tuple[int, ...], ...]
    none: tuple[int, ...]
    programmes: frozenset[str]
    applicants: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Default:
    name: str
    programmes: frozenset[str]
    funders: tuple[str, ...]
    any: tuple[int, ...]
    none: tuple[int, ...]
    audiences: tuple[int, ...]
    score: float
    applicants: frozenset[str]
    identifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Restriction:
    """applicants.only[], compiled: term ids, upper-case identifier patterns."""

    name: str
    label: str
    any: tuple[int, ...]
    kinds: frozenset[str]
    unless_municipal: bool
    when_missing: bool
    identifiers: tuple[str, ...]
    unless: tuple[int, ...]
    hosts: tuple[str, ...]


def _on_site(host: str, site: str) -> bool:
    """``host`` is ``site`` or one of its subdomains (www.esf.se on esf.se)."""
    return host == site or host.endswith("." + site)


@dataclass(frozen=True)
class _Audience:
    key: str
    kind: str
    name: str
    threshold: float
    none: tuple[int, ...]
    needs: tuple[int, ...]


# Each word that fits a term or has a place in a phrase gets its own character (outside
# the first plane, so never whitespace), a word that fits nothing the space: a field's
# tokens become one string of as many characters. Words that can start a phrase get theirs
# from _STARTER_CHARS, the others from _OTHER_CHARS, so that one character class finds
# every place where a phrase may start.
_STARTER_CHARS = range(0x10000, 0x90000)
_OTHER_CHARS = range(0x90000, 0x110000)
_NOTHING = " "  # the character of a word that fits nothing (and of a sentence break)


class _Lexicon:
    """The words judged in one language and what their characters mean (see _learn)."""

    __slots__ = ("chars", "singles", "places", "pairs", "counts")

    def __init__(self) -> None:
        self.chars: dict[str, str] = {}  # word → its character
        # character → (single-word term id, the word) for every term the word fits
        self.singles: dict[str, tuple[tuple[int, str], ...]] = {_NOTHING: ()}
        # character → the word's places in phrases (phrase term id, index of its word)
        self.places: dict[str, frozenset[tuple[int, int]]] = {}
        # a starter's character and the next token's → the phrases that can start there:
        # (term id, whether the two words are the whole phrase)
        self.pairs: dict[str, tuple[tuple[int, bool], ...]] = {}
        self.counts = [0, 0]  # characters given: starters, others


def _starter_pairs() -> re.Pattern[str]:
    """Every starter's character followed by a word's (overlapping): two characters each."""
    first, last = chr(_STARTER_CHARS.start), chr(_STARTER_CHARS.stop - 1)
    return re.compile(f"(?=([{first}-{last}][^ ]))")


def _lcp(words: Iterable[str]) -> str:
    words = list(words)
    first = min(words, key=len)
    for index, char in enumerate(first):
        if any(w[index] != char for w in words):
            return first[:index]
    return first


def _key(mode: str, text: str, sv: str, en: str, text_cores: tuple[str, ...]) -> str:
    if mode in ("prefix", "infix"):
        return text
    key = _lcp([text, sv, en, *text_cores])
    if len(key) > 3 and key == en and key.endswith("i"):
        key = key[:-1]  # the English stemmer turns a final y into i (city → citi)
    return key or text


def _derivation(word: str) -> str:
    """The English derivational ending a stem comparison must agree on, so that the
    stemmer's merges (housing → hous ← house, publication → public) do not match."""
    if word.endswith(("ing", "ings")):
        return "ing"
    if word.endswith(("ation", "ations")):
        return "ation"
    return ""


_SV_DERIVATIONS = (
    ("ande", ("ande", "ende", "andet", "andes", "andets", "endet")),
    ("ning", ("ning", "ningen", "ningar", "ningarna", "ningens", "nings")),
)


def _derivation_sv(word: str) -> str:
    """The Swedish derivational ending a stem comparison must agree on: the stemmer makes
    lärande (learning) and lärare (teacher) both "lär"."""
    for name, endings in _SV_DERIVATIONS:
        if word.endswith(endings):
            return name
    return ""


def _satisfied(spec: _Spec, word: str, wsv: str, wen: str, lang: str) -> bool:
    mode = spec.mode
    if mode == "prefix":
        return word.startswith(spec.text)
    if mode == "infix":
        return spec.text in word
    # Stems are compared in the call's language only (the English stemmer would make
    # Swedish "energi" and "energy" one word anyway; the Swedish one turns "areas" into "are").
    if mode == "suffix":
        if ends_with_inflected(word, spec.cores, 0):
            return True
        return wsv.endswith(spec.stem_sv) if lang == "sv" else wen.endswith(spec.stem_en)
    # word / compound
    if word == spec.text:
        return True
    if lang == "sv":
        if wsv == spec.stem_sv and _derivation_sv(word) == _derivation_sv(spec.text):
            return True
    elif wen == spec.stem_en and _derivation(word) == _derivation(spec.text):
        return True
    if len(spec.text) >= 3 and inflects(word, spec.cores):
        return True
    if mode == "compound" and lang == "sv":
        if starts_compound(word, spec.cores, COMPOUND_MIN_HEAD):
            return True
        return ends_with_inflected(word, spec.cores, COMPOUND_MIN_HEAD)
    return False


def _get(call: Any, name: str) -> Any:
    if isinstance(call, Mapping):
        return call.get(name)
    return getattr(call, name, None)


def call_fields(call: Any) -> dict[str, str]:
    """The matched fields of a call (object or mapping) as plain text."""
    keywords = _get(call, "keywords") or []
    if isinstance(keywords, str):
        keywords = [keywords]
    return {
        "title": _get(call, "title") or "",
        "keywords": " ; ".join(str(k) for k in keywords),
        "summary": _get(call, "summary") or "",
        "description": _get(call, "description") or "",
    }


def call_programme(call: Any) -> str | None:
    programme = _get(call, "programme")
    if programme:
        code = str(programme)
        return programme_code(code) or code
    found = programme_from_identifier(_get(call, "identifier"))
    if found is not None:
        return found.code
    return programme_in_title(_get(call, "title"))


class CompiledNeeds:
    """needs.yaml compiled once; reuse it for every call. Not thread-safe (word cache)."""

    def __init__(self, needs: NeedsFile):
        self.needs = needs
        self.rules_hash = rules_hash(needs)
        weights = needs.defaults.field_weights
        self.field_weights = {f: float(getattr(weights, f)) for f in FIELDS}
        self._specs: list[_Spec] = []
        self._spec_ids: dict[tuple[str, str], int] = {}
        self._terms: list[_Term] = []
        self._term_ids: dict[str, int] = {}
        self._needs: list[_Need] = []
        self._audiences: list[_Audience] = []
        # term id → needs that use it (so only touched needs are scored)
        self._term_needs: dict[int, set[int]] = {}
        self._term_audiences: dict[int, set[int]] = {}  # audience-level exclusions
        for kind, group in (("department", needs.departments), ("topic", needs.topics)):
            for audience in group:
                self._add_audience(kind, audience, needs.defaults.threshold)
        self._compile_call_rules(needs)
        self._opinion = second_opinion_for(needs)
        self._single: dict[int, list[int]] = {}  # spec → single-word terms
        # A phrase place is (phrase term id, index of its word): the places a pattern or a
        # literal stop-word can fill.
        self._spec_places: dict[int, list[tuple[int, int]]] = {}
        self._literal_places: dict[str, list[tuple[int, int]]] = {}
        self._phrase_size: dict[int, int] = {}
        for term_id, term in enumerate(self._terms):
            if len(term.specs) == 1:
                self._single.setdefault(term.specs[0], []).append(term_id)  # type: ignore[arg-type]
                continue
            self._phrase_size[term_id] = len(term.specs)
            for index, spec in enumerate(term.specs):
                if isinstance(spec, str):
                    self._literal_places.setdefault(spec, []).append((term_id, index))
                else:
                    self._spec_places.setdefault(spec, []).append((term_id, index))
        self._automaton = ahocorasick.Automaton()
        keys: dict[str, list[int]] = {}
        for spec_id, spec in enumerate(self._specs):
            keys.setdefault(spec.key, []).append(spec_id)
        for key, ids in keys.items():
            self._automaton.add_word(key, tuple(ids))
        self._automaton.make_automaton()
        # per language (words are judged in the call's language)
        self._lexicons = {"sv": _Lexicon(), "en": _Lexicon()}
        self._starter_pairs = _starter_pairs()
        self._term_raws = [term.raw for term in self._terms]
        # For the bound in tags(): term → (need, audience, programmes, field → what the term
        # weighs there in the need: the field's weight x the need's)
        need_weights = [
            {f: round(w * need.weight, 4) for f, w in self.field_weights.items()}
            for need in self._needs
        ]
        self._term_need_refs: dict[
            int, tuple[tuple[int, int, frozenset[str], dict[str, float]], ...]
        ] = {
            term_id: tuple(
                (n, self._needs[n].audience, self._needs[n].programmes, need_weights[n])
                for n in sorted(ids)
            )
            for term_id, ids in self._term_needs.items()
        }
        # A need of all-groups only also scores terms that trigger nothing (later groups'),
        # so the score of its förvaltning/topic has no bound from the triggers (see tags).
        self._unbounded = frozenset(need.audience for need in self._needs if not need.any)
        order = sorted(range(len(FIELDS)), key=lambda i: (-self.field_weights[FIELDS[i]], i))
        self._field_rank = tuple((FIELDS[i], self.field_weights[FIELDS[i]]) for i in order)
        self._hit_rank = (*self._field_rank, ("regions", 0.0))  # regions: geography only

    # -- compile ------------------------------------------------------------------------

    def _spec(self, pattern: WordPattern) -> int:
        ident = (pattern.mode, pattern.text)
        if ident not in self._spec_ids:
            text, mode = pattern.text, pattern.mode
            sv, en = stems(text)
            text_cores = cores(text)
            spec = _Spec(mode, text, text_cores, sv, en, _key(mode, text, sv, en, text_cores))
            self._spec_ids[ident] = len(self._specs)
            self._specs.append(spec)
        return self._spec_ids[ident]

    def _term(self, raw: str) -> int:
        parsed: ParsedTerm = parse_term(raw)
        if parsed.raw not in self._term_ids:
            phrase = len(parsed.words) > 1
            specs = tuple(
                w.text if phrase and w.mode == "word" and w.text in STOP_WORDS else self._spec(w)
                for w in parsed.words
            )
            anchor = next((i for i, s in enumerate(specs) if isinstance(s, int)), None)
            if anchor is None:  # a phrase of stop-words only: match them as patterns
                specs = tuple(self._spec(w) for w in parsed.words)
                anchor = 0
            self._term_ids[parsed.raw] = len(self._terms)
            required = frozenset(x for x in specs if isinstance(x, int))
            self._terms.append(_Term(parsed.raw, specs, anchor, required))
        return self._term_ids[parsed.raw]

    def _add_audience(self, kind: str, audience: Audience, default_threshold: float) -> None:
        index = len(self._audiences)
        none = tuple(self._term(t) for t in audience.none)
        for term_id in none:
            self._term_audiences.setdefault(term_id, set()).add(index)
        need_ids = []
        for need in audience.needs:
            need_id = len(self._needs)
            compiled = _Need(
                audience=index,
                name=need.name,
                weight=need.weight,
                any=tuple(self._term(t) for t in need.any),
                all=tuple(tuple(self._term(t) for t in group) for group in need.all),
                none=tuple(self._term(t) for t in need.none),
                programmes=frozenset(need.programmes),
                applicants=frozenset(need.applicants),
            )
            # A need can only pass when one of its any-terms matched (or, without any-terms,
            # a term of its first group): only those terms make it worth judging.
            triggers = compiled.any or compiled.all[0]
            for term_id in triggers:
                self._term_needs.setdefault(term_id, set()).add(need_id)
            self._needs.append(compiled)
            need_ids.append(need_id)
        threshold = audience.threshold if audience.threshold is not None else default_threshold
        self._audiences.append(
            _Audience(audience.key, kind, audience.name, threshold, none, tuple(need_ids))
        )

    def _compile_call_rules(self, needs: NeedsFile) -> None:
        """Programme defaults, who may apply and geography: their terms join the automaton
        (compiled before it is built) and are found by the same scan as the needs'."""
        index_of = {a.key: i for i, a in enumerate(self._audiences)}
        self._defaults = [
            _Default(
                name=d.name,
                programmes=frozenset(d.programmes),
                funders=tuple(d.funders),
                any=tuple(self._term(t) for t in d.any),
                none=tuple(self._term(t) for t in d.none),
                audiences=tuple(index_of[k] for k in d.tags),
                score=d.score,
                applicants=frozenset(d.applicants),
                identifiers=tuple(p.upper() for p in d.identifiers),
            )
            for d in needs.programme_defaults
        ]
        self._audience_defaults: dict[int, list[int]] = {}
        # what can name a default: programme code, host, term (so that tags() looks only
        # at the defaults a call can have)
        self._defaults_by_programme: dict[str, list[int]] = {}
        self._defaults_by_term: dict[int, list[int]] = {}
        # defaults named by host or identifier: looked at for every call
        self._funded_defaults = [
            n for n, d in enumerate(self._defaults) if d.funders or d.identifiers
        ]
        for number, default in enumerate(self._defaults):
            for audience in default.audiences:
                self._audience_defaults.setdefault(audience, []).append(number)
            for code in default.programmes:
                self._defaults_by_programme.setdefault(code, []).append(number)
            for term_id in default.any:
                self._defaults_by_term.setdefault(term_id, []).append(number)
        self._default_terms = frozenset(self._defaults_by_term)
        applicants = needs.applicants
        self._municipal = tuple(self._term(t) for t in applicants.municipal)
        self._municipal_weight = applicants.municipal_weight
        self._restrictions = tuple(
            _Restriction(
                name=r.name,
                label=r.label,
                any=tuple(self._term(t) for t in r.any),
                kinds=frozenset(r.kinds),
                unless_municipal=r.unless_municipal,
                when_missing=r.when_missing,
                identifiers=tuple(p.upper() for p in r.identifiers),
                unless=tuple(self._term(t) for t in r.unless),
                hosts=tuple(r.hosts),
            )
            for r in applicants.only
        )
        geography = needs.geography
        self._home = tuple(self._term(t) for t in geography.home)
        self._national = tuple(self._term(t) for t in geography.national)
        self._other = tuple(
            self._term(t) for t in (*geography.other, *geography.other_municipalities)
        )
        self._geo_terms = frozenset((*self._home, *self._national, *self._other))
        self._home_set, self._other_set = frozenset(self._home), frozenset(self._other)

    # -- scanning -----------------------------------------------------------------------

    def _word_specs(self, word: str, lang: str) -> frozenset[int]:
        candidates: set[int] = set()
        for _end, ids in self._automaton.iter(word):
            candidates.update(ids)
        if not candidates:
            return frozenset()
        wsv, wen = stems(word)
        specs = self._specs
        return frozenset(i for i in candidates if _satisfied(specs[i], word, wsv, wen, lang))

    def _learn(self, word: str, lexicon: _Lexicon, lang: str) -> str:
        """Judge a word once per language: the single-word terms it fits and its places
        in phrases (automaton candidates, then stems, endings and compounds); give it a
        character if it has either."""
        found = self._word_specs(word, lang)
        singles: dict[int, str] = {}
        places: set[tuple[int, int]] = set(self._literal_places.get(word, ()))
        for spec in sorted(found):
            for term_id in self._single.get(spec, ()):
                singles[term_id] = word
            places.update(self._spec_places.get(spec, ()))
        if not singles and not places:
            return _NOTHING
        kind = 0 if any(index == 0 for _t, index in places) else 1
        pool = _OTHER_CHARS if kind else _STARTER_CHARS
        char = chr(pool[lexicon.counts[kind]])  # _scan made sure there is room
        lexicon.counts[kind] += 1
        lexicon.singles[char] = tuple(singles.items())
        if places:
            lexicon.places[char] = frozenset(places)
        return char

    def _pair(self, lexicon: _Lexicon, pair: str) -> tuple[tuple[int, bool], ...]:
        """The phrases whose first two words the two words of ``pair`` can be."""
        second = lexicon.places.get(pair[1], frozenset())
        size = self._phrase_size
        return tuple(
            (t, size[t] == 2)
            for t, index in sorted(lexicon.places[pair[0]])
            if index == 0 and (t, 1) in second
        )

    def _scan(self, toks: list[str], lang: str) -> dict[int, str]:
        """Matched single-word terms and phrases of one field: term id → matched text.

        Everything per token runs in C (map, str.join, dict.fromkeys, one regular
        expression): the tokens become one string with a character per token, their
        word's (see _Lexicon). The distinct characters give the single-word terms; where a
        word that can start a phrase is followed by another, the pair of characters says
        which phrases can start there (cached per pair); only those places are looked at
        in Python."""
        lexicon = self._lexicons[lang]
        try:
            chars = "".join(map(lexicon.chars.__getitem__, toks))
        except KeyError:  # words not judged yet
            new = list(filterfalse(lexicon.chars.__contains__, dict.fromkeys(toks)))
            if (
                len(lexicon.chars) > _CACHE_LIMIT
                or lexicon.counts[0] + len(new) > len(_STARTER_CHARS)
                or lexicon.counts[1] + len(new) > len(_OTHER_CHARS)
            ):  # start afresh (bounded memory)
                lexicon = self._lexicons[lang] = _Lexicon()
                new = list(dict.fromkeys(toks))
            for word in new:
                lexicon.chars[word] = self._learn(word, lexicon, lang)
            chars = "".join(map(lexicon.chars.__getitem__, toks))
        # First-occurrence order, so that a term fitted by several words reports the first
        # one in the text (the earliest word is applied last here).
        matched = chars.replace(_NOTHING, "")
        if not matched:
            return {}
        out: dict[int, str] = dict(
            chain.from_iterable(map(lexicon.singles.__getitem__, reversed(dict.fromkeys(matched))))
        )
        pairs = lexicon.pairs
        distinct = dict.fromkeys(self._starter_pairs.findall(chars))
        new_pairs = list(filterfalse(pairs.__contains__, distinct))
        if new_pairs:
            if len(pairs) > _CACHE_LIMIT:
                pairs.clear()
            for pair in new_pairs:
                pairs[pair] = self._pair(lexicon, pair)
        linked = list(filter(pairs.__getitem__, distinct))
        if linked:
            self._place_phrases(toks, chars, linked, lexicon, out)
        return out

    def _place_phrases(
        self, toks: list[str], chars: str, linked: list[str], lexicon: _Lexicon, out: dict[int, str]
    ) -> None:
        """Add the phrases that start at the places of ``linked`` (pairs of characters),
        each at the place where it was found first by its anchor: the anchor word (its
        first pattern word) that occurs first in the field, then that word's earliest
        place."""
        places: dict[int, list[int]] = {}
        word_places = lexicon.places
        size = len(chars)
        for pair in linked:
            phrases = lexicon.pairs[pair]
            at = chars.find(pair)
            while at >= 0:
                for term_id, whole in phrases:
                    if not whole:
                        length = self._phrase_size[term_id]
                        if at + length > size or any(
                            (term_id, index) not in word_places.get(chars[at + index], ())
                            for index in range(2, length)
                        ):
                            continue
                    places.setdefault(term_id, []).append(at)
                at = chars.find(pair, at + 1)
        terms = self._terms
        for term_id, starts in places.items():
            term = terms[term_id]
            start = starts[0]
            if len(starts) > 1:
                anchor = term.anchor
                start = min(starts, key=lambda s: (toks.index(toks[s + anchor]), s))
            out[term_id] = " ".join(toks[start : start + len(term.specs)])

    def _scan_fields(
        self, call: Any
    ) -> tuple[str, dict[str, str], list[tuple[str, dict[int, str]]]]:
        """(language, fields, [(field, term id → matched text)] in FIELDS order)."""
        fields = call_fields(call)
        normal = {f: scan_text(text) for f, text in fields.items() if text}
        lang = language_code(_get(call, "language"))
        if lang is None:
            words: set[str] = set()
            for toks in normal.values():
                words.update(toks)
            sample = fields["title"] + " " + fields["summary"] + " " + fields["description"][:500]
            lang = detect_language(words, normalise(sample))
        return lang, fields, [(name, self._scan(toks, lang)) for name, toks in normal.items()]

    def scan_call(self, call: Any) -> tuple[str, dict[str, str], dict[int, dict[str, str]]]:
        """(language, fields, term id → {field: matched text})."""
        lang, fields, found = self._scan_fields(call)
        hits: dict[int, dict[str, str]] = {}
        for name, out in found:
            for term_id, text in out.items():
                hits.setdefault(term_id, {})[name] = text
        return lang, fields, hits

    # -- judging ------------------------------------------------------------------------

    def _hit(self, term_id: int, fields_hit: dict[str, str], need_weight: float = 1.0) -> Hit:
        for name, weight in self._hit_rank:  # the heaviest field; on a tie the earlier one
            if name in fields_hit:
                return Hit(
                    self._terms[term_id].raw,
                    name,
                    fields_hit[name],
                    round(weight * need_weight, 4),
                )
        raise KeyError("no field")  # pragma: no cover - hits always name a field

    def _first(
        self, term_ids: Iterable[int], hits: dict[int, dict[str, str]], fields: Iterable[str] = ()
    ) -> Hit | None:
        """The first of ``term_ids`` found (only in ``fields`` when given), at weight 0."""
        wanted = tuple(fields)
        for term_id in term_ids:
            found = hits.get(term_id)
            if found is None:
                continue
            if wanted:
                found = {f: t for f, t in found.items() if f in wanted}
                if not found:
                    continue
            return self._hit(term_id, found, 0.0)
        return None

    def _outside_other(
        self, hits: dict[int, dict[str, str]], head: tuple[str, ...]
    ) -> dict[int, dict[str, str]]:
        """``hits`` without the home places that are only part of another region's name in
        the same field ("Skaraborg" in "Leader Östra Skaraborg", when "Östra Skaraborg" is
        an other place): the longer name says where."""
        others: dict[str, list[str]] = {}
        for term_id in self._other_set.intersection(hits):
            for name, text in hits[term_id].items():
                if name in head and " " in text:
                    others.setdefault(name, []).append(f" {text} ")
        if not others:
            return hits
        kept = dict(hits)
        for term_id in self._home_set.intersection(hits):
            found = hits[term_id]
            rest = {
                f: t for f, t in found.items() if not any(f" {t} " in o for o in others.get(f, ()))
            }
            if rest:
                kept[term_id] = rest
            else:
                del kept[term_id]
        return kept

    def _call_context(
        self, call: Any, hits: dict[int, dict[str, str]], programme: str | None
    ) -> CallContext:
        """Who may apply and where, judged once per call (see needs.yaml `applicants` and
        `geography`)."""
        municipal = self._first(self._municipal, hits)
        restriction = lifted = None
        kind = _get(call, "kind") or "call"
        url = _get(call, "url")
        host = (urlsplit(url).hostname or "") if isinstance(url, str) else ""
        identifier = str(_get(call, "identifier") or "").strip().upper()
        # municipalities named in the title lift a restriction the title names too
        # ("Kommuner och myndigheter kan söka ...")
        municipal_in_title = municipal is not None and (
            self._first(self._municipal, hits, ("title",)) is not None
        )
        for r in self._restrictions:
            if r.kinds and kind not in r.kinds:
                continue
            if r.unless:
                lifting = self._first(r.unless, hits)
                if lifting is not None:
                    if lifted is None and self._first(r.any, hits) is not None:
                        lifted = Restriction(r.name, r.label, lifting)
                    continue
            own = next((site for site in r.hosts if _on_site(host, site)), None)
            if own is not None:
                restriction = Restriction(r.name, r.label, Hit(own, "url", host, 0.0))
                break
            pattern = next((p for p in r.identifiers if identifier_fits(p, identifier)), None)
            if pattern is not None and not (r.unless_municipal and municipal is not None):
                hit = Hit(pattern, "identifier", identifier, 0.0)
                restriction = Restriction(r.name, r.label, hit)
                break
            if r.when_missing:
                if self._first(r.any, hits) is None:
                    missing = Hit(", ".join(self._terms[t].raw for t in r.any[:4]), "", "", 0.0)
                    restriction = Restriction(r.name, r.label, missing)
                    break
                continue
            if r.unless_municipal and municipal is not None:
                # municipalities named lift it, unless only the title names the restriction
                # ("Nu kan myndigheter och frivilligorganisationer söka ...")
                if municipal_in_title:
                    continue
                found = self._first(r.any, hits, ("title",))
            else:
                found = self._first(r.any, hits)
            if found is not None:
                restriction = Restriction(r.name, r.label, found)
                break
        # Another region counts where a call says where it applies (its regions, title,
        # keywords, summary); there only a home or national place there outweighs it.
        head = ("regions", *_HEAD_FIELDS)
        other = self._first(self._other, hits, head)
        fields = head if other is not None else ()
        home = self._first(self._home, self._outside_other(hits, head), fields)
        national = self._first(self._national, hits, fields)
        if home is not None:
            geography = Geography("home", home.term, home)
        elif national is not None:
            geography = Geography("national", national.term, national)
        elif other is not None:
            geography = Geography("other", other.term, other)
        elif programme is not None and programme in EU_PROGRAMMES:
            geography = Geography("eu", f"{EU_WIDE} ({programme})", None)
        else:
            geography = Geography("unknown", None, None)
        return CallContext(
            programme,
            host,
            municipal,
            self._municipal_weight if municipal is not None else 1.0,
            restriction,
            geography,
            identifier,
            lifted,
        )

    def _judge_need(
        self, need: _Need, hits: dict[int, dict[str, str]], context: CallContext
    ) -> NeedResult:
        programme = context.programme
        result = NeedResult(need.name, need.weight, passed=True, programmes=sorted(need.programmes))
        if need.programmes and programme not in need.programmes:
            result.passed = False
            result.programme_ok = False
        restriction = context.restriction
        if restriction is not None and restriction.name not in need.applicants:
            result.passed = False
            result.restricted = True
        result.excluded_by = [self._hit(t, hits[t]) for t in need.none if t in hits]
        if result.excluded_by:
            result.passed = False
        matched = [t for t in need.any if t in hits]
        if need.any and not matched:
            result.passed = False
            result.missing_any = True
        for group in need.all:
            group_hits = [t for t in group if t in hits]
            if group_hits:
                best = max(group_hits, key=lambda t: self._hit(t, hits[t]).weight)
                if need.any:
                    # beside any-terms a group is a condition: it adds nothing to the score
                    result.conditions.append(self._hit(best, hits[best]))
                else:
                    matched.append(best)  # a need of groups only scores each group's best
            else:
                result.passed = False
                result.missing_groups.append([self._terms[t].raw for t in group])
        seen: set[int] = set()
        for term_id in matched:
            if term_id not in seen:
                seen.add(term_id)
                result.hits.append(self._hit(term_id, hits[term_id], need.weight))
        return result

    def _default_trigger(
        self, default: _Default, hits: dict[int, dict[str, str]], context: CallContext
    ) -> Hit | None:
        """What names the programme or funder in the call: its code, its host, a term."""
        if context.programme is not None and context.programme in default.programmes:
            return Hit(context.programme, "programme", context.programme, default.score)
        host = context.host
        for funder in default.funders:
            if _on_site(host, funder):
                return Hit(funder, "url", host, default.score)
        if context.identifier:
            for pattern in default.identifiers:
                if identifier_fits(pattern, context.identifier):
                    return Hit(pattern, "identifier", context.identifier, default.score)
        found = self._first(default.any, hits)
        if found is not None:
            return Hit(found.term, found.field, found.match, default.score)
        return None

    def _judge_default(
        self, default: _Default, hits: dict[int, dict[str, str]], context: CallContext
    ) -> DefaultResult:
        trigger = self._default_trigger(default, hits, context)
        result = DefaultResult(
            default.name, trigger.weight if trigger is not None else default.score, trigger
        )
        result.excluded_by = [self._hit(t, hits[t]) for t in default.none if t in hits]
        restriction = context.restriction
        result.restricted = restriction is not None and restriction.name not in default.applicants
        return result

    def _judge_audience(
        self,
        index: int,
        need_ids: Iterable[int],
        hits: dict[int, dict[str, str]],
        context: CallContext,
        fields: dict[str, str],
        snippets: dict[tuple[str, str], str],
        opinion: Opinion | None = None,
    ) -> AudienceResult:
        audience = self._audiences[index]
        excluded = [self._hit(t, hits[t]) for t in audience.none if t in hits]
        needs = [self._judge_need(self._needs[n], hits, context) for n in need_ids]
        defaults = [
            self._judge_default(self._defaults[d], hits, context)
            for d in self._audience_defaults.get(index, ())
        ]
        # The same words of the call count once per förvaltning/topic, however many
        # terms (or needs) found them: at their best weight.
        best: dict[str, tuple[Hit, str]] = {}
        for need in needs:
            if not need.passed:
                continue
            for hit in need.hits:
                if hit.match not in best or hit.weight > best[hit.match][0].weight:
                    best[hit.match] = (hit, need.name)
        passed_defaults = [d for d in defaults if d.passed]
        raw = sum(h.weight for h, _ in best.values()) + sum(d.score for d in passed_defaults)
        score = round(raw * context.multiplier, 4)
        blocked = context.geography.status == "other"
        result = AudienceResult(
            audience.key,
            audience.kind,
            audience.name,
            score,
            audience.threshold,
            excluded,
            needs,
            [],
            defaults=defaults,
            multiplier=context.multiplier,
            blocked=blocked,
            opinion=opinion,
        )
        if opinion is not None:
            if result.rules_tagged:
                result.vetoed = opinion.vetoes
            elif not excluded and not blocked and context.restriction is None:
                # never where the rules exclude the call outright (a none term, another
                # region, a call closed to municipalities)
                result.added = opinion.adds
        if result.rules_tagged:
            # a vetoed tag keeps the rules' reasons for explain (it is not a tag)
            result.reasons = self._reasons(best, passed_defaults, context, fields, snippets)
        elif result.added:
            assert opinion is not None
            reasons = self._reasons({}, [], context, fields, snippets)
            result.reasons = [added_reason(opinion), *reasons]
        return result

    def _reasons(
        self,
        best: dict[str, tuple[Hit, str]],
        defaults: list[DefaultResult],
        context: CallContext,
        fields: dict[str, str],
        snippets: dict[tuple[str, str], str],
    ) -> list[dict[str, Any]]:
        """A tag's reasons (Tag.reasons): the heaviest matched terms and programme
        defaults, then who may apply and where, when the call says so."""
        items = [(hit, need_name) for hit, need_name in best.values()]
        items += [(d.trigger, f"{DEFAULT_REASON}: {d.name}") for d in defaults if d.trigger]
        items.sort(key=lambda item: (-item[0].weight, item[0].term))
        reasons = [self._reason(hit, need, fields, snippets) for hit, need in items[:MAX_REASONS]]
        # Who may apply and where hold for the whole call: no term of a need (term None,
        # so that digests list only the needs' terms), the place in match and snippet.
        if context.municipal is not None:
            reasons.append(
                self._reason(context.municipal, APPLICANT_REASON, fields, snippets, whole_call=True)
            )
        place = context.geography
        if place.status != "unknown" and place.hit is not None:
            reasons.append(
                self._reason(place.hit, GEOGRAPHY_REASON, fields, snippets, whole_call=True)
            )
        elif place.status == "eu":
            reasons.append(
                {
                    "need": GEOGRAPHY_REASON,
                    "term": None,
                    "field": "programme",
                    "match": EU_WIDE,
                    "snippet": place.place,
                    "weight": 0.0,
                }
            )
        return reasons

    @staticmethod
    def _reason(
        hit: Hit,
        need: str,
        fields: dict[str, str],
        snippets: dict[tuple[str, str], str],
        *,
        whole_call: bool = False,
    ) -> dict[str, Any]:
        """A reason for a hit; ``whole_call``: who may apply or where (no need's term).
        ``snippets``: the call's snippets made so far (by field and match)."""
        place = (hit.field, hit.match)
        text = snippets.get(place)
        if text is None:
            field_text = fields.get(hit.field)
            text = snippet_in(field_text, hit.match) if field_text else hit.match
            snippets[place] = text
        return {
            "need": need,
            "term": None if whole_call else hit.term,
            "field": hit.field,
            "match": hit.match,
            "snippet": text,
            "weight": hit.weight,
        }

    def _bounded(
        self, hits: dict[int, dict[str, str]], context: CallContext
    ) -> dict[int, list[int]]:
        """The förvaltningar/topics worth judging for tags, with the needs the found terms
        trigger: those whose triggered terms and programme defaults could reach the
        threshold if every one counted (weights are positive). The judging itself is
        _judge_audience's, as for `bevaka explain`."""
        touched: dict[int, list[int]] = {}
        bound: dict[int, float] = {}
        term_needs = self._term_need_refs
        programme = context.programme
        field_rank = self._field_rank
        for term_id, fields_hit in hits.items():
            refs = term_needs.get(term_id)
            if refs is None:
                continue
            name = next(f for f, _w in field_rank if f in fields_hit)
            for need_id, audience, programmes, weights in refs:
                if programmes and programme not in programmes:
                    continue
                touched.setdefault(audience, []).append(need_id)
                bound[audience] = bound.get(audience, 0.0) + weights[name]
        candidates = set(self._defaults_by_programme.get(programme or "", ()))
        candidates.update(self._funded_defaults)
        for term_id in self._default_terms.intersection(hits):
            candidates.update(self._defaults_by_term[term_id])
        for number in sorted(candidates):
            default = self._defaults[number]
            if self._default_trigger(default, hits, context) is not None:
                for audience in default.audiences:
                    touched.setdefault(audience, [])
                    bound[audience] = bound.get(audience, 0.0) + default.score
        audiences = self._audiences
        multiplier = context.multiplier
        return {
            index: sorted(set(need_ids))
            for index, need_ids in touched.items()
            if index in self._unbounded
            or bound[index] * multiplier >= audiences[index].threshold - 1e-9
        }

    def tags(self, call: Any) -> list[TagResult]:
        """The tags of one call: ``evaluate(call).tags``, judging only the
        förvaltningar/topics that can reach their threshold (see _bounded)."""
        return self._evaluate(call, full=False).tags

    def evaluate(self, call: Any, *, full: bool = True) -> Evaluation:
        """Judge every förvaltning/topic and every need (``full``), or only those that can
        be tagged (what tags() does): the same judgement either way."""
        return self._evaluate(call, full=full)

    def _region_hits(
        self, call: Any, lang: str, fields: dict[str, str], hits: dict[int, dict[str, str]]
    ) -> dict[int, dict[str, str]]:
        """``hits`` with the geography terms found in the call's regions (field "regions",
        which only geography reads)."""
        regions = _get(call, "regions") or []
        if isinstance(regions, str):
            regions = [regions]
        if not regions or not self._geo_terms:
            return hits
        text = fields["regions"] = " ; ".join(str(r) for r in regions)
        found = self._scan(scan_text(text), lang)
        merged = dict(hits)
        for term_id, match in found.items():
            if term_id in self._geo_terms:
                merged[term_id] = {**hits.get(term_id, {}), "regions": match}
        return merged

    def _evaluate(self, call: Any, *, full: bool) -> Evaluation:
        lang, fields, hits = self.scan_call(call)
        placed = self._region_hits(call, lang, fields, hits)
        context = self._call_context(call, placed, call_programme(call))
        if full:
            touched = {i: list(a.needs) for i, a in enumerate(self._audiences)}
        elif not hits and not self._defaults:
            touched = {}
        else:
            touched = self._bounded(hits, context)
        opinions = self._opinion.judge(call) if self._opinion is not None else {}
        if not full and opinions and self._opinion is not None and self._opinion.may_add:
            # the förvaltningar the second opinion may add are judged in full
            for index, audience in enumerate(self._audiences):
                found = opinions.get(audience.key)
                if index not in touched and found is not None and found.adds:
                    touched[index] = list(audience.needs)
        snippets: dict[tuple[str, str], str] = {}
        results = [
            self._judge_audience(
                index,
                need_ids,
                hits,
                context,
                fields,
                snippets,
                opinions.get(self._audiences[index].key)
                if self._audiences[index].kind == "department"
                else None,
            )
            for index, need_ids in sorted(touched.items())
        ]
        return Evaluation(lang, context.programme, results, context)

    @property
    def second_opinion(self) -> SecondOpinion | None:
        return self._opinion

    def with_second_opinion(self, needs: NeedsFile) -> CompiledNeeds:
        """These compiled rules with the second opinion of ``needs`` (the same rules,
        another ``second_opinion`` block or model): no recompiling (``bevaka model cv``)."""
        if needs.model_dump(exclude={"second_opinion"}) != self.needs.model_dump(
            exclude={"second_opinion"}
        ):
            raise ValueError("with_second_opinion: the rules differ; compile them instead")
        other = copy.copy(self)
        other.needs = needs
        other.rules_hash = rules_hash(needs)
        other._opinion = second_opinion_for(needs)
        return other


def second_opinion_for(needs: NeedsFile) -> SecondOpinion | None:
    """The second opinion of needs.yaml, or None when its mode is off."""
    settings = needs.second_opinion
    if settings.mode == "off":
        return None
    model = needs.second_opinion_model
    if model is None:
        raise ValueError(
            f"second_opinion.mode is {settings.mode} but no model is loaded "
            "(config.loader.with_second_opinion loads it)"
        )
    return SecondOpinion(
        model, settings.mode, settings.veto_below, settings.add_above, settings.words
    )


def rules_hash(needs: NeedsFile) -> str:
    """A stable hash of the rules (and the engine version): a change re-tags every call.
    The second opinion counts only when it is on: its block and its model file's hash."""
    data: dict[str, Any] = {
        "engine": ENGINE_VERSION,
        "needs": needs.model_dump(mode="json", exclude={"second_opinion"}),
    }
    if needs.second_opinion.mode != "off":
        model = needs.second_opinion_model
        data["second_opinion"] = needs.second_opinion.model_dump(mode="json")
        data["model"] = getattr(model, "digest", None) or getattr(model, "training_hash", None)
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def compile_needs(needs: NeedsFile) -> CompiledNeeds:
    """Compile needs.yaml once (terms → patterns → one automaton)."""
    return CompiledNeeds(needs)


def match_call(compiled: CompiledNeeds, call: Any) -> list[TagResult]:
    """The tags of one call (an object or a mapping with title, summary, description,
    keywords, programme, identifier, language). Pure: no I/O."""
    return compiled.tags(call)


def match_text(
    compiled: CompiledNeeds,
    text: str,
    *,
    title: str = "",
    language: str | None = None,
    programme: str | None = None,
) -> list[TagResult]:
    """The tags of a plain text (matched as a description, with an optional title)."""
    return match_call(
        compiled,
        {"title": title, "description": text, "language": language, "programme": programme},
    )


def evaluate(compiled: CompiledNeeds, call: Any) -> Evaluation:
    """Everything about one call: every förvaltning/topic, every need, hits and misses."""
    return compiled.evaluate(call, full=True)
