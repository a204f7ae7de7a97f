"""Swedish budget prose: the call's total and a cap per project told apart (crawler.amounts).
The texts are from real Tillväxtverket and Vinnova pages (the search tool's pages corpus)
unless marked otherwise."""

from __future__ import annotations

import pytest

from crawler.amounts import amounts, budget_amounts


@pytest.mark.parametrize(
    ("text", "total", "cap"),
    [
        # reported from tillvaxtverket.se: a decimal comma and no "kronor"; a förstudie cap
        ("Totalt fördelas 57,7 miljoner. Ni kan söka högst 744 000 kr per förstudie.", 57.7e6, 744e3),
        ("Totalt fördelas 60 miljoner kronor, maximalt kan beviljas 40 procent av projektets totala budget", 60e6, None),
        ("De kan maximalt få 400 000 kronor i EU-stöd från Tillväxtverket.", None, 400e3),
        ("40 procent av era projektkostnader", None, None),
        (
            "Det går att söka upp till 2 mkr i bidrag per projekt. Det krävs även egen "
            "finansiering. Utlysningens preliminära budget är 10 mkr.",
            10e6,
            2e6,
        ),
        ("Bidraget per projekt kan som högst uppgå till 1.5 miljoner kronor.", None, 1.5e6),
        ("Projekt kan söka bidrag upp till 700 000 kronor per projekt.", None, 700e3),
        # written for the test: a total and, in the same sentence, a cap after "varav högst"
        ("Totalt fördelas 45 miljoner kronor, varav högst 3 miljoner kronor per projekt", 45e6, 3e6),
        ("Den totala budgeten för utlysningen är 10 miljoner kronor.", 10e6, None),
    ],
)  # fmt: skip
def test_total_and_cap_per_project(text, total, cap):
    assert budget_amounts(text) == (total, cap)


def test_thousands_with_spaces_and_units():
    found = amounts("744 000 kr, 2 MSEK, 3 mnkr, 1 miljard kronor och 500 000 kronor")
    assert [a.value for a in found] == [744e3, 2e6, 3e6, 1e9, 500e3]
    assert {a.currency for a in found} == {"SEK"}


def test_no_text_no_amounts():
    assert amounts(None) == [] and budget_amounts("") == (None, None)
