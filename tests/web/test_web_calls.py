"""The calls overview and a call's page, through the real app on the test database."""

from __future__ import annotations

import base64
import re

import pytest
from web_support import add_call, make_config

from web.app import WebConfigError, create_app


def titles(html: str) -> list[str]:
    return re.findall(r'class="title">([^<]+)</a>', html)


def test_overview_lists_open_and_forthcoming_calls_by_deadline(client, seeded):
    response = client.get("/")
    assert response.status_code == 200
    assert titles(response.text) == [
        "Skolutveckling i Europa",
        "Klimatanpassning i kommuner",
        "Digitala tjänster för medborgare",
        "Integration utan datum",
    ]
    assert "Stängd klimatutlysning" not in response.text  # closed
    assert "Nyhet: ny klimatutlysning" not in response.text  # news items are not calls
    # Swedish dates in Stockholm time (16:00 UTC = 17.00 CET), days left from the app's clock
    assert "15 mars 2027 kl. 17.00" in response.text
    assert "14 dagar kvar" in response.text
    assert "öppnar 1 april 2027" in response.text
    assert '<html lang="sv">' in response.text


@pytest.mark.parametrize(
    "query,expected",
    [
        ("forvaltning=utbildning", ["Skolutveckling i Europa"]),
        ("forvaltning=samhallsbyggnad", ["Klimatanpassning i kommuner"]),
        ("amne=klimat", ["Klimatanpassning i kommuner"]),
        ("amne=integration", ["Integration utan datum"]),
        ("program=DIGITAL", ["Digitala tjänster för medborgare"]),
        ("kalla=vinnova", ["Digitala tjänster för medborgare"]),
        ("inom=30", ["Skolutveckling i Europa"]),
        ("inom=180", ["Skolutveckling i Europa", "Klimatanpassning i kommuner"]),
        ("amne=klimat&program=ERASMUS", []),
    ],
)
def test_overview_filters(client, seeded, query, expected):
    response = client.get(f"/?{query}")
    assert response.status_code == 200
    assert titles(response.text) == expected


def test_unknown_filter_values_are_ignored_not_errors(client, seeded):
    response = client.get("/?forvaltning=nope&inom=abc&program=<x>")
    assert response.status_code == 200
    assert len(titles(response.text)) == 4
    assert "<x>" not in response.text
    # ... but not silently: the page names what it did not use
    assert "Filtret känner inte till" in response.text
    assert "Förvaltning ”nope”" in response.text and "&lt;x&gt;" in response.text
    assert "Filtret känner inte till" not in client.get("/?forvaltning=utbildning").text


def test_filter_form_offers_configured_and_stored_choices(client, seeded):
    html = client.get("/?forvaltning=utbildning").text
    assert '<option value="utbildning" selected>Utbildningsförvaltningen</option>' in html
    assert '<option value="klimat">Klimat och miljö</option>' in html
    assert '<option value="LIFE">LIFE</option>' in html
    assert '<label for="forvaltning">Förvaltning</label>' in html
    # the chosen förvaltning's calendar
    assert 'href="/kalender/forvaltning/utbildning.ics"' in html
    assert "/kalender/forvaltning/" not in client.get("/").text


def test_call_page_shows_data_history_tags_reasons_and_mentions(client, seeded):
    call = seeded["climate"]
    response = client.get(f"/utlysning/{call.id}")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Klimatanpassning i kommuner</h1>" in html
    # the deadline change recorded by the second crawl, old → new, in Swedish
    assert "Ändringar" in html
    history = html.split("Ändringar", 1)[1]
    assert "Sista ansökningsdag" in history
    assert "20 maj 2027 kl. 18.00" in history and "3 juni 2027 kl. 18.00" in history
    # tags with why they matched
    assert "Klimat och miljö" in html and "Samhällsbyggnadsförvaltningen" in html
    assert (
        "behovet <strong>Klimat</strong>: ”klimat*” (hittade ”Klimatanpassning”) i titeln" in html
    )
    # the news item that mentions it
    assert "Även omnämnd av" in html
    assert f'href="/utlysning/{seeded["news"].id}"' in html
    assert (
        'href="https://ec.europa.eu/topic/LIFE-CLIMATE" rel="noopener noreferrer external"' in html
    )


def test_call_page_budget_in_swedish(client, seeded):
    html = client.get(f"/utlysning/{seeded['school'].id}").text
    assert "4\u00a0000\u00a0000\u00a0€" in html
    assert "Inga ändringar sedan utlysningen först hittades." in html


def test_unknown_call_is_a_swedish_404(client, seeded):
    for path in ("/utlysning/999999", "/utlysning/abc", "/finns-inte"):
        response = client.get(path)
        assert response.status_code == 404
        assert "finns inte" in response.text


