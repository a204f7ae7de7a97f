"""axe-core on every page a representative meets, in Debian's headless Chromium, and the
decision history on a phone-width screen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_support import AXE, assert_accessible
from test_web_browser import CHROMIUM, live_app, page  # noqa: F401 - fixtures
from web_support import NOW, SECRET

from followup.decisions import DecisionInput, record_decision
from notifications.subscribers import add_subscriber
from notifications.tokens import make_call_token, make_token

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"),
    pytest.mark.skipif(not AXE.exists(), reason="needs node_modules/axe-core (make browser)"),
]


def test_every_page_passes_axe_and_history_fits_a_phone(live_app, page, session, seeded):  # noqa: F811
    from playwright.sync_api import expect

    config = live_app["config"]
    base = live_app["base"]
    anna = add_subscriber(
        session=session,
        needs=config.needs,
        email="anna.berg@lidkoping.se",
        name="Anna Berg",
        now=NOW - timedelta(days=3),
        department="utbildning",
        topics=["klimat"],
    )
    school = seeded["school"]
    for i, status in enumerate(["noted", "considering", "pursuing", "applied"]):
        record_decision(
            session=session,
            call_id=school.id,
            department="utbildning",
            data=DecisionInput(
                status=status,
                applied_sek=1_250_000 if status == "applied" else None,
                note="Samordnas med grundskolan och gymnasiet i Lidköping",
            ),
            actor="anna.berg.med.ett.langt.namn@lidkoping.se",
            now=NOW - timedelta(days=3 - i),
        )
    session.commit()
    prefs = make_token(SECRET, purpose="prefs", subscriber_id=anna.id, version=1)
    act = make_call_token(
        SECRET, purpose="act", subscriber_id=anna.id, version=1, call_id=school.id
    )
    pages = {
        "/": "Utlysningar",
        "/?forvaltning=okand": "Utlysningar",
        f"/utlysning/{school.id}": "Skolutveckling i Europa",
        f"/utlysning/{school.id}?lank={act}": "Skolutveckling i Europa",
        f"/utlysning/{school.id}/val/{act}?val=soker": "Förvaltningens val",
        f"/utlysning/{school.id}/dela/{act}": "Dela med en kollega",
        f"/utlysning/{school.id}/beslut/{prefs}": "Förvaltningens beslut",
        f"/utlysning/{school.id}/analys/{prefs}": "Nytto- och riskanalys",
        f"/utlysning/{school.id}/analys/{prefs}/utskrift": "Nytto- och riskanalys",
        f"/prenumeration/{prefs}": "Din prenumeration",
        "/registrera": "Prenumerera",
    }
    for path, heading in pages.items():
        page.goto(base + path)
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        assert_accessible(page)

    page.goto(base + "/registrera")
    page.get_by_label("E-postadress").fill("eva@lidkoping.se")
    page.get_by_role("button", name="Skicka länk").click()
    expect(page.get_by_role("heading", name="Kolla din e-post")).to_be_visible()
    assert_accessible(page)

    # the decision history on a phone (390 px): nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/utlysning/{school.id}/beslut/{prefs}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
