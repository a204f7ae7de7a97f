"""Benchmark 3: matching 20,000 generated calls against the shipped config/needs.yaml.

* ours: ``matching.engine.compile_needs`` once, then ``match_call`` on every call (which
  normalises, tokenises, matches and scores); timed around the loop.
* baseline: the same calls' fields, normalised beforehand (``matching.text.normalise``,
  untimed), scanned by one pyahocorasick automaton holding every term of needs.yaml (the
  raw multi-pattern limit); timed around the scan.

Calls are half Swedish, half English, generated with a fixed seed from a vocabulary with
the needs' terms sprinkled in (inflected, inside compounds). Each side runs in its own
process; its peak RSS (inputs included) is the memory figure.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from bench.harness import Result, checked, ratio, run_child

TIME_TARGET = 2.0
MEMORY_TARGET_MB = 300.0
SEED = 20261126


def _needs():
    from config.loader import DEFAULT_CONFIG_DIR, load_config

    return load_config(DEFAULT_CONFIG_DIR).needs


def generate_calls(count: int, terms: list[str], seed: int = SEED) -> list[dict[str, Any]]:
    from bench.vocab import TextGen

    gen = TextGen(seed, terms, term_rate=0.005)
    rng = gen.rng
    programmes = ["HORIZON", "ERASMUS", "LIFE", "CERV", "CREA", "DIGITAL", "ESF-SE", "ERUF", None]
    calls = []
    for i in range(count):
        swedish = i % 2 == 1
        paragraphs = rng.randint(2, 6) if swedish else rng.randint(4, 10)
        calls.append(
            {
                "title": gen.title(swedish),
                "summary": gen.paragraph(swedish, rng.randint(1, 3)),
                "description": "\n\n".join(
                    gen.paragraph(swedish, rng.randint(2, 5)) for _ in range(paragraphs)
                ),
                "keywords": gen.keywords(swedish),
                "language": "sv" if swedish else "en",
                "programme": rng.choice(programmes),
                "identifier": None if swedish else f"HORIZON-2027-{i:05d}",
            }
        )
    return calls


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1024 / 1024


def ours_match(count: int) -> dict[str, Any]:
    """Worker: compile the shipped needs, match every call."""
    from bench.vocab import need_terms
    from matching.engine import compile_needs, match_call

    needs = _needs()
    calls = generate_calls(count, need_terms(needs))
    chars = sum(len(c["title"]) + len(c["summary"]) + len(c["description"]) for c in calls)
    gc.collect()
    rss_inputs = _rss_mb()
    started = time.perf_counter()
    compiled = compile_needs(needs)
    compile_seconds = time.perf_counter() - started
    tagged = tags = 0
    started = time.perf_counter()
    for call in calls:
        found = match_call(compiled, call)
        if found:
            tagged += 1
            tags += len(found)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "compile_seconds": compile_seconds,
        "calls": len(calls),
        "chars": chars,
        "tagged_calls": tagged,
        "tags": tags,
        "rss_with_inputs_mb": round(rss_inputs, 1),
        "rss_after_mb": round(_rss_mb(), 1),
        "audiences": len(needs.departments) + len(needs.topics),
    }


def baseline_match(count: int) -> dict[str, Any]:
    """Worker: one automaton holding every term, scanning the same normalised texts."""
    import ahocorasick

    from bench.vocab import need_terms
    from matching.engine import call_fields
    from matching.text import normalise

    needs = _needs()
    terms = need_terms(needs)
    calls = generate_calls(count, terms)
    texts = [[normalise(v) for v in call_fields(c).values() if v] for c in calls]
    automaton = ahocorasick.Automaton()
    for index, term in enumerate(dict.fromkeys(normalise(t) for t in terms)):
        automaton.add_word(term, index)
    automaton.make_automaton()
    gc.collect()
    hits = 0
    started = time.perf_counter()
    for fields in texts:
        for text in fields:
            for _ in automaton.iter(text):
                hits += 1
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "calls": len(calls), "terms": len(automaton), "hits": hits}


def run(quick: bool, log) -> list[Result]:
    count = 2000 if quick else 20_000
    log(f"matching: {count} calls against config/needs.yaml …")
    base_run = run_child("bench.matcher:baseline_match", {"count": count})
    base = checked(base_run, "matching baseline")
    log(f"matching: baseline {base['seconds']:.3f} s ({base['terms']} terms, {base['hits']} hits)")
    ours_run = run_child("bench.matcher:ours_match", {"count": count})
    ours = checked(ours_run, "matching")
    log(f"matching: ours {ours['seconds']:.3f} s ({ours['tagged_calls']} calls tagged)")
    r = ratio(ours["seconds"], base["seconds"])
    peak = ours_run.peak_tree_mb
    return [
        Result(
            name="matching",
            title="Matching calls against needs.yaml",
            ours=round(ours["seconds"], 3),
            baseline=round(base["seconds"], 3),
            ratio=r,
            unit="s",
            target=f"≤ {TIME_TARGET} × baseline; peak ≤ {MEMORY_TARGET_MB:.0f} MB",
            passed=bool(r is not None and r <= TIME_TARGET and peak <= MEMORY_TARGET_MB),
            peak_memory_mb=peak,
            ours_label="compile_needs + match_call per call",
            baseline_label="one pyahocorasick automaton over pre-normalised fields",
            details={
                **{k: v for k, v in ours.items() if not k.startswith("_")},
                "calls_per_second": round(ours["calls"] / ours["seconds"], 1),
                "baseline_terms": base["terms"],
                "baseline_hits": base["hits"],
                "baseline_peak_mb": base_run.peak_tree_mb,
            },
        )
    ]
