"""The learned second opinion: one L2-regularised logistic regression per förvaltning.

It never replaces the rules silently. ``config/needs.yaml``'s ``second_opinion`` block
chooses what it may do (docs/matching.md):

* ``off`` — not used (the default; the model file is not even read);
* ``advise`` — its probability and words are shown in ``bevaka explain`` and ``bevaka
  eval``, the tags are the rules' own;
* ``veto`` — a rules tag whose probability is below ``veto_below`` is dropped;
* ``add`` — an untagged förvaltning whose probability reaches ``add_above`` is tagged
  (never one the rules exclude outright: a ``none`` term, another region, a call closed to
  municipalities), with a Swedish reason naming the words;
* ``both`` — veto and add.

Features of a call (:func:`call_features`): the Snowball stems (in the call's language)
of its title words (``t:``) and of its keywords, summary and description words (``w:``),
its programme code (``p:``), kind (``k:``), URL host (``h:``) and identifier prefix
(``i:``). A feature is present or not (0/1).

Training (:func:`train`) is deterministic: items in the given order, features sorted,
Newton's method with conjugate gradients from zero weights, no randomness. The model is a
JSON file (:func:`save_model`, :func:`load_model`); loading checks it whole and refuses a
malformed file with :class:`ModelError` naming the path and what is wrong.

No I/O except in :func:`load_model` and :func:`save_model`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from matching.text import STOP_WORDS, detect_language, language_code, normalise, stems, tokens

FORMAT = "bevaka-second-opinion"
VERSION = 1
MODES = ("off", "advise", "veto", "add", "both")
DEFAULT_L2 = 0.001  # chosen by 5-fold cross-validation on data/eval/dev.jsonl
DEFAULT_MIN_COUNT = 2  # a feature must occur in this many training items
PREFIX_NAMES = {
    "t": "title",
    "w": "text",
    "p": "programme",
    "k": "kind",
    "h": "host",
    "i": "identifier",
}
#: the reason of a tag the second opinion added (Swedish: the digest shows it)
ADDED_REASON = "Liknar tidigare utlysningar som förvaltningen ville ha"
ADDED_FIELD = "second_opinion"


class ModelError(ValueError):
    """A model file that cannot be used; the message names the path and the problem."""


# --- features --------------------------------------------------------------------------


def _get(call: Any, name: str) -> Any:
    if isinstance(call, Mapping):
        return call.get(name)
    return getattr(call, name, None)


def _words(text: Any) -> list[str]:
    return [w for w in tokens(normalise(str(text or ""))) if w.isalpha()]


def call_features(call: Any) -> dict[str, str]:
    """The call's features, each with the first word of the call that gave it (for
    explanations): ``{"t:skol": "skolan", "w:elev": "elever", "p:ERASMUS": "ERASMUS"}``."""
    from matching.engine import call_programme  # the engine imports this module

    title = _words(_get(call, "title"))
    keywords = _get(call, "keywords") or []
    if isinstance(keywords, str):
        keywords = [keywords]
    body = _words(" ".join(str(k) for k in keywords))
    body += _words(_get(call, "summary")) + _words(_get(call, "description"))
    language = language_code(_get(call, "language"))
    if language is None:
        sample = " ".join(title + body[:200])
        language = detect_language(set(title) | set(body), sample)
    index = 0 if language == "sv" else 1
    out: dict[str, str] = {}
    for prefix, words in (("t", title), ("w", body)):
        for word in words:
            if len(word) < 2 or word in STOP_WORDS:
                continue
            out.setdefault(f"{prefix}:{stems(word)[index]}", word)
    programme = call_programme(call)
    if programme:
        out[f"p:{programme}"] = str(programme)
    kind = _get(call, "kind")
    if kind:
        out[f"k:{kind}"] = str(kind)
    url = _get(call, "url")
    host = (urlsplit(url).hostname or "") if isinstance(url, str) else ""
    if host:
        host = host.removeprefix("www.")
        out[f"h:{host}"] = host
    identifier = str(_get(call, "identifier") or "").strip()
    if identifier:
        head = identifier.split("-")[0].split("/")[0].strip().upper()
        if head:
            out[f"i:{head}"] = head
    return out


# --- the model -------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyModel:
    """One förvaltning's logistic regression: p = 1 / (1 + exp(-(bias + Σ weights)))."""

    bias: float
    weights: Mapping[str, float]
    items: int = 0  # training items labelled for this förvaltning
    positives: int = 0  # of those, the ones it wanted


