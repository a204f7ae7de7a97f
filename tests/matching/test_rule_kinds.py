"""The needs.yaml rule kinds for the whole call (programme defaults, who may apply,
geography): they tag, and `bevaka explain` says why and why not, from the same judgement.
Pure: no database (tests/files/matching_eval/needs.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from config.programmes import programme_code, programme_in_title
from config.schema import NeedsFile
from matching.engine import (
    APPLICANT_REASON,
    DEFAULT_REASON,
    GEOGRAPHY_REASON,
    CompiledNeeds,
    compile_needs,
    evaluate,
    identifier_fits,
    match_call,
)
from matching.explain import explain_json, explain_lines

FILES = Path(__file__).resolve().parent.parent / "files" / "matching_eval"
RAW = yaml.safe_load((FILES / "needs.yaml").read_text(encoding="utf-8"))
NEEDS = NeedsFile.model_validate(RAW)


@pytest.fixture(scope="module")
def compiled() -> CompiledNeeds:
    return compile_needs(NEEDS)


def _tags(compiled, call):
    return {t.key: t for t in match_call(compiled, call)}


def _explained(compiled, call, key=None) -> str:
    return "\n".join(explain_lines(evaluate(compiled, call), key=key))


LONA_VG = {
    "title": "LONA – Lokala naturvårdssatsningen",
    "url": "https://www.lansstyrelsen.se/vastra-gotaland/lona.html",
    "programme": "LONA",
    "language": "sv",
    "regions": ["Västra Götaland"],
    "description": "Bidrag för lokala projekt.",
}


# --- programme defaults ------------------------------------------------------------------


def test_a_programme_code_tags_its_förvaltning_and_names_the_place(compiled):
    tag = _tags(compiled, LONA_VG)["miljo"]
    assert tag.score == 3.0
    by_need = {r["need"]: r for r in tag.reasons}
    default = by_need[f"{DEFAULT_REASON}: Lokala naturvårdssatsningen (LONA)"]
    assert (default["field"], default["match"], default["weight"]) == ("programme", "LONA", 3.0)
    place = by_need[GEOGRAPHY_REASON]
    assert place["term"] is None and place["field"] == "regions"
    assert place["match"] == "västra götaland" and place["snippet"] == "Västra Götaland"
    text = _explained(compiled, LONA_VG, key="miljo")
    assert (
        "programme default 'Lokala naturvårdssatsningen (LONA)': applies (+3): programme LONA"
        in text
    )


def test_a_programme_named_in_the_text_and_a_lower_case_code(compiled):
    by_name = dict(LONA_VG, programme=None, description="Sök LONA-bidrag hos länsstyrelsen.")
    assert "miljo" in _tags(compiled, by_name)
    assert "miljo" in _tags(compiled, dict(LONA_VG, programme="lona"))


def test_a_funder_is_the_host_of_the_address_or_a_subdomain(compiled):
    call = {"title": "Utlysning", "url": "https://www.esf.se/sok-stod/", "language": "sv"}
    reason = _tags(compiled, call)["kommunledning"].reasons[0]
    assert (reason["field"], reason["match"]) == ("url", "www.esf.se")
    assert "kommunledning" in _tags(compiled, dict(call, url="https://esf.se/x"))
    assert "kommunledning" not in _tags(compiled, dict(call, url="https://notesf.se/x"))
    assert "kommunledning" not in _tags(compiled, dict(call, url="https://esf.se.example.org/"))


def test_a_default_switched_off_by_its_none_term_says_so(compiled):
    call = {
        "title": "Kommande utlysningar – Sydsverige",
        "url": "https://www.esf.se/min-region/sydsverige/",
        "language": "sv",
    }
    assert "kommunledning" not in _tags(compiled, call)
    text = _explained(compiled, call, key="kommunledning")
    assert (
        "programme default 'Europeiska socialfonden': does not apply: found funder esf.se" in text
    )
    assert "excluded by 'Sydsverige' in title ('sydsverige')" in text


def test_why_not_a_programme_default(compiled):
    call = {"title": "Naturvård i parken", "language": "sv", "programme": "LIFE"}
    text = _explained(compiled, call, key="miljo")
    assert (
        "programme default 'Lokala naturvårdssatsningen (LONA)': does not apply: "
        "programme, funder and name not found"
    ) in text


# --- who may apply -----------------------------------------------------------------------

COMPANIES = {
    "title": "Stöd för klimatsmarta investeringar",
    "language": "sv",
    "description": "Du kan söka stöd för investeringar i ditt företag.",
}


def test_a_call_only_for_companies_gets_no_tag_and_explain_says_why(compiled):
    assert _tags(compiled, COMPANIES) == {}
    text = _explained(compiled, COMPANIES)
    assert (
        "Who may apply: only companies may apply ('ditt företag' in description "
        "('ditt företag')): no tag except from needs that allow 'companies'"
    ) in text
    assert "klimat (topic, Klimat): not tagged, score 0 < threshold 3" in text
    assert "who may apply: the call is closed to municipalities" in text
    data = explain_json(evaluate(compiled, COMPANIES))
    assert data["who_may_apply"]["restriction"]["name"] == "companies"
    need = data["audiences"][-1]["needs"][0]
    assert need["restricted"] is True and need["passed"] is False


def test_municipalities_named_lift_the_restriction_and_weigh_more(compiled):
    call = dict(COMPANIES, description=COMPANIES["description"] + " Även kommuner kan söka.")
    tag = _tags(compiled, call)["klimat"]
    assert tag.score == 4.5  # the title hit (3) x the municipal weight 1.5
    applicant = [r for r in tag.reasons if r["need"] == APPLICANT_REASON]
    assert applicant and applicant[0]["match"] == "kommuner" and applicant[0]["term"] is None
    text = _explained(compiled, call)
    assert "klimat (topic, Klimat): score 4.5 (x1.5: municipalities named) >= threshold 3" in text
    assert (
        "municipalities named ('\"kommuner\"' in description ('kommuner')): every score x1.5"
        in text
    )


def test_a_restriction_in_the_title_holds_although_the_text_names_municipalities(compiled):
    call = dict(
        COMPANIES,
        title="Klimatstöd för ditt företag",
        description="Kommuner och regioner informerar om stödet.",
    )
    assert _tags(compiled, call) == {}
    text = _explained(compiled, call)
    assert "only companies may apply ('ditt företag' in title ('ditt företag'))" in text
    both = dict(call, title="Klimatstöd för ditt företag och kommuner")
    assert "klimat" in _tags(compiled, both)


def test_a_need_that_allows_the_restriction_still_tags(compiled):
    call = {
        "title": "Bidrag till föreningar",
        "language": "sv",
        "description": "Kan sökas av ideella organisationer inom naturvård.",
    }
    tags = _tags(compiled, call)
    assert set(tags) == {"kultur"}
    assert "need 'Natur': who may apply: the call is closed" in _explained(compiled, call, "miljo")


def test_a_restriction_for_news_holds_for_news_only_and_despite_municipalities(compiled):
    news = {
        "title": "Vänorter i länet",
        "kind": "news",
        "language": "sv",
        "description": "Länsstyrelsen fördelade pengar till tolv kommuner.",
    }
    assert _tags(compiled, news) == {}
    assert "a news item about grants already decided" in _explained(compiled, news)
    assert "kommunledning" in _tags(compiled, dict(news, kind="call"))


def test_a_news_item_that_announces_nothing_gets_no_tag(compiled):
    news = {"title": "Vänorter firar", "kind": "news", "language": "sv", "description": "Fest."}
    assert _tags(compiled, news) == {}
    assert (
        "Who may apply: a news item that announces no funding opportunity "
        "(none of bidrag*, söka, funding ... found)"
    ) in _explained(compiled, news)
    assert "kommunledning" in _tags(compiled, dict(news, description="Nu kan ni söka."))
    assert "kommunledning" in _tags(compiled, dict(news, kind="call"))


def test_a_news_report_that_announces_the_next_round_is_an_opportunity(compiled):
    news = {
        "title": "Vänorter i länet",
        "kind": "news",
        "language": "sv",
        "description": "Länsstyrelsen fördelade bidrag. Nästa ansökningsomgång öppnar i maj.",
    }
    assert "kommunledning" in _tags(compiled, news)
    assert (
        "Who may apply: not a news item about grants already decided: 'nästa ansökningsomgång'"
        " in description ('nästa ansökningsomgång') says there is an opportunity"
    ) in _explained(compiled, news)
    reported = dict(news, description="Länsstyrelsen fördelade pengar till tolv kommuner.")
    assert _tags(compiled, reported) == {}


TITLE_ONLY_TOPIC = {
    "title": "Climate services for schools",
    "identifier": "HORIZON-CL5-2027-01-D1-02",
    "language": "en",
}


def test_a_research_cluster_topic_is_restricted_by_its_identifier(compiled):
    assert _tags(compiled, TITLE_ONLY_TOPIC) == {}
    text = _explained(compiled, TITLE_ONLY_TOPIC)
    assert (
        "Who may apply: a research topic ('HORIZON-CL*' in identifier "
        "('HORIZON-CL5-2027-01-D1-02'))"
    ) in text
    # the same topic asking for municipalities is open to them
    asking = dict(TITLE_ONLY_TOPIC, description="Pilots with municipalities.")
    assert "klimat" in _tags(compiled, asking)
    # a mission topic is not a research cluster
    mission = dict(TITLE_ONLY_TOPIC, identifier="HORIZON-MISS-2027-01-CLIMA-02")
    assert "klimat" in _tags(compiled, mission)


def test_an_identifier_pattern_names_a_programme_default(compiled):
    topic = {
        "title": "National adaptation hubs",
        "identifier": "horizon-miss-2026-01-clima-01",
        "language": "en",
    }
    reason = _tags(compiled, topic)["miljo"].reasons[0]
    assert reason["need"] == f"{DEFAULT_REASON}: Anpassningsuppdraget"
    assert (reason["field"], reason["term"]) == ("identifier", "HORIZON-MISS-*-CLIMA-0*")
    assert reason["match"] == "HORIZON-MISS-2026-01-CLIMA-01"
    joint = dict(topic, identifier="HORIZON-MISS-2027-07-CLIMA-CIT-NEB-01")
    assert "miljo" not in _tags(compiled, joint)
    text = _explained(compiled, joint, "miljo")
    assert "programme default 'Anpassningsuppdraget': does not apply" in text


@pytest.mark.parametrize(
    ("pattern", "identifier", "fits"),
    [
        ("HORIZON-CL*", "HORIZON-CL5-2027-01", True),
        ("HORIZON-CL*", "XHORIZON-CL5", False),
        ("HORIZON-MISS-*-CLIMA-0*", "HORIZON-MISS-2026-01-CLIMA-02", True),
        ("HORIZON-MISS-*-CLIMA-0*", "HORIZON-MISS-2026-01-CLIMA-CIT-01", False),
        ("LIFE-*-CLIMA-CCA*", "LIFE-2025-SAP-CLIMA-CCA", True),
        ("A*A", "A", False),  # the parts may not overlap
        ("A*A", "AA", True),
        ("ERC-2027-STG", "ERC-2027-STG", True),
        ("ERC-2027-STG", "ERC-2027-STG-X", False),
    ],
)
def test_identifier_patterns(pattern, identifier, fits):
    assert identifier_fits(pattern, identifier) is fits


# --- geography ---------------------------------------------------------------------------


def test_a_call_for_another_region_gets_no_tag(compiled):
    call = dict(LONA_VG, regions=["Skåne"], title="LONA – Länsstyrelsen")
    assert _tags(compiled, call) == {}
    text = _explained(compiled, call)
    assert "Where: another region: Skåne ('Skåne' in regions ('skåne')): no tag" in text
    assert (
        "miljo (department, Miljö- och byggförvaltningen): not tagged, the call is for another region"
        in text
    )
    assert explain_json(evaluate(compiled, call))["where"]["status"] == "other"


def test_another_region_in_the_title_blocks_but_in_the_description_only_is_a_mention(compiled):
    title = dict(LONA_VG, regions=[], title="LONA i Halland")
    assert _tags(compiled, title) == {}
    mention = dict(LONA_VG, regions=[], description="Som i Halland och Skåne.")
    assert "miljo" in _tags(compiled, mention)


@pytest.mark.parametrize(
    ("regions", "text", "place"),
    [
        (["Västra Götaland", "Halland"], "", "Västra Götaland"),
        ([], "Utlysningen gäller hela Sverige.", "hela Sverige"),
        (["Halland"], "Även Skaraborg kan söka.", "Skaraborg"),  # in the summary
    ],
)
def test_home_and_national_places_keep_the_call_and_are_named(compiled, regions, text, place):
    call = dict(LONA_VG, regions=regions, summary=text)
    tag = _tags(compiled, call)["miljo"]
    assert [r for r in tag.reasons if r["need"] == GEOGRAPHY_REASON]
    lines = _explained(compiled, call)
    assert f"Where: {'the whole country' if place == 'hela Sverige' else place} (" in lines


def test_another_region_where_the_call_says_where_outweighs_home_in_the_full_text(compiled):
    call = dict(LONA_VG, regions=["Halland"], description="Som i Skaraborg.")
    assert _tags(compiled, call) == {}
    assert "Where: another region: Halland" in _explained(compiled, call)


def test_a_home_place_inside_another_region_s_name_does_not_count(compiled):
    """Skaraborg is home, Östra Skaraborg is not: the longer name says where."""
    call = dict(LONA_VG, regions=[], title="LONA i Östra Skaraborg")
    assert _tags(compiled, call) == {}
    assert "Where: another region: Östra Skaraborg" in _explained(compiled, call)
    both = dict(call, summary="Även Skaraborg i övrigt kan söka.")
    assert "miljo" in _tags(compiled, both)
    assert "Where: Skaraborg (" in _explained(compiled, both)


def test_an_eu_programme_is_eu_wide(compiled):
    call = {
        "title": "Town twinning",
        "programme": "CERV",
        "language": "en",
        "description": "For municipalities.",
    }
    tag = _tags(compiled, call)["kommunledning"]
    place = [r for r in tag.reasons if r["need"] == GEOGRAPHY_REASON][0]
    assert (place["match"], place["snippet"]) == ("hela EU", "hela EU (CERV)")
    assert "Where: hela EU (CERV)" in _explained(compiled, call)


# --- one code path -----------------------------------------------------------------------

CALLS = [
    LONA_VG,
    dict(LONA_VG, regions=["Skåne"]),
    COMPANIES,
    dict(COMPANIES, description="Kommuner och ditt företag kan söka."),
    {"title": "Bidrag till föreningar", "description": "ideella organisationer", "language": "sv"},
    {"title": "Summer course on biodiversity", "url": "https://esf.se/", "language": "en"},
    {"title": "Town twinning and climate", "programme": "CERV", "description": "municipalities"},
]


def test_tags_are_the_full_judgement_s_tags(compiled):
    assert not hasattr(CompiledNeeds, "_tags")  # the fast-path twin is gone
    for call in CALLS:
        full = evaluate(compiled, call).tags
        fast = match_call(compiled, call)
        assert [(t.key, t.score, t.reasons) for t in fast] == [
            (t.key, t.score, t.reasons) for t in full
        ]


# --- config check ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["programme_defaults"][0].update(tags=["nope"]),
            "unknown förvaltning or topic 'nope'",
        ),
        (
            lambda d: d["departments"][3]["needs"][0].update(applicants=["nope"]),
            "unknown applicant restriction 'nope'",
        ),
        (
            lambda d: d["programme_defaults"][2].update(funders=["https://esf.se"]),
            "should match pattern",
        ),
        (
            lambda d: d["programme_defaults"][0].update(programmes=[], any=[]),
            "needs programmes, funders, identifiers or any terms",
        ),
        (
            lambda d: d["programme_defaults"][1].update(identifiers=["HORIZON.*"]),
            "should match pattern",
        ),
        (
            lambda d: d["applicants"]["only"][4].update(identifiers=[]),
            "needs 'any' terms, 'identifiers' or 'hosts'",
        ),
        (
            lambda d: d["applicants"]["only"][1].update(identifiers=["HORIZON-*"]),
            "'identifiers' and 'hosts' cannot be used with 'when_missing'",
        ),
        (lambda d: d["applicants"]["only"][0].update(kinds=["blog"]), "'call' or 'news'"),
    ],
)
def test_config_check_refuses_bad_rule_kinds(change, message):
    data = yaml.safe_load((FILES / "needs.yaml").read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(ValidationError, match=message):
        NeedsFile.model_validate(data)


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("ERASMUS", "ERASMUS"),
        ("erasmus", "ERASMUS"),
        ("Erasmus+", "ERASMUS"),
        ("EU4Health", "EU4H"),
        ("Creative  Europe", "CREA"),
        ("European Solidarity Corps", "ESC"),
        ("Interreg Europe", "INTERREG"),
        ("Interreg Öresund-Kattegat-Skagerrak", "INTERREG"),
        ("ESF+", "ESF"),
        ("Leader", "LEADER"),
        ("Nordplus", None),
        ("", None),
    ],
)
def test_programme_names_are_read_as_their_codes(given, code):
    assert programme_code(given) == code


@pytest.mark.parametrize(
    ("title", "code"),
    [
        ("Erasmus+ – Small-scale partnerships", "ERASMUS"),
        ("Erasmus Plus: pilot project on apprentices", "ERASMUS"),
        ("Interreg Europe third call", "INTERREG"),
        ("Creative Europe: Culture Moves Europe", "CREA"),
        ("Digital skills for teachers", None),  # DIGITAL is also a word
        ("Quality of LIFE in old age", None),
        ("Horizon Europe Cluster 2", "HORIZON"),
        (None, None),
    ],
)
def test_a_title_names_the_programme_when_the_call_gives_none(title, code):
    assert programme_in_title(title) == code


def test_the_title_s_programme_is_used_only_without_programme_or_identifier(compiled):
    call = {"title": "Erasmus+ school exchanges", "language": "en"}
    assert evaluate(compiled, call).programme == "ERASMUS"
    assert evaluate(compiled, dict(call, programme="CERV")).programme == "CERV"
    assert evaluate(compiled, dict(call, identifier="LIFE-2027-SAP-NAT")).programme == "LIFE"


def test_the_municipality_s_own_site_is_restricted_by_its_host(compiled):
    call = {
        "title": "Föreningsbidrag – vänorter",
        "url": "https://www.lidkoping.se/bidrag/foreningsbidrag",
        "language": "sv",
        "description": "Kommunen ger bidrag till föreningar i kommunen.",
    }
    assert _tags(compiled, call) == {}
    assert (
        "Who may apply: the municipality's own grants ('lidkoping.se' in url ('www.lidkoping.se'))"
    ) in _explained(compiled, call)
    elsewhere = dict(call, url="https://www.lansstyrelsen.se/vastra-gotaland/bidrag")
    assert "kommunledning" in _tags(compiled, elsewhere)


def test_another_municipality_s_own_page_is_another_place(compiled):
    call = {
        "title": "Vänortsbidrag – Kungälvs kommun",
        "language": "sv",
        "description": "Bidrag för vänortsutbyten.",
    }
    assert _tags(compiled, call) == {}
    assert "Where: another region: Kungälvs kommun" in _explained(compiled, call)
    # named only in the text, the municipality is a mention
    mention = dict(call, title="Vänortsbidrag", description="Som i Kungälvs kommun.")
    assert "kommunledning" in _tags(compiled, mention)


def test_a_call_that_names_its_programme_is_matched_as_the_code(compiled):
    call = {"title": "Ansök", "language": "sv", "programme": "Lokala naturvårdssatsningen"}
    assert "miljo" in _tags(compiled, call)
    assert evaluate(compiled, dict(call, programme="Nordplus")).programme == "Nordplus"
