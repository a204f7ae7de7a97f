"""What a reader sees in an entry and a subject: pure functions, on real page text from the
recorded sources (crawler/recordings)."""

from __future__ import annotations

from datetime import UTC, datetime

from notifications.digest import make_subject, match_places
from notifications.example import example_config
from notifications.facts import (
    amount_per_project,
    call_facts,
    cofinancing_rate,
    first_sentences,
    who_can_apply,
)


def test_subject_is_swedish_for_one_and_says_no_zero():
    config = example_config()
    subject = lambda n: make_subject(config, week=49, count=n, audience="Utbildningsförvaltningen")  # noqa: E731
    assert subject(1) == "Bevaka v. 49: 1 ny utlysning för Utbildningsförvaltningen"
    assert subject(2) == "Bevaka v. 49: 2 nya utlysningar för Utbildningsförvaltningen"
    assert subject(0) == "Bevaka v. 49: veckans utlysningar för Utbildningsförvaltningen"


def test_matches_show_need_and_place_never_rule_terms():
    reasons = [
        {"need": "Klimatanpassning", "term": "skyfall*", "field": "title", "match": "Skyfall"},
        {"need": "Klimatanpassning", "term": '"skola"', "field": "title"},
        {"need": "Klimatanpassning", "term": "klimat*", "field": "description", "new": 1},
        "not a mapping",
    ]
    places = match_places(reasons, "Klimat och miljö")
    assert places == ("Klimatanpassning, i titeln", "Klimatanpassning, i beskrivningen")
    assert not any("*" in p or '"' in p for p in places)
    assert match_places(None, "x") == ()
    # a programme default named by the call's identifier: the place, never the pattern
    mission = [
        {
            "need": "Program eller finansiär: EU-uppdraget klimatanpassning",
            "term": "HORIZON-MISS-*-CLIMA-0*",
            "field": "identifier",
            "match": "HORIZON-MISS-2026-01-CLIMA-02",
        }
    ]
    assert match_places(mission, "Klimat och miljö") == (
        "Program eller finansiär: EU-uppdraget klimatanpassning, i utlysningens beteckning",
    )


ESF = (
    "Kommuner och regioner kan söka stöd för att stärka medarbetarnas digitala kompetens i "
    "skola, vård och omsorg. Sista ansökningsdag: 8 april 2027. Hur mycket kan ni söka? "
    "Totalt 45 miljoner kronor. Medfinansieringsgraden från ESF+ är 53 procent."
)
LANSSTYRELSEN = (
    "Kommuner kan söka bidrag för naturvård och friluftsliv. Ansök senast 1 februari 2027. "
    "Bidraget är högst 50 procent av kostnaden. Totalt finns 4 miljoner kronor i länet."
)
VINNOVA = "Ni kan söka upp till 2 miljoner kronor per projekt; totalt finns 10 miljoner kronor."


def test_facts_from_the_sources_own_words():
    assert first_sentences(ESF, 1) == (
        "Kommuner och regioner kan söka stöd för att stärka medarbetarnas digitala kompetens i "
        "skola, vård och omsorg."
    )
    assert who_can_apply([ESF]).startswith("Kommuner och regioner kan söka stöd")
    assert who_can_apply(["Vem kan söka? Offentliga och privata organisationer. Mer text."]) == (
        "Offentliga och privata organisationer."
    )
    assert cofinancing_rate([ESF]) == "53 %"
    assert cofinancing_rate([LANSSTYRELSEN]) == "högst 50 %"
    assert amount_per_project([VINNOVA]) == "upp till 2 miljoner kronor per projekt"
    assert amount_per_project(["Högst 1,5 mkr per projekt."]) == "Högst 1,5 mkr per projekt"
    # nothing is guessed where the text says nothing
    assert call_facts(["Utlysningen öppnar i vår.", None]) == ()


def test_report_names_ties_and_reads_the_reason_as_swedish():
    from zoneinfo import ZoneInfo

    from followup.report import AnnualReport, Row, summary_text

    report = AnnualReport(
        year=2026, generated_at=datetime(2027, 1, 12, tzinfo=UTC), tz=ZoneInfo("Europe/Stockholm")
    )
    report.calls_surfaced = 16
    report.by_programme = [Row(k, k, 4) for k in ("Erasmus+", "LIFE", "AMIF", "Interreg")]
    report.by_status = [Row("declined", "Avstår", 3)]
    report.declined_reasons = [
        Row("no_cofinancing", "Saknar medfinansiering", 2),
        Row("other", "Annat skäl", 1),
    ]
    text = summary_text(report)
    assert "Flest utlysningar kom från Erasmus+, LIFE, AMIF och Interreg (4 vardera)." in text
    assert "det vanligaste skälet var att medfinansiering saknades (2)" in text