@dataclass(frozen=True)
class Model:
    keys: Mapping[str, KeyModel]
    trained_at: str  # given by the caller (ISO date or time)
    training_hash: str  # sha256 of the training items and labels
    items: int
    l2: float = DEFAULT_L2
    min_count: int = DEFAULT_MIN_COUNT
    sources: tuple[str, ...] = ()  # what it was trained on (files, "decisions")
    digest: str = ""  # sha256 of the file it was loaded from (or of its JSON)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "trained_at": self.trained_at,
            "training_hash": self.training_hash,
            "items": self.items,
            "l2": self.l2,
            "min_count": self.min_count,
            "sources": list(self.sources),
            "keys": {
                key: {
                    "bias": round(m.bias, 6),
                    "items": m.items,
                    "positives": m.positives,
                    "weights": {f: round(w, 6) for f, w in sorted(m.weights.items())},
                }
                for key, m in sorted(self.keys.items())
            },
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), ensure_ascii=False, sort_keys=True, indent=1) + "\n"


@dataclass(frozen=True)
class Word:
    feature: str  # "t:skol"
    word: str  # the call's word that gave it ("skolan")
    weight: float

    @property
    def where(self) -> str:
        return PREFIX_NAMES.get(self.feature.split(":", 1)[0], "")


@dataclass(frozen=True)
class Opinion:
    """The second opinion on one call for one förvaltning."""

    key: str
    probability: float
    for_words: tuple[Word, ...]
    against_words: tuple[Word, ...]
    mode: str
    veto_below: float
    add_above: float
    base: float = 0.5  # the probability of a call with none of the model's words (its bias)

    @property
    def vetoes(self) -> bool:
        return self.mode in ("veto", "both") and self.probability < self.veto_below

    @property
    def adds(self) -> bool:
        return self.mode in ("add", "both") and self.probability >= self.add_above


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass
class SecondOpinion:
    """A loaded model with the mode and thresholds of needs.yaml's ``second_opinion``."""

    model: Model
    mode: str
    veto_below: float
    add_above: float
    words: int = 5

    @property
    def may_add(self) -> bool:
        return self.mode in ("add", "both")

    def judge(self, call: Any) -> dict[str, Opinion]:
        """Every förvaltning the model knows: its probability and the call's heaviest
        words for and against (at most ``words`` each)."""
        features = call_features(call)
        out = {}
        for key, km in self.model.keys.items():
            found = [
                Word(f, word, km.weights[f]) for f, word in features.items() if f in km.weights
            ]
            z = km.bias + sum(w.weight for w in found)
            ranked = sorted(found, key=lambda w: (-w.weight, w.feature))
            pro = tuple(w for w in ranked if w.weight > 0)[: self.words]
            con = tuple(w for w in reversed(ranked) if w.weight < 0)[: self.words]
            out[key] = Opinion(
                key,
                _sigmoid(z),
                pro,
                con,
                self.mode,
                self.veto_below,
                self.add_above,
                _sigmoid(km.bias),
            )
        return out


def shown_words(words: Iterable[Word]) -> str:
    """The call's own words, once each: "skolan, elever"."""
    return ", ".join(dict.fromkeys(w.word for w in words))


def added_reason(opinion: Opinion) -> dict[str, Any]:
    """The reason stored on a tag the second opinion added (in Swedish: digests show it)."""
    words = shown_words(opinion.for_words) or "inga enskilda ord"
    return {
        "need": f"{ADDED_REASON} (ord: {words})",
        "term": None,
        "field": ADDED_FIELD,
        "match": words,
        "snippet": f"sannolikhet {round(100 * opinion.probability)} %",
        "weight": 0.0,
    }


