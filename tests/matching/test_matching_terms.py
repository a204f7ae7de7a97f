"""Term syntax, normalisation and language detection (pure, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.schema import NeedsFile
from matching.engine import compile_needs, evaluate, match_call, match_text
from matching.terms import TermSyntaxError, parse_term
from matching.text import detect_language, normalise, snippet, tokens


@pytest.mark.parametrize(
    "raw,modes",
    [
        ("skola", ["compound"]),  # bare, 5+ letters: compounds allowed
        ("ek", ["word"]),  # short: whole word only
        ('"kommun"', ["word"]),  # quoted: never inside compounds
        ("vård*", ["prefix"]),
        ("*vård", ["suffix"]),
        ("*omsorg*", ["infix"]),
        ("climate adaptation", ["word", "word"]),
        ('"public health"', ["word", "word"]),
        ("renewable energ*", ["word", "prefix"]),
        ("e-hälsa", ["word", "word"]),  # a hyphen splits like in the text
        ("Erasmus+", ["compound"]),
    ],
)
def test_term_syntax(raw, modes):
    assert [w.mode for w in parse_term(raw).words] == modes


@pytest.mark.parametrize(
    "raw,message",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("*", "letters or digits"),
        ("a*b", "only stand at the start or end"),
        ("e*", "too short"),
        ('"unclosed', "quotes"),
        ('say "this" now', "quotes"),
        ("!!!", "letters or digits"),
    ],
)
def test_bad_terms_are_refused(raw, message):
    with pytest.raises(TermSyntaxError, match=message):
        parse_term(raw)


def test_normalise_folds_case_unicode_and_invisible_characters():
    assert normalise("Klimat\u200banpassning") == "klimatanpassning"
    assert normalise("ﬁre SAFETY") == "fire safety"  # NFKC ligature
    assert normalise("Grund\u00adskolan") == "grundskolan"
    assert tokens(normalise("Climate. Adaptation; e-hälsa")) == [
        "climate",
        ".",
        "adaptation",
        ";",
        "e",
        "hälsa",
    ]


def test_language_detection():
    assert detect_language(set(tokens("stöd till kommuner och regioner för att"))) == "sv"
    assert detect_language(set(tokens("support for the municipalities and regions of"))) == "en"
    assert detect_language(set(), "skolutveckling för alla") == "sv"
    assert detect_language(set(), "quantum sensing") == "en"


def test_snippet_keeps_the_original_case_and_marks_cuts():
    text = "Intro " * 30 + "Support for Grundskolan in Lidköping. " + "Outro " * 30
    found = snippet(text, "grundskolan")
    assert "Grundskolan" in found
    assert found.startswith("…") and found.endswith("…")
    assert len(found) < 200


NEEDS = NeedsFile.model_validate(
    {
        "departments": [
            {"key": "skola", "name": "Skola", "needs": [{"name": "Skola", "any": ["skola"]}]}
        ],
        "topics": [
            {
                "key": "omsorg",
                "name": "Omsorg",
                "threshold": 1.0,
                "needs": [{"name": "Omsorg", "any": ["omsorg", "elderly care"]}],
            }
        ],
    }
)


def test_match_call_accepts_objects_and_mappings():
    class Plain:
        title = "Utveckling av grundskolan"
        summary = None
        description = "Även äldreomsorgen deltar."
        keywords = ["skola"]
        programme = None
        identifier = None
        language = None

    compiled = compile_needs(NEEDS)
    from_object = match_call(compiled, Plain())
    from_dict = match_call(compiled, {k: getattr(Plain, k) for k in dir(Plain) if k[0] != "_"})
    assert [(t.key, t.kind, t.score) for t in from_object] == [
        (t.key, t.kind, t.score) for t in from_dict
    ]
    assert {t.key: t.kind for t in from_object} == {"skola": "department", "omsorg": "topic"}
    skola = next(t for t in from_object if t.key == "skola")
    # one term counts once, at the weight of its best field (title 3 beats keywords 2)
    assert skola.score == 3.0
    assert [(r["term"], r["field"], r["match"]) for r in skola.reasons] == [
        ("skola", "title", "grundskolan")
    ]
    assert skola.reasons[0]["snippet"] == "Utveckling av grundskolan"
    assert match_text(compiled, "Elderly care at home", language="en")[0].key == "omsorg"


def test_rules_hash_changes_with_the_rules_only():
    first = compile_needs(NEEDS)
    again = compile_needs(NeedsFile.model_validate(NEEDS.model_dump()))
    assert first.rules_hash == again.rules_hash
    data = NEEDS.model_dump()
    data["departments"][0]["needs"][0]["any"].append("förskola")
    assert compile_needs(NeedsFile.model_validate(data)).rules_hash != first.rules_hash


def test_explanation_of_a_miss_names_missing_and_excluded_terms():
    needs = NeedsFile.model_validate(
        {
            "departments": [
                {
                    "key": "t",
                    "name": "T",
                    "needs": [
                        {
                            "name": "Energy in public buildings",
                            "any": ["energy efficiency"],
                            "all": [["public buildings", "municipalities"]],
                        },
                        {"name": "Schools", "any": ["schools"], "none": ["summer school"]},
                    ],
                }
            ]
        }
    )
    result = evaluate(
        compile_needs(needs),
        {"title": "Energy efficiency of furnaces", "description": "A summer school for schools."},
    ).audience("t")
    assert not result.tagged
    energy, schools = result.needs
    assert energy.missing_groups == [["public buildings", "municipalities"]]
    assert [h.term for h in energy.hits] == ["energy efficiency"]
    assert [h.term for h in schools.excluded_by] == ["summer school"]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.sampled_from([None, "sv", "en", "de"]))
def test_any_text_is_matched_without_error(text, language):
    compiled = compile_needs(NEEDS)
    tags = match_call(compiled, {"title": text[:80], "description": text, "language": language})
    for tag in tags:
        assert tag.score >= 1.0
        assert all(r["snippet"] is not None for r in tag.reasons)


def test_word_cache_restart_keeps_results_identical(monkeypatch):
    import matching.engine as engine

    compiled = compile_needs(NEEDS)
    call = {"title": "Grundskolan", "description": "Äldreomsorgen och skolorna."}
    before = [(t.key, t.score, t.reasons) for t in match_call(compiled, call)]
    monkeypatch.setattr(engine, "_CACHE_LIMIT", 1)
    for n in range(3):  # known words and a new one in the same field: the cache restarts
        same = dict(call, title=f"Grundskolan nyord{n}")
        assert [(t.key, t.score) for t in match_call(compiled, same)] == [
            (k, s) for k, s, _ in before
        ]
