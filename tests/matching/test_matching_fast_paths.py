"""The matcher's fast paths give the same results as the plain ones: tokens without a
regular expression, phrases found by their first two words, and match_call scoring
without the full judgement (pure, no database)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from config.schema import NeedsFile
from matching.engine import compile_needs, evaluate, match_call
from matching.text import (
    BREAKS,
    _search,
    normalise,
    scan_text,
    scan_tokens,
    snippet,
    snippet_in,
    tokens,
)

ODD_TEXTS = [
    "Climate–adaptation “quoted” ’s e-hälsa • punkt… x\u2028y\x85z wörd;ånd|x",
    "snake_case 3D² ﬁre — end. Start!again? yes:no",
    "Äldreomsorgen\u00adsreform i\u200bkommunen, 2027/28 (pilot) [x] {y} <z> #1 @a",
    "",
    "   ",
    "...",
]


def _plain(text: str) -> list[str]:
    return ["." if t in BREAKS else t for t in tokens(normalise(text))]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_scan_tokens_are_the_tokens(text):
    assert scan_tokens(normalise(text)) == _plain(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_scan_tokens_are_the_tokens_for_any_text(text):
    assert scan_tokens(normalise(text)) == _plain(text)


_PLAIN = "abcXYZ019 .,;:|!?-_/()\n\tåäöéüæøáàèíóúñçëïâêîôûœÅÄÖÉÜÆØÁÀÈÍÓÚÑÇËÏÂÊÎÔÛŒ"


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_scan_text_is_scan_tokens_of_the_normalised_text(text):
    assert scan_text(text) == scan_tokens(normalise(text))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_PLAIN, max_size=200), st.text(max_size=3))
def test_scan_text_of_plain_and_other_text(plain, other):
    # plain letters take the fast way; one other character (ß, ſ, İ, ﬁ, a soft hyphen …)
    # sends the whole text the plain way round
    for text in (plain, plain + other, other + plain):
        assert scan_text(text) == scan_tokens(normalise(text))


NEEDS = NeedsFile.model_validate(
    {
        "defaults": {"threshold": 1.0},
        "departments": [
            {
                "key": "vanorter",
                "name": "Vänorter",
                "needs": [{"name": "Nätverk", "any": ["networks of towns", "town twinning"]}],
            },
            {
                "key": "klimat",
                "name": "Klimat",
                "needs": [
                    {"name": "Anpassning", "any": ["climate change adaptation"]},
                    {
                        "name": "Energi",
                        "any": ["energ* communit* project*"],
                        "all": [["municipalities", "local authorit*"]],
                    },
                ],
            },
        ],
        "topics": [
            {
                "key": "halsa",
                "name": "Hälsa",
                "threshold": 3.0,
                "none": ["health insurance"],
                "needs": [
                    {"name": "Folkhälsa", "any": ["public health", "e-hälsa", "hälsa"]},
                    {"name": "Grupper", "all": [["elderly", "äldre"], ["care", "omsorg"]]},
                ],
            }
        ],
    }
)


def _tags(call):
    compiled = compile_needs(NEEDS)
    return {t.key: t for t in match_call(compiled, call)}


def test_phrase_with_a_stop_word_and_three_word_phrase():
    tags = _tags(
        {
            "title": "Networks of towns",
            "description": "Projects on climate-change adaptation.",
            "language": "en",
        }
    )
    assert tags["vanorter"].reasons[0]["match"] == "networks of towns"
    assert tags["klimat"].reasons[0]["match"] == "climate change adaptation"


def test_phrase_never_across_a_break_or_out_of_order():
    tags = _tags(
        {
            "title": "Networks. Of towns",
            "description": "Climate change; adaptation. Adaptation climate change.",
            "language": "en",
        }
    )
    assert "vanorter" not in tags
    assert "klimat" not in tags


def test_three_word_phrase_with_many_word_forms():
    # energ*, communit*, project* each have 5 forms in the text; only one place has all three
    forms = {
        "energy energies energetic energise energised": "energy",
        "community communities communitarian communitas communitywide": "communit",
        "project projects projected projection projector": "project",
    }
    filler = " ".join(forms)
    call = {
        "title": "Funding",
        "description": f"{filler}. Energies communitywide projector for municipalities.",
        "language": "en",
    }
    tags = _tags(call)
    assert tags["klimat"].reasons[0]["match"] == "energies communitywide projector"
    call["description"] = f"{filler}. Energies communitywide for municipalities."
    assert "klimat" not in _tags(call)


def test_earliest_place_of_the_first_anchor_form_is_the_match():
    tags = _tags(
        {"title": "x", "description": "Town twinnings and town twinning.", "language": "en"}
    )
    assert tags["vanorter"].reasons[0]["match"] == "town twinnings"


VOCAB = [
    "networks",
    "of",
    "towns",
    "town",
    "twinning",
    "twinnings",
    "climate",
    "change",
    "adaptation",
    "energy",
    "energies",
    "community",
    "communities",
    "project",
    "projects",
    "municipalities",
    "local",
    "authorities",
    "public",
    "health",
    "e-hälsa",
    "hälsa",
    "hälsan",
    "elderly",
    "äldre",
    "care",
    "omsorg",
    "omsorgen",
    "insurance",
    "the",
    "and",
    "och",
    ".",
    ";",
    "research",
    "battery",
    "quantum",
    "folkhälsan",
    "äldreomsorgen",
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(VOCAB), max_size=40),
    st.lists(st.sampled_from(VOCAB), max_size=8),
    st.sampled_from(["sv", "en", None]),
)
def test_match_call_scores_as_the_full_evaluation(words, title, language):
    compiled = compile_needs(NEEDS)
    call = {"title": " ".join(title), "description": " ".join(words), "language": language}
    fast = [(t.key, t.kind, t.name, t.score, t.reasons) for t in match_call(compiled, call)]
    full = [(t.key, t.kind, t.name, t.score, t.reasons) for t in evaluate(compiled, call).tags]
    assert fast == full


def test_phrase_whose_anchor_is_its_last_word_at_the_end_of_a_field():
    # "e" is a stop-word, so "förvaltning" anchors the phrase, and nothing follows it
    needs = NeedsFile.model_validate(
        {
            "defaults": {"threshold": 1.0},
            "departments": [
                {"key": "e", "name": "E", "needs": [{"name": "E", "any": ["e-förvaltning"]}]}
            ],
        }
    )
    compiled = compile_needs(needs)
    tags = match_call(compiled, {"title": "Stöd till e-förvaltning", "language": "sv"})
    assert [r["match"] for t in tags for r in t.reasons] == ["e förvaltning"]
    assert match_call(compiled, {"title": "Stöd till förvaltning", "language": "sv"}) == []


def test_lexicon_restart_when_its_characters_run_out(monkeypatch):
    import matching.engine as engine

    calls = [
        {
            "title": "Networks of towns and town twinning",
            "description": "Climate change adaptation; public health. E-hälsa för äldre och omsorg.",
            "language": lang,
        }
        for lang in ("en", "sv")
    ]
    expected = [[(t.key, t.score, t.reasons) for t in _tags(call).values()] for call in calls]
    assert all(expected)
    # Characters for a dozen words of each kind: each new call's words start the
    # language's lexicon afresh, with the same results.
    monkeypatch.setattr(engine, "_STARTER_CHARS", range(0x10000, 0x1000C))
    monkeypatch.setattr(engine, "_OTHER_CHARS", range(0x20000, 0x2000C))
    compiled = compile_needs(NEEDS)
    seen: dict[str, list[object]] = {"en": [], "sv": []}  # kept alive: ids stay unique
    for round_ in range(3):
        for call, tags in zip(calls, expected, strict=True):
            fresh = " ".join(
                f"energ{round_}{c} project{round_}{c} x{round_}{c}hälsan" for c in "abcdef"
            )
            other = dict(call, summary=fresh)
            match_call(compiled, other)
            got = [(t.key, t.score, t.reasons) for t in match_call(compiled, call)]
            assert got == tags
            seen[call["language"]].append(compiled._lexicons[call["language"]])
    restarts = {lang: len({id(x) for x in kept}) - 1 for lang, kept in seen.items()}
    assert restarts["en"] >= 2 and restarts["sv"] >= 2


def _python_re(needle: str, flags: int) -> re.Pattern[str]:
    pattern = r"[\s\-/]+".join(re.escape(part) for part in needle.split())
    return re.compile(rf"(?<!\w){pattern}", flags)


_SNIPPET_WORDS = [
    "Kultur",
    "kulturen",
    "climate",
    "Climate-adaptation",
    "ÅLDRE",
    "äldre",
    "x",
    "Xkultur",
    "_kultur",
    "ſkola",
]
_SPACES = [" ", "  ", "\n\n", "\t", " \u00a0", "-", "/", ", ", ". ", "(", ")", "\n" + " " * 40]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_SNIPPET_WORDS), st.sampled_from(_SPACES)), max_size=60),
    st.integers(min_value=0, max_value=10_000),
    st.booleans(),
    st.sampled_from([" ", "\n  ", "", "  ", " " * 12]),
)
# a letter that IGNORECASE folds but lower() keeps (ſ): the first place is the ſ one
@example(
    parts=[("ſkola", " "), ("x", " ")] + [("xx", " ")] * 30 + [("skola", " "), ("x", " ")],
    pick=0,
    phrase=True,
    edge="",
)
# paragraph breaks that leave too little text on a side once flattened
@example(
    parts=[("Kultur", "\n\n"), ("xy", "\n\n"), ("xy", "\n\n"), ("x", "\n\n")]
    + [("xy", ". "), ("Kultur", ". "), ("Kultur", "\n\n"), ("abc", "\n\n")],
    pick=0,
    phrase=False,
    edge="",
)
@example(
    parts=[("xy", " "), ("xy", ". "), ("abc", ". "), ("abc", "\n\n"), ("x", "\n\n")]
    + [("xy", "\n\n"), ("xy", "\n\n"), ("Kultur", "\n\n"), ("Kultur", " ")],
    pick=7,
    phrase=False,
    edge="",
)
# whitespace that flattening strips, just outside the text around the match
@example(
    parts=[("xxxxxxxxx", " "), ("Kultur", " ")] + [("xx", " ")] * 10,
    pick=1,
    phrase=False,
    edge="   ",
)
@example(
    parts=[("xx", " ")] * 10 + [("Kultur", " "), ("xxxxxxxxx", " ")],
    pick=10,
    phrase=False,
    edge="   ",
)
def test_snippet_around_the_match_is_the_snippet_of_the_flattened_text(parts, pick, phrase, edge):
    text = edge + "".join(word + space for word, space in parts) + edge
    words = [t for t in tokens(normalise(text)) if t not in BREAKS] or ["kultur"]
    index = pick % len(words)
    needle = " ".join(words[index : index + 2]) if phrase else words[index]
    assert snippet_in(text, needle) == snippet(text, needle)
    assert snippet_in(text, needle, 10) == snippet(text, needle, 10)
    assert snippet_in(text, "saknas") == snippet(text, "saknas")
    for flags in (0, re.IGNORECASE):  # RE2 and the look-behind checked after each find
        found = _python_re(needle, flags).search(text)  # find what Python's re finds
        assert _search(text, needle, flags) == (found.span() if found else None)
