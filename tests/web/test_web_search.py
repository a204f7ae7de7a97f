"""Free-text search on the overview: SQLite's FTS5 index and PostgreSQL's full-text search
(migration 0003), over title, summary and description, in Swedish and English. Runs on both
databases (marked storage; BEVAKA_TEST_DATABASE_URL selects PostgreSQL)."""

from __future__ import annotations

import re

from web_support import add_call


def titles(html: str) -> list[str]:
    return re.findall(r'class="title">([^<]+)</a>', html)


def _seed(session):
    add_call(
        session,
        external_id="VGR-1",
        title="Projektstöd för hållbara platser",
        summary="Stöd till kommuner som vill utveckla mötesplatser på landsbygden.",
        source="vgr",
        deadlines=[],
        status="open",
    )
    add_call(
        session,
        external_id="LIFE-2",
        title="LIFE Climate adaptation",
        description="Funding for municipalities adapting to heavy rainfall and flooding.",
        deadlines=[],
        status="open",
    )
    add_call(
        session,
        external_id="ESF-3",
        title="Digital kompetens i välfärden",
        description="Kompetensutveckling för medarbetare i äldreomsorgen.",
        deadlines=[],
        status="open",
    )


def test_search_finds_words_in_title_summary_and_description(client, session):
    _seed(session)
    assert titles(client.get("/?q=landsbygden").text) == ["Projektstöd för hållbara platser"]
    assert titles(client.get("/?q=flooding").text) == ["LIFE Climate adaptation"]
    assert titles(client.get("/?q=äldreomsorgen").text) == ["Digital kompetens i välfärden"]
    # every word must occur; punctuation and SQL are just separators
    assert titles(client.get("/?q=digital kompetens").text) == ["Digital kompetens i välfärden"]
    assert titles(client.get("/?q=digital flooding").text) == []
    assert titles(client.get("/?q=%22%27%3B%20DROP%20TABLE%20call%3B--").text) == []
    assert len(titles(client.get("/?q=%2A%2A%2A").text)) == 3  # no words: no search


def test_search_follows_word_forms_and_a_changed_text(client, session):
    _seed(session)
    # Swedish and English forms: "kommun" finds "kommuner", "municipal" finds
    # "municipalities" (FTS5 by prefix, PostgreSQL by stem and prefix)
    assert titles(client.get("/?q=kommun").text) == ["Projektstöd för hållbara platser"]
    assert titles(client.get("/?q=municipal").text) == ["LIFE Climate adaptation"]
    # the index follows an update of the call (a recrawl)
    add_call(
        session,
        external_id="ESF-3",
        title="Digital kompetens i skolan",
        description="Kompetensutveckling för lärare.",
        deadlines=[],
        status="open",
    )
    assert titles(client.get("/?q=äldreomsorgen").text) == []
    assert titles(client.get("/?q=lärare").text) == ["Digital kompetens i skolan"]


def test_overview_shows_the_budget(client, seeded):
    html = client.get("/").text
    assert '<th scope="col">Budget</th>' in html
    row = html.split("Skolutveckling i Europa", 1)[1].split("</tr>", 1)[0]
    assert "4\u00a0000\u00a0000\u00a0€" in row