def test_scraped_strings_are_escaped_and_only_http_links_rendered(client, session):
    call = add_call(
        session,
        external_id="EVIL",
        title='<script>alert("x")</script> Klimat',
        summary='<img src=x onerror="alert(1)">',
        deadlines=[],
        status="open",
        tags={"klimat": "topic"},
        url="https://example.org/ok",
    )
    # A javascript: URL cannot enter through CallData; simulate a bad stored value.
    call.url = "javascript:alert(1)"
    session.add(call)
    session.commit()
    overview = client.get("/").text
    assert "<script>alert" not in overview
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Klimat" in overview
    page = client.get(f"/utlysning/{call.id}").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert 'href="javascript:' not in page
    assert "javascript:alert(1)" in page  # shown as text, not as a link


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_optional_basic_auth_guards_the_calls_pages(
    config_dir, db_url, tmp_path, engine, clock, seeded
):
    from fastapi.testclient import TestClient

    config = make_config(config_dir, db_url, tmp_path, basic_auth_user="intl")
    app = create_app(config, engine, clock=clock, environ={"BEVAKA_WEB_PASSWORD": "hemligt"})
    with TestClient(app) as client:
        denied = client.get("/")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == 'Basic realm="Bevaka"'
        assert "Inloggning krävs" in denied.text
        assert client.get("/", headers=_basic("intl", "fel")).status_code == 401
        assert client.get("/", headers=_basic("x", "hemligt")).status_code == 401
        ok = client.get("/", headers=_basic("intl", "hemligt"))
        assert ok.status_code == 200 and "Skolutveckling i Europa" in ok.text
        assert client.get(f"/utlysning/{seeded['school'].id}").status_code == 401
        assert client.get("/kalender/forvaltning/utbildning.ics").status_code == 401
        # sign-up, subscriber links and monitoring work without the password
        assert client.get("/registrera").status_code == 200
        assert client.get("/health").status_code == 200


def test_basic_auth_user_without_password_refuses_to_start(config_dir, db_url, tmp_path, engine):
    config = make_config(config_dir, db_url, tmp_path, basic_auth_user="intl")
    with pytest.raises(WebConfigError, match="BEVAKA_WEB_PASSWORD"):
        create_app(config, engine, environ={})


def test_missing_secret_key_refuses_to_start(web_config, engine):
    settings = web_config.settings.model_copy(update={"secret_key": None})
    config = type(web_config)(web_config.directory, settings, web_config.sources, web_config.needs)
    with pytest.raises(WebConfigError, match="BEVAKA_SECRET_KEY"):
        create_app(config, engine)


def test_overview_says_when_it_shows_only_the_first_calls(client, seeded, monkeypatch):
    import web.pages

    monkeypatch.setattr(web.pages, "OVERVIEW_LIMIT", 2)
    html = client.get("/").text
    assert titles(html) == ["Skolutveckling i Europa", "Klimatanpassning i kommuner"]
    assert "(de 2 första; filtrera för att se fler)" in html


def test_news_item_that_mentions_no_call_is_listed_and_its_source_filter_finds_it(
    client, session, seeded
):
    add_call(
        session,
        external_id="esf-news-1",
        title="Kommande utlysning: Digital kompetens i välfärden",
        kind="news",
        source="esf_nyheter",
        status="open",
        tags={"digitalisering": "topic"},
    )
    everything = titles(client.get("/").text)
    assert "Kommande utlysning: Digital kompetens i välfärden" in everything
    assert "Nyhet: ny klimatutlysning från LIFE" not in everything  # shown under its call
    assert titles(client.get("/?kalla=esf_nyheter").text) == [
        "Kommande utlysning: Digital kompetens i välfärden"
    ]


def test_forthcoming_call_is_open_on_its_opening_day(client, seeded, clock):
    clock.now = seeded["digital"].opens_at  # 1 April 2027, the day it opens
    html = client.get("/").text
    row = html.split("Digitala tjänster för medborgare", 1)[1].split("</tr>", 1)[0]
    assert "Öppen" in row and "öppnar 1 april 2027" not in row
    page = client.get(f"/utlysning/{seeded['digital'].id}").text
    assert 'class="status status-open"' in page


def test_call_page_names_funder_and_programme_apart_and_lists_decisions(
    client, session, seeded, web_config
):
    from web_support import NOW, SECRET, make_subscriber

    from followup.decisions import DecisionInput, record_decision
    from notifications.tokens import make_call_token

    school = seeded["school"]
    html = client.get(f"/utlysning/{school.id}").text
    assert "<dt>Finansiär</dt><dd>EU</dd>" in html and "<dt>Program</dt><dd>Erasmus+</dd>" in html
    assert "Ingen förvaltning har registrerat något val ännu." in html
    record_decision(
        session=session,
        call_id=school.id,
        department="utbildning",
        data=DecisionInput(status="pursuing"),
        actor="anna@lidkoping.se",
        now=NOW,
    )
    sub = make_subscriber(
        session, web_config, "anna@lidkoping.se", name="Anna", department="utbildning"
    )
    html = client.get(f"/utlysning/{school.id}").text
    assert "Utbildningsförvaltningen: Vi söker (1 mars 2027)" in html
    assert "/val/" not in html  # no reader's link: no choices offered
    token = make_call_token(
        SECRET, purpose="act", subscriber_id=sub.id, version=1, call_id=school.id
    )
    html = client.get(f"/utlysning/{school.id}?lank={token}").text
    assert "Vad gör Utbildningsförvaltningen med utlysningen?" in html
    assert f"/utlysning/{school.id}/val/{token}?val=inte-aktuellt" in html
    # a token for another call offers nothing here
    other = make_call_token(
        SECRET, purpose="act", subscriber_id=sub.id, version=1, call_id=school.id + 1
    )
    assert "/val/" not in client.get(f"/utlysning/{school.id}?lank={other}").text
