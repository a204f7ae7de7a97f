"""Browser tests in real headless Chromium (Debian's package, driven by Playwright; never
downloaded): sign up, follow the link mailed to a real local SMTP server, choose topics, see
the change in the database, unsubscribe with one click.

The app runs under uvicorn in a thread on a free port. Set BEVAKA_WRITE_SCREENSHOTS=1 to
also write the overview and preferences screenshots to docs/ (web-overview.png,
web-preferences.png).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlmodel import select
from web_support import NOW, SECRET, make_config

from notifications.subscribers import add_subscriber, topics_of
from notifications.tokens import make_token
from storage.models import Subscriber
from web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"),
]


@pytest.fixture
def live_app(config_dir, db_url, tmp_path, engine, clock, smtp_server) -> Iterator[dict]:
    """The app on a real port (uvicorn in a thread), mailing through the real SMTP server."""
    controller, sink = smtp_server
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening before the thread starts: no waiting for readiness
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = make_config(config_dir, db_url, tmp_path)
    settings = config.settings.model_copy(
        update={
            "public_url": base,
            "smtp": config.settings.smtp.model_copy(
                update={"host": controller.hostname, "port": controller.port, "security": "none"}
            ),
        }
    )
    config = type(config)(config.directory, settings, config.sources, config.needs)
    app = create_app(config, engine, clock=clock, environ={})
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield {"base": base, "mail": sink.messages, "config": config}
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(locale="sv-SE", viewport={"width": 1200, "height": 900})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def _screenshot(page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("BEVAKA_WRITE_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name), full_page=True)


def test_sign_up_choose_topics_and_unsubscribe(live_app, page, session, seeded, tmp_path):
    from playwright.sync_api import expect

    base = live_app["base"]
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", name="Utlysningar", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Skolutveckling i Europa")).to_be_visible()
    _screenshot(page, "web-overview.png", tmp_path)

    # sign up
    page.get_by_role("link", name="Prenumerera").click()
    page.get_by_label("E-postadress").fill("anna.berg@lidkoping.se")
    page.get_by_role("button", name="Skicka länk").click()
    expect(page.get_by_role("heading", name="Kolla din e-post")).to_be_visible()

    # the mail arrived at the real SMTP server; follow its link
    [message] = live_app["mail"]
    assert message["To"] == "anna.berg@lidkoping.se"
    text = message.get_body(preferencelist=("plain",)).get_content()
    link = next(w for w in text.split() if w.startswith(f"{base}/prenumeration/"))
    page.goto(link)
    expect(page.get_by_role("heading", name="Din prenumeration")).to_be_visible()

    # choose a förvaltning and topics, save
    page.get_by_label("Namn").fill("Anna Berg")
    page.get_by_label("Förvaltning").select_option("utbildning")
    page.get_by_label("Klimat och miljö").check()
    page.get_by_label("Digitalisering").check()
    page.get_by_role("button", name="Spara").click()
    expect(page.get_by_text("Dina val är sparade.")).to_be_visible()
    expect(page.get_by_label("Klimat och miljö")).to_be_checked()

    session.expire_all()
    sub = session.exec(select(Subscriber)).one()
    assert (sub.email, sub.name, sub.department, sub.active) == (
        "anna.berg@lidkoping.se",
        "Anna Berg",
        "utbildning",
        True,
    )
    assert topics_of(session=session, subscriber_id=sub.id) == ["digitalisering", "klimat"]
    # the preview of the next digest shows the matched calls
    expect(page.get_by_role("heading", name="Nästa sammanfattning")).to_be_visible()
    expect(page.locator("section.preview").get_by_text("Skolutveckling i Europa")).to_be_visible()
    _screenshot(page, "web-preferences.png", tmp_path)

    # unsubscribe: the link shows a page with a button; the button unsubscribes at once
    page.get_by_role("link", name="Sluta prenumerera").click()
    expect(page.get_by_role("button", name="Avregistrera mig")).to_be_visible()
    session.expire_all()
    assert session.get(Subscriber, sub.id).unsubscribed_at is None
    page.get_by_role("button", name="Avregistrera mig").click()
    expect(page.get_by_role("heading", name="Du är avregistrerad")).to_be_visible()
    session.expire_all()
    sub = session.get(Subscriber, sub.id)
    assert sub.unsubscribed_at is not None and sub.active is False and sub.token_version == 2


def test_forged_link_shows_a_swedish_error_page(live_app, page, session):
    sub = add_subscriber(
        session=session,
        needs=live_app["config"].needs,
        email="eva@skara.se",
        name="Eva",
        now=NOW,
        topics=["klimat"],
    )
    session.commit()
    token = make_token(SECRET, purpose="prefs", subscriber_id=sub.id, version=1, now=NOW)
    page.goto(f"{live_app['base']}/prenumeration/{token[:-4]}abcd")
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Länken fungerar inte")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Inget har ändrats")
    session.expire_all()
    assert topics_of(session=session, subscriber_id=sub.id) == ["klimat"]


def test_keyboard_skip_link(live_app, page):
    from playwright.sync_api import expect

    page.goto(f"{live_app['base']}/registrera")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Hoppa till innehållet")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("E-postadress")).to_be_focused()
