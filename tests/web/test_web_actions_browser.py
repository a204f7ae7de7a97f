"""Acting on a call from the digest, in Debian's headless Chromium (Playwright): the digest's
"Vi undersöker" link opens a page that changes nothing; its one button records the decision;
the next digest shows it; sharing mails a colleague. axe-core finds no violations on the
digest HTML and the pages on the way.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axe_support import AXE, assert_accessible
from sqlmodel import select
from test_web_browser import CHROMIUM, _screenshot, live_app, page  # noqa: F401 - fixtures
from web_support import NOW

from notifications.digest import build_digest
from notifications.render import render_digest
from notifications.subscribers import add_subscriber
from storage.models import Decision

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"),
    pytest.mark.skipif(not AXE.exists(), reason="needs node_modules/axe-core (make browser)"),
]


def _link(html: str, call_id: int, label: str) -> str:
    match = re.search(rf'href="([^"]+/utlysning/{call_id}/(?:val|dela)/[^"]+)"[^>]*>{label}<', html)
    assert match, f"no {label!r} link for call {call_id}"
    return match.group(1).replace("&amp;", "&")


def test_act_from_the_digest_then_share(live_app, page, session, seeded, clock, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    config = live_app["config"]
    anna = add_subscriber(
        session=session,
        needs=config.needs,
        email="anna.berg@lidkoping.se",
        name="Anna Berg",
        now=NOW - timedelta(days=30),
        department="utbildning",
    )
    session.commit()
    school = seeded["school"]
    digest = build_digest(session=session, config=config, subscriber=anna, now=NOW)
    html = render_digest(digest).html

    # the digest itself passes axe
    page.set_content(html)
    assert_accessible(page)
    link = _link(html, school.id, "Vi undersöker")

    # a GET (what a mail scanner does) changes nothing and preselects the choice
    page.goto(link)
    expect(page.get_by_role("heading", name="Förvaltningens val", level=1)).to_be_visible()
    expect(page.get_by_label("Vi undersöker")).to_be_checked()
    assert session.exec(select(Decision)).all() == []
    assert_accessible(page)
    _screenshot(page, "web-choice.png", tmp_path)

    # the one button records it: who and when
    clock.advance(minutes=5)
    page.get_by_role("button", name="Spara valet").click()
    expect(page.get_by_role("status")).to_contain_text("Valet är sparat")
    session.expire_all()
    [row] = session.exec(select(Decision)).all()
    assert (row.call_id, row.department, row.status, row.actor) == (
        school.id,
        "utbildning",
        "considering",
        "anna.berg@lidkoping.se",
    )
    assert row.created_at == NOW + timedelta(minutes=5)
    expect(page.locator("#nuvarande")).to_contain_text("Vi undersöker")
    # Bevaka's call page from the reader's own link: the choices and what was chosen
    page.get_by_role("link", name="Visa i Bevaka").click()
    expect(page.get_by_role("link", name="Vi söker")).to_be_visible()
    expect(page.get_by_text("Utbildningsförvaltningen: Vi undersöker")).to_be_visible()
    assert_accessible(page)
    _screenshot(page, "web-call.png", tmp_path)

    # next week's digest shows it, on the entry and among the week's decisions
    later = build_digest(
        session=session, config=config, subscriber=anna, now=NOW + timedelta(days=7)
    )
    next_html = render_digest(later).html
    assert "Utbildningsförvaltningen: Vi undersöker" in next_html
    assert "Veckans beslut" in next_html
    assert "Skolutveckling i Europa – Utbildningsförvaltningen: Vi undersöker" in next_html

    # "Inte aktuellt" needs a reason: refused without one, recorded with one
    page.goto(_link(html, school.id, "Inte aktuellt"))
    expect(page.get_by_label("Inte aktuellt")).to_be_checked()
    page.get_by_role("button", name="Spara valet").click()
    expect(page.get_by_role("alert")).to_contain_text("Ange varför")
    page.get_by_label("Skäl (när utlysningen inte är aktuell)").select_option("no_capacity")
    page.get_by_role("button", name="Spara valet").click()
    expect(page.get_by_role("status")).to_contain_text("Valet är sparat")
    session.expire_all()
    statuses = [d.status for d in session.exec(select(Decision).order_by(Decision.id))]
    assert statuses == ["considering", "declined"]

    # share with a colleague: only allowed domains; the colleague gets the call by mail
    page.goto(_link(html, school.id, "Dela med en kollega"))
    assert_accessible(page)
    page.get_by_label("Kollegans e-postadress").fill("someone@example.com")
    page.get_by_role("button", name="Skicka").click()
    expect(page.get_by_role("alert")).to_contain_text("kommunens domäner")
    assert live_app["mail"] == []
    page.get_by_label("Kollegans e-postadress").fill("erik.lund@lidkoping.se")
    page.get_by_label("Meddelande (valfritt)").fill("Något för oss?")
    page.get_by_role("button", name="Skicka").click()
    expect(page.get_by_role("status")).to_contain_text("skickad till erik.lund@lidkoping.se")
    [mail] = live_app["mail"]
    assert mail["To"] == "erik.lund@lidkoping.se"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Anna Berg" in text and "Skolutveckling i Europa" in text and "Något för oss?" in text
    assert f"{live_app['base']}/utlysning/{school.id}" in text