# --- training --------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One training item: its features, the keys its labels speak for (None: every key)
    and those of them it should get."""

    ref: str
    features: frozenset[str]
    expected: frozenset[str]
    labelled: frozenset[str] | None = None


def example(ref: str, call: Any, expected: Iterable[str], labelled: Iterable[str] | None):
    return Example(
        ref,
        frozenset(call_features(call)),
        frozenset(expected),
        None if labelled is None else frozenset(labelled),
    )


def training_hash(examples: Sequence[Example], keys: Sequence[str]) -> str:
    blob = json.dumps(
        {
            "keys": list(keys),
            "items": [
                [
                    sorted(e.features),
                    sorted(e.expected),
                    None if e.labelled is None else sorted(e.labelled),
                ]
                for e in examples
            ],
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _fit(x: Any, y: Any, l2: float, iterations: int = 30) -> tuple[Any, float]:
    """Minimise mean log loss + l2/2 |w|² (bias not regularised) by Newton's method with
    conjugate gradients, from zero: deterministic."""
    import numpy as np

    n, d = x.shape
    w = np.zeros(d)
    b = 0.0

    def loss(w: Any, b: float) -> float:
        z = x @ w + b
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * (w @ w))

    current = loss(w, b)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        r = p - y
        gw = x.T @ r / n + l2 * w
        gb = float(r.mean())
        if math.sqrt(float(gw @ gw) + gb * gb) < 1e-8:
            break
        s = p * (1 - p) / n

        def hess(vw: Any, vb: float, s: Any = s) -> tuple[Any, float]:
            su = s * (x @ vw + vb)
            return x.T @ su + l2 * vw, float(su.sum())

        # conjugate gradients on H [dw, db] = -[gw, gb]
        dw, db = np.zeros(d), 0.0
        rw, rb = -gw, -gb
        pw, pb = rw.copy(), rb
        rr = float(rw @ rw) + rb * rb
        for _cg in range(100):
            hw, hb = hess(pw, pb)
            php = float(pw @ hw) + pb * hb
            if php <= 0:
                break
            alpha = rr / php
            dw, db = dw + alpha * pw, db + alpha * pb
            rw, rb = rw - alpha * hw, rb - alpha * hb
            new = float(rw @ rw) + rb * rb
            if new < 1e-20:
                break
            pw, pb = rw + (new / rr) * pw, rb + (new / rr) * pb
            rr = new
        step = 1.0
        while step > 1e-6:
            candidate = loss(w + step * dw, b + step * db)
            if candidate <= current:
                break
            step /= 2
        else:
            break  # no step lowers the loss: at the optimum as far as floats tell
        w, b = w + step * dw, b + step * db
        improved = current - candidate
        current = candidate
        if improved < 1e-12:
            break
    return w, b


def train(
    examples: Sequence[Example],
    keys: Sequence[str],
    *,
    trained_at: str,
    l2: float = DEFAULT_L2,
    min_count: int = DEFAULT_MIN_COUNT,
    sources: Sequence[str] = (),
) -> Model:
    """One logistic regression per key, on the examples labelled for it. Features of
    fewer than ``min_count`` examples are left out. A key without both a wanted and an
    unwanted example gets no model (it gives no opinion)."""
    import numpy as np

    counts: dict[str, int] = {}
    for e in examples:
        for f in e.features:
            counts[f] = counts.get(f, 0) + 1
    vocabulary = sorted(f for f, c in counts.items() if c >= min_count)
    column = {f: i for i, f in enumerate(vocabulary)}
    models: dict[str, KeyModel] = {}
    for key in keys:
        rows = [e for e in examples if e.labelled is None or key in e.labelled]
        labels = [key in e.expected for e in rows]
        positives = sum(labels)
        if not rows or positives in (0, len(rows)):
            continue
        x = np.zeros((len(rows), len(vocabulary)))
        for i, e in enumerate(rows):
            for f in e.features:
                j = column.get(f)
                if j is not None:
                    x[i, j] = 1.0
        y = np.array(labels, dtype=float)
        w, b = _fit(x, y, l2)
        weights = {vocabulary[j]: float(w[j]) for j in np.flatnonzero(np.abs(w) >= 1e-4)}
        models[key] = KeyModel(float(b), weights, len(rows), positives)
    model = Model(
        models,
        trained_at,
        training_hash(examples, list(keys)),
        len(examples),
        l2,
        min_count,
        tuple(sources),
    )
    text = model.dumps()
    # the weights as saved (rounded), so a trained model and its loaded file agree
    return parse_model(json.loads(text), "<trained>", hashlib.sha256(text.encode()).hexdigest())


# --- files -----------------------------------------------------------------------------


def save_model(model: Model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(model.dumps(), encoding="utf-8")
    tmp.replace(path)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelError(f"{where}: expected a count, got {value!r}")
    return value


def parse_model(data: Any, shown: str, digest: str = "") -> Model:
    """A model from its JSON data; ModelError ("PATH: what is wrong") when malformed."""

    def bad(message: str) -> ModelError:
        return ModelError(f"{shown}: {message}")

    if not isinstance(data, dict):
        raise bad("expected a JSON object")
    if data.get("format") != FORMAT:
        raise bad(f"not a second-opinion model ('format' is not {FORMAT!r})")
    if data.get("version") != VERSION:
        raise bad(f"unsupported version {data.get('version')!r} (expected {VERSION})")
    try:
        for name in ("trained_at", "training_hash"):
            if not isinstance(data.get(name), str):
                raise ModelError(f"'{name}': expected a string")
        items = _count(data.get("items"), "'items'")
        l2 = _number(data.get("l2", DEFAULT_L2), "'l2'")
        min_count = _count(data.get("min_count", DEFAULT_MIN_COUNT), "'min_count'")
        sources = data.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ModelError("'sources': expected a list of strings")
        keys = data.get("keys")
        if not isinstance(keys, dict) or not keys:
            raise ModelError("'keys': expected an object with one model per förvaltning")
        models: dict[str, KeyModel] = {}
        for key, entry in keys.items():
            where = f"keys.{key}"
            if not isinstance(entry, dict):
                raise ModelError(f"{where}: expected an object")
            unknown = set(entry) - {"bias", "weights", "items", "positives"}
            if unknown:
                raise ModelError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
            weights = entry.get("weights")
            if not isinstance(weights, dict):
                raise ModelError(f"{where}.weights: expected an object of feature weights")
            models[key] = KeyModel(
                _number(entry.get("bias"), f"{where}.bias"),
                {str(f): _number(w, f"{where}.weights[{f!r}]") for f, w in sorted(weights.items())},
                _count(entry.get("items", 0), f"{where}.items"),
                _count(entry.get("positives", 0), f"{where}.positives"),
            )
    except ModelError as exc:
        raise bad(str(exc)) from None
    return Model(
        models,
        data["trained_at"],
        data["training_hash"],
        items,
        l2,
        min_count,
        tuple(sources),
        digest,
    )


def load_model(path: Path, keys: Iterable[str] | None = None) -> Model:
    """Read a model file (read only). ``keys``: the förvaltningar of needs.yaml; a model
    trained for another key is refused."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(
            f"{shown}: model file not found (train one with `bevaka model train`)"
        ) from None
    except OSError as exc:
        raise ModelError(f"{shown}: cannot read: {exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{shown}: not valid JSON: {exc}") from None
    model = parse_model(data, shown, hashlib.sha256(raw).hexdigest())
    if keys is not None:
        known = list(keys)
        unknown = sorted(set(model.keys) - set(known))
        if unknown:
            raise ModelError(
                f"{shown}: trained for förvaltningar that needs.yaml does not have: "
                f"{', '.join(unknown)} (known: {', '.join(known)}); retrain with "
                "`bevaka model train`"
            )
    return model


def examples_from_items(items: Iterable[Any]) -> list[Example]:
    """Training examples from ``bevaka eval``'s labelled items (matching.evaluation.Item)."""
    return [example(i.ref, i.call, i.expected, i.labelled) for i in items]
