"""Issue 17 item 4 for needs terms: no term of needs.yaml reaches a backtracking regular
expression engine. A term with regular-expression syntax is refused at config check; the
expressions the matcher builds from matched words (snippets) are RE2's (linear time)."""

from __future__ import annotations

import pytest

from config.loader import ConfigError, validate_file
from config.schema import NeedsFile
from matching.engine import compile_needs, match_call
from matching.terms import TermSyntaxError, parse_term
from matching.text import _needle_body_re, linear_regex, snippet, snippet_in

HOSTILE = "(a+)+$"


@pytest.mark.parametrize("term", [HOSTILE, "(x|xx)*y", "sko[a-z]+", r"\bvård", "a{2,}", "vård?"])
def test_regular_expression_syntax_is_not_a_term(term):
    with pytest.raises(TermSyntaxError, match="not regular expressions"):
        parse_term(term)


def test_config_check_refuses_a_hostile_term_with_file_line_and_key(tmp_path):
    path = tmp_path / "needs.yaml"
    path.write_text(
        "departments:\n"
        "  - key: skola\n"
        "    name: Skola\n"
        "    needs:\n"
        "      - name: Skola\n"
        f"        any: [skola, '{HOSTILE}']\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        validate_file(NeedsFile, path, "needs.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 6
    assert problem.path == "departments[0].needs[0].any"
    assert "not regular expressions" in problem.message


@pytest.mark.parametrize("where", ["applicants.municipal", "geography.other"])
def test_the_new_rule_kinds_check_their_terms_too(tmp_path, where):
    section, key = where.split(".")
    path = tmp_path / "needs.yaml"
    path.write_text(f"{section}:\n  {key}: ['{HOSTILE}']\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        validate_file(NeedsFile, path, "needs.yaml")
    assert caught.value.problems[0].path == where


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?<!\w)a", r"a(?=b)"])
def test_linear_regex_refuses_what_needs_backtracking(pattern):
    with pytest.raises(ValueError, match="not a linear-time pattern"):
        linear_regex(pattern)


def test_linear_regex_runs_the_catastrophic_pattern_without_backtracking():
    # Python's re takes ~2^40 steps here (the test would hit its timeout); RE2 is linear.
    assert linear_regex(HOSTILE).search("a" * 40 + "!") is None
    assert linear_regex(HOSTILE).search("a" * 40).span() == (0, 40)


def test_the_snippet_expressions_are_re2_and_find_phrases_across_any_gap():
    assert type(_needle_body_re("climate adaptation", 0)) is type(linear_regex("x"))
    text = "Stöd för Climate\u00a0-\u2028Adaptation i kommuner. " + "a" * 5000 + "!"
    assert snippet_in(text, "climate adaptation") == snippet(text, "climate adaptation")
    assert "Climate" in snippet_in(text, "climate adaptation")


def test_a_hostile_call_text_is_matched_and_explained():
    needs = NeedsFile.model_validate(
        {
            "departments": [
                {"key": "k", "name": "K", "needs": [{"name": "N", "any": ["aaa bbb"]}]}
            ],
            "defaults": {"threshold": 1.0},
        }
    )
    text = "(" + "a" * 3000 + "+)+$ aaa-bbb " + "a" * 3000 + "!"
    (tag,) = match_call(compile_needs(needs), {"title": "x", "description": text})
    assert tag.reasons[0]["match"] == "aaa bbb" and "aaa-bbb" in tag.reasons[0]["snippet"]
