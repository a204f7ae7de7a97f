"""Compiled needs and the pure matcher: no I/O, no database, no Scrapy.

``compile_needs(needs)`` turns config/needs.yaml into a :class:`CompiledNeeds` once:
every term is parsed into word patterns, every distinct pattern gets an id, and one
Aho-Corasick automaton holds a short key per pattern. Matching a call then

1. normalises each field (NFKC, case fold, no zero-width characters) and splits it into
   tokens (one C-level regex call per field);
2. looks at each *distinct* word only once per compiled ruleset: a word seen before is a
   set lookup; a new word runs through the automaton and its candidate patterns are
   verified (stems, Swedish endings, compounds) — the result is cached;
3. turns matched patterns into matched terms (phrases check token order), and scores
   only the needs those terms touch.

``match_call(compiled, call)`` returns the tags; ``evaluate(compiled, call)`` returns the
full judgement of every förvaltning/topic and need (used by ``bevaka explain``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain, filterfalse, repeat
from operator import attrgetter
from typing import Any

import ahocorasick

from config.programmes import programme_from_identifier
from config.schema import Audience, NeedsFile
from matching.terms import ParsedTerm, WordPattern, parse_term
from matching.text import (
    STOP_WORDS,
    cores,
    detect_language,
    ends_with_inflected,
    flatten,
    inflects,
    language_code,
    normalise,
    scan_tokens,
    snippet,
    starts_compound,
    stems,
)

# Bump when matching behaviour changes, so stored tags are recomputed (it is in rules_hash).
ENGINE_VERSION = "1"

FIELDS = ("title", "keywords", "summary", "description")
MAX_REASONS = 12
COMPOUND_MIN_HEAD = 3  # letters before/after a term inside a Swedish compound
_CACHE_LIMIT = 400_000  # distinct words remembered per language before the cache restarts
_RUN_LIMIT = 200_000  # distinct runs of marks remembered (see CompiledNeeds._scan)


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

    @property
    def score(self) -> float:
        return sum(h.weight for h in self.hits) if self.passed else 0.0

    @property
    def partial_score(self) -> float:
        """What the matched terms would weigh if the need passed (for 'closest needs')."""
        return sum(h.weight for h in self.hits)


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

    @property
    def tagged(self) -> bool:
        return not self.excluded_by and self.score >= self.threshold


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


@dataclass(frozen=True)
class _Audience:
    key: str
    kind: str
    name: str
    threshold: float
    none: tuple[int, ...]
    needs: tuple[int, ...]


class _Entry:
    """What one known word means to a ruleset in one language (see _learn)."""

    __slots__ = ("word", "singles", "mark")

    def __init__(self, word: str, singles: tuple[tuple[int, str], ...], mark: str) -> None:
        self.word = word
        self.singles = singles  # (single-word term id, this word) for every term it fits
        self.mark = mark  # one character: its places in phrases (_NO_MARK: none)


_UNKNOWN = _Entry("", (), " ")  # the lexicon's answer for a word not judged yet
_NO_MARK = " "  # a token that can be no part of a phrase (a break, an unmatched word)
_MARK_BASE = 0xE000  # marks are private-use characters: never whitespace
_get_mark = attrgetter("mark")
_get_singles = attrgetter("singles")


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
        return str(programme)
    found = programme_from_identifier(_get(call, "identifier"))
    return found.code if found else None


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
        # word → _Entry, per language (words are judged in the call's language)
        self._lexicons: dict[str, dict[str, _Entry]] = {"sv": {}, "en": {}}
        # A mark stands for one set of phrase places; words with the same places share it.
        self._marks: dict[frozenset[tuple[int, int]], str] = {}
        self._mark_places: dict[str, frozenset[tuple[int, int]]] = {}
        self._mark_starts: dict[str, tuple[int, ...]] = {}  # mark → phrases it can start
        # a run of marks (tokens next to each other that all have places) → the phrases in
        # it: (phrase term id, offset of its first token in the run, number of tokens)
        self._runs: dict[str, tuple[tuple[int, int, int], ...]] = {}
        self._links: dict[str, bool] = {}  # two marks → can they be neighbours in a phrase
        self._term_raws = [term.raw for term in self._terms]
        # For match_call: term → (need, audience, programmes) it triggers; need → its rules
        self._term_need_refs: dict[int, tuple[tuple[int, int, frozenset[str]], ...]] = {
            term_id: tuple(
                (n, self._needs[n].audience, self._needs[n].programmes) for n in sorted(ids)
            )
            for term_id, ids in self._term_needs.items()
        }
        self._need_rules = [
            (need.none, need.any, need.all, need.weight, need.name) for need in self._needs
        ]
        order = sorted(range(len(FIELDS)), key=lambda i: (-self.field_weights[FIELDS[i]], i))
        self._field_rank = tuple((FIELDS[i], self.field_weights[FIELDS[i]]) for i in order)

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

    @property
    def pattern_count(self) -> int:
        return len(self._specs)

    @property
    def term_count(self) -> int:
        return len(self._terms)

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

    def _mark(self, places: frozenset[tuple[int, int]]) -> str:
        mark = self._marks.get(places)
        if mark is None:
            number = _MARK_BASE + len(self._marks)
            if number >= 0xF900:  # past the private-use area of the first plane
                number += 0xF0000 - 0xF900
            mark = self._marks[places] = chr(number)
            self._mark_places[mark] = places
            self._mark_starts[mark] = tuple(sorted({t for t, index in places if index == 0}))
            self._runs[mark] = ()  # a single token is never a phrase
        return mark

    def _learn(self, word: str, lang: str) -> _Entry:
        """Judge a word once per language: the single-word terms it fits and its places
        in phrases (automaton candidates, then stems, endings and compounds)."""
        found = self._word_specs(word, lang)
        singles: dict[int, str] = {}
        places: set[tuple[int, int]] = set(self._literal_places.get(word, ()))
        for spec in sorted(found):
            for term_id in self._single.get(spec, ()):
                singles[term_id] = word
            places.update(self._spec_places.get(spec, ()))
        mark = self._mark(frozenset(places)) if places else _NO_MARK
        return _Entry(word, tuple(singles.items()), mark)

    def _link(self, pair: str) -> bool:
        """Whether the second mark of a pair can follow the first inside some phrase."""
        places = self._mark_places[pair[1]]
        return any((t, i + 1) in places for t, i in self._mark_places[pair[0]])

    def _run_phrases(self, run: str) -> tuple[tuple[int, int, int], ...]:
        """Every phrase inside a run of marks (a run is cached, so this runs once each)."""
        links = self._links
        size = len(run)
        linked = False
        for offset in range(size - 1):
            pair = run[offset : offset + 2]
            link = links.get(pair)
            if link is None:
                link = links[pair] = self._link(pair)
            if link:
                linked = True
                break
        if not linked:
            return ()
        found: list[tuple[int, int, int]] = []
        places = self._mark_places
        for offset, mark in enumerate(run):
            for term_id in self._mark_starts[mark]:
                length = self._phrase_size[term_id]
                if offset + length > size:
                    continue
                for index in range(1, length):
                    if (term_id, index) not in places[run[offset + index]]:
                        break
                else:
                    found.append((term_id, offset, length))
        return tuple(found)

    def _scan(self, toks: list[str], lang: str) -> dict[int, str]:
        """Matched single-word terms and phrases of one field: term id → matched text.

        Everything per token runs in C (map, dict.fromkeys, str.join, str.split): each token
        becomes its word's entry; each entry gives its single-word terms and a mark, one
        character for its places in phrases; the marks of consecutive tokens form runs, and
        each distinct run is searched for phrases once per ruleset."""
        lexicon = self._lexicons[lang]
        if len(lexicon) > _CACHE_LIMIT:  # start afresh (bounded memory)
            lexicon.clear()
        entries = list(map(lexicon.get, toks, repeat(_UNKNOWN)))
        if _UNKNOWN in entries:
            for word in list(filterfalse(lexicon.__contains__, dict.fromkeys(toks))):
                lexicon[word] = self._learn(word, lang)
            entries = list(map(lexicon.__getitem__, toks))
        # First-occurrence order, so that a term fitted by several words reports the first
        # one in the text (the earliest word is applied last here).
        out: dict[int, str] = dict(
            chain.from_iterable(map(_get_singles, reversed(dict.fromkeys(entries))))
        )
        marks = "".join(map(_get_mark, entries))
        if marks.isspace():
            return out
        runs = self._runs
        if len(runs) > _RUN_LIMIT:
            runs.clear()
            for mark in self._mark_places:
                runs[mark] = ()
        distinct = dict.fromkeys(marks.split())
        for run in list(filterfalse(runs.__contains__, distinct)):
            runs[run] = self._run_phrases(run)
        with_phrases = list(filter(runs.__getitem__, distinct))
        if with_phrases:
            self._place_phrases(toks, marks, with_phrases, out)
        return out

    def _place_phrases(
        self, toks: list[str], marks: str, with_phrases: list[str], out: dict[int, str]
    ) -> None:
        """Add the phrases found in runs, each at the place where it was found first by its
        anchor: the anchor word (its first pattern word) that occurs first in the field,
        then that word's earliest place."""
        places: dict[int, list[int]] = {}
        padded = " " + marks + " "
        for run in with_phrases:
            needle = " " + run + " "
            at = padded.find(needle)
            while at >= 0:
                for term_id, offset, _length in self._runs[run]:
                    places.setdefault(term_id, []).append(at + offset)
                at = padded.find(needle, at + len(run) + 1)
        terms = self._terms
        for term_id, starts in places.items():
            term = terms[term_id]
            start = starts[0]
            if len(starts) > 1:
                anchor = term.anchor
                start = min(starts, key=lambda s: (toks.index(toks[s + anchor]), s))
            out[term_id] = " ".join(toks[start : start + len(term.specs)])

    def scan_call(self, call: Any) -> tuple[str, dict[str, str], dict[int, dict[str, str]]]:
        """(language, fields, term id → {field: matched text})."""
        fields = call_fields(call)
        normal = {f: scan_tokens(normalise(text)) for f, text in fields.items() if text}
        lang = language_code(_get(call, "language"))
        if lang is None:
            words: set[str] = set()
            for toks in normal.values():
                words.update(toks)
            sample = fields["title"] + " " + fields["summary"] + " " + fields["description"][:500]
            lang = detect_language(words, normalise(sample))
        hits: dict[int, dict[str, str]] = {}
        for name, toks in normal.items():
            for term_id, text in self._scan(toks, lang).items():
                hits.setdefault(term_id, {})[name] = text
        return lang, fields, hits

    # -- judging ------------------------------------------------------------------------

    def _hit(self, term_id: int, fields_hit: dict[str, str], need_weight: float = 1.0) -> Hit:
        weights = self.field_weights
        best = FIELDS[0]
        best_weight = -1.0
        for name in FIELDS:  # the heaviest field; on a tie the earlier one
            if name in fields_hit and weights[name] > best_weight:
                best, best_weight = name, weights[name]
        return Hit(
            self._terms[term_id].raw,
            best,
            fields_hit[best],
            round(best_weight * need_weight, 4),
        )

    def _judge_need(
        self, need: _Need, hits: dict[int, dict[str, str]], programme: str | None
    ) -> NeedResult:
        result = NeedResult(need.name, need.weight, passed=True, programmes=sorted(need.programmes))
        if need.programmes and programme not in need.programmes:
            result.passed = False
            result.programme_ok = False
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

    def _judge_audience(
        self,
        index: int,
        need_ids: Iterable[int],
        hits: dict[int, dict[str, str]],
        programme: str | None,
        fields: dict[str, str],
        with_reasons: bool,
    ) -> AudienceResult:
        audience = self._audiences[index]
        excluded = [self._hit(t, hits[t]) for t in audience.none if t in hits]
        needs = [self._judge_need(self._needs[n], hits, programme) for n in need_ids]
        # The same words of the call count once per förvaltning/topic, however many
        # terms (or needs) found them: at their best weight.
        best: dict[str, tuple[Hit, str]] = {}
        for need in needs:
            if not need.passed:
                continue
            for hit in need.hits:
                if hit.match not in best or hit.weight > best[hit.match][0].weight:
                    best[hit.match] = (hit, need.name)
        score = round(sum(h.weight for h, _ in best.values()), 4)
        result = AudienceResult(
            audience.key,
            audience.kind,
            audience.name,
            score,
            audience.threshold,
            excluded,
            needs,
            [],
        )
        if with_reasons and result.tagged:
            flat: dict[str, str] = {}
            for hit, _need in best.values():
                if hit.field not in flat:
                    flat[hit.field] = flatten(fields[hit.field])
            ordered = sorted(best.values(), key=lambda item: (-item[0].weight, item[0].term))
            result.reasons = [
                {
                    "need": need_name,
                    "term": hit.term,
                    "field": hit.field,
                    "match": hit.match,
                    "snippet": snippet(flat[hit.field], hit.match, flat=True),
                    "weight": hit.weight,
                }
                for hit, need_name in ordered[:MAX_REASONS]
            ]
        return result

    def _best_field(self, fields_hit: dict[str, str]) -> tuple[str, float]:
        """The heaviest field a term was found in (on a tie the earlier one), as in _hit."""
        for name, weight in self._field_rank:
            if name in fields_hit:
                return name, weight
        raise KeyError("no field")  # pragma: no cover - hits always name a field

    def tags(self, call: Any) -> list[TagResult]:
        """The tags of one call: the same result as ``evaluate(call, full=False).tags``,
        without building the judgement of needs and audiences that are not tagged."""
        _lang, fields, hits = self.scan_call(call)
        if not hits:
            return []
        return self._tags(fields, hits, call_programme(call))

    def _tags(
        self, fields: dict[str, str], hits: dict[int, dict[str, str]], programme: str | None
    ) -> list[TagResult]:
        terms_found = hits.keys()
        # The best field of every matched term: (field, field weight, matched text), as _hit.
        field_weights = self.field_weights
        rank = self._field_rank
        found: dict[int, tuple[str, float, str]] = {}
        for term_id, fields_hit in hits.items():
            if len(fields_hit) == 1:
                for name, text in fields_hit.items():
                    found[term_id] = (name, field_weights[name], text)
            else:
                for name, weight in rank:
                    if name in fields_hit:
                        found[term_id] = (name, weight, fields_hit[name])
                        break
        touched: dict[int, set[int]] = {}
        term_needs = self._term_need_refs
        for term_id in hits:
            for need_id, audience, programmes in term_needs.get(term_id, ()):
                if programmes and programme not in programmes:
                    continue
                need_ids = touched.get(audience)
                if need_ids is None:
                    touched[audience] = {need_id}
                else:
                    need_ids.add(need_id)
        raws = self._term_raws
        need_rules = self._need_rules
        out: list[TagResult] = []
        snippets: dict[tuple[str, str], str] = {}
        flat: dict[str, str] = {}
        for index in sorted(touched):
            audience = self._audiences[index]
            if audience.none and not terms_found.isdisjoint(audience.none):
                continue  # excluded: never tagged
            # match text → (weight, term id, field, need name), as in _judge_audience
            best: dict[str, tuple[float, int, str, str]] = {}
            for need_id in sorted(touched[index]):
                none, any_terms, groups, need_weight, need_name = need_rules[need_id]
                if none and not terms_found.isdisjoint(none):
                    continue
                matched = [t for t in any_terms if t in terms_found]
                if any_terms and not matched:
                    continue
                passed = True
                for group in groups:
                    group_hits = [t for t in group if t in terms_found]
                    if not group_hits:
                        passed = False
                        break
                    if not any_terms:
                        top = group_hits[0]
                        top_weight = round(found[top][1], 4)
                        for t in group_hits[1:]:
                            weight = round(found[t][1], 4)
                            if weight > top_weight:
                                top, top_weight = t, weight
                        matched.append(top)
                if not passed:
                    continue
                if len(matched) > 1:
                    matched = list(dict.fromkeys(matched))
                for term_id in matched:
                    name, field_weight, match = found[term_id]
                    weight = round(field_weight * need_weight, 4)
                    known = best.get(match)
                    if known is None or weight > known[0]:
                        best[match] = (weight, term_id, name, need_name)
            if not best:
                continue
            score = round(sum([item[0] for item in best.values()]), 4)
            if score < audience.threshold:
                continue
            ordered = sorted(best.items(), key=lambda kv: (-kv[1][0], raws[kv[1][1]]))
            reasons = []
            for match, (weight, term_id, name, need_name) in ordered[:MAX_REASONS]:
                text = snippets.get((name, match))
                if text is None:
                    if name not in flat:
                        flat[name] = flatten(fields[name])
                    text = snippets[(name, match)] = snippet(flat[name], match, flat=True)
                reasons.append(
                    {
                        "need": need_name,
                        "term": raws[term_id],
                        "field": name,
                        "match": match,
                        "snippet": text,
                        "weight": weight,
                    }
                )
            out.append(
                TagResult(audience.key, audience.kind, audience.name, round(score, 3), reasons)
            )
        return out

    def evaluate(self, call: Any, *, full: bool = True) -> Evaluation:
        """Judge every förvaltning/topic (``full``) or only those the call's terms touch."""
        lang, fields, hits = self.scan_call(call)
        programme = call_programme(call)
        if full:
            touched: dict[int, list[int]] = {
                i: list(a.needs) for i, a in enumerate(self._audiences)
            }
        else:
            touched = {}
            for term_id in hits:
                for need_id in self._term_needs.get(term_id, ()):
                    need = self._needs[need_id]
                    if need.programmes and programme not in need.programmes:
                        continue
                    touched.setdefault(need.audience, []).append(need_id)
        results = [
            self._judge_audience(
                index, sorted(set(need_ids)), hits, programme, fields, with_reasons=True
            )
            for index, need_ids in sorted(touched.items())
        ]
        return Evaluation(lang, programme, results)


def rules_hash(needs: NeedsFile) -> str:
    """A stable hash of the rules (and the engine version): a change re-tags every call."""
    blob = json.dumps(
        {"engine": ENGINE_VERSION, "needs": needs.model_dump(mode="json")},
        sort_keys=True,
        ensure_ascii=False,
    )
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
