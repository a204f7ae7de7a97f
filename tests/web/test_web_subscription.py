"""Sign-up by mailed link, the preferences page and one-click unsubscribe (TestClient on the
real app and database; mail to the outbox folder or a real aiosmtpd server)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlmodel import Session, select
from web_support import (
    NOW,
    PUBLIC_URL,
    SECRET,
    add_call,
    csrf_from,
    mail_link,
    make_config,
    make_subscriber,
    outbox_messages,
)

from notifications.subscribers import topics_of
from notifications.tokens import make_token
from storage.models import Subscriber
from web.app import create_app


def sign_up(client: TestClient, email: str, **headers):
    page = client.get("/registrera")
    return client.post(
        "/registrera", data={"email": email, "csrf_token": csrf_from(page.text)}, headers=headers
    )


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def subscribers(session: Session) -> list[Subscriber]:
    session.expire_all()
    return list(session.exec(select(Subscriber).order_by(Subscriber.id)).all())


def token(purpose: str, sub: Subscriber, now: datetime = NOW, **kw) -> str:
    """A link token made at ``now`` (the app's clock starts at NOW)."""
    return make_token(
        SECRET, purpose=purpose, subscriber_id=sub.id, version=sub.token_version, now=now, **kw
    )


# --- sign-up ---------------------------------------------------------------------------


def test_sign_up_mails_a_link_on_the_public_url(client, outbox, session):
    response = sign_up(client, "Anna.Berg@Lidkoping.se")
    assert response.status_code == 200
    assert "Kolla din e-post" in response.text
    [message] = outbox_messages(outbox)
    assert message["To"] == "anna.berg@lidkoping.se"
    assert message["Subject"] == "Din länk till Bevaka"
    link = mail_link(message)
    assert link.startswith(f"{PUBLIC_URL}/prenumeration/")
    # following the link shows the form but creates nothing until it is saved
    page = client.get(path_of(link))
    assert page.status_code == 200
    assert "Välj vad du vill få" in page.text
    assert subscribers(session) == []


def test_sign_up_link_never_uses_the_host_header(client, outbox):
    sign_up(client, "anna@lidkoping.se", host="evil.example")
    [message] = outbox_messages(outbox)
    assert "evil.example" not in message.as_string()
    assert mail_link(message).startswith(PUBLIC_URL)


def test_same_answer_whether_or_not_the_address_exists(client, outbox, session, web_config):
    make_subscriber(session, web_config, email="finns@lidkoping.se", topics=["klimat"])
    known = sign_up(client, "finns@lidkoping.se")
    unknown = sign_up(client, "finns.inte@lidkoping.se")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("finns@", "X@") == unknown.text.replace("finns.inte@", "X@")
    assert len(outbox_messages(outbox)) == 2


def test_only_configured_domains_may_sign_up(client, outbox):
    for address in ("someone@gmail.com", "x@lidkoping.se.evil.com", "inte-en-adress"):
        response = sign_up(client, address)
        assert response.status_code == 400
        assert 'role="alert"' in response.text
    assert "Bara adresser i kommunernas domäner" in sign_up(client, "a@example.com").text
    assert outbox_messages(outbox) == []


def test_sign_up_needs_a_valid_csrf_token(client, outbox):
    client.get("/registrera")
    missing = client.post("/registrera", data={"email": "anna@lidkoping.se"})
    assert missing.status_code == 403
    assert "Inget har ändrats" in missing.text
    forged = client.post(
        "/registrera", data={"email": "anna@lidkoping.se", "csrf_token": "forged.token"}
    )
    assert forged.status_code == 403
    # a token that belongs to another browser's cookie is refused too
    with TestClient(client.app) as other:
        foreign = csrf_from(other.get("/registrera").text)
    stolen = client.post("/registrera", data={"email": "anna@lidkoping.se", "csrf_token": foreign})
    assert stolen.status_code == 403
    assert outbox_messages(outbox) == []


def test_sign_up_rate_limit_per_address_and_per_ip(client, outbox, clock, web_config):
    limit = web_config.settings.web.signup_rate_limit_per_hour
    for _ in range(limit):
        assert sign_up(client, "anna@lidkoping.se").status_code == 200
    blocked = sign_up(client, "ANNA@lidkoping.se")
    assert blocked.status_code == 429
    assert "För många försök" in blocked.text
    assert len(outbox_messages(outbox)) == limit
    # per IP: the same client has used its hour as well
    assert sign_up(client, "bertil@lidkoping.se").status_code == 429
    clock.advance(hours=1, seconds=1)
    assert sign_up(client, "anna@lidkoping.se").status_code == 200
    assert len(outbox_messages(outbox)) == limit + 1


def test_rate_limit_per_ip_across_addresses(client, outbox, web_config):
    limit = web_config.settings.web.signup_rate_limit_per_hour
    for n in range(limit):
        assert sign_up(client, f"person{n}@skara.se").status_code == 200
    assert sign_up(client, "ny@skara.se").status_code == 429
    assert len(outbox_messages(outbox)) == limit


def test_sign_up_mail_through_a_real_smtp_server(
    config_dir, db_url, tmp_path, engine, clock, smtp_server, session
):
    controller, sink = smtp_server
    config = make_config(config_dir, db_url, tmp_path)
    smtp = config.settings.smtp.model_copy(
        update={"host": controller.hostname, "port": controller.port, "security": "none"}
    )
    config = type(config)(
        config.directory,
        config.settings.model_copy(update={"smtp": smtp}),
        config.sources,
        config.needs,
    )
    with TestClient(create_app(config, engine, clock=clock, environ={})) as client:
        assert sign_up(client, "carl@vara.se").status_code == 200
        [message] = sink.messages
        assert message["To"] == "carl@vara.se"
        link = mail_link(message)
        page = client.get(path_of(link))
        assert page.status_code == 200 and "carl@vara.se" in page.text
    assert not (tmp_path / "outbox").exists()


def test_smtp_failure_is_a_polite_error(config_dir, db_url, tmp_path, engine, clock):
    from net_support import free_port

    config = make_config(config_dir, db_url, tmp_path)
    smtp = config.settings.smtp.model_copy(
        update={
            "host": "127.0.0.1",
            "port": free_port(),  # nothing listens here
            "security": "none",
            "retry_backoff_seconds": 0,
            "timeout_seconds": 5,
        }
    )
    config = type(config)(
        config.directory,
        config.settings.model_copy(update={"smtp": smtp}),
        config.sources,
        config.needs,
    )
    with TestClient(create_app(config, engine, clock=clock, environ={})) as client:
        response = sign_up(client, "carl@vara.se")
    assert response.status_code == 503
    assert "E-posten kunde inte skickas" in response.text


# --- the sign-up link and the preferences page ------------------------------------------


def follow_signup(client, outbox, email="anna.berg@lidkoping.se") -> str:
    sign_up(client, email)
    return path_of(mail_link(outbox_messages(outbox)[-1]))


def save(client, path, **data):
    page = client.get(path)
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_from(page.text), "name": "Anna Berg", "active": "1", **data}
    return client.post(path, data=form)


def test_signup_link_creates_the_subscriber_on_first_save(client, outbox, session):
    path = follow_signup(client, outbox)
    response = save(client, path, department="utbildning", topics=["klimat", "digitalisering"])
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/prenumeration/") and location.endswith("?sparat=1")
    [sub] = subscribers(session)
    assert (sub.email, sub.name, sub.department, sub.active) == (
        "anna.berg@lidkoping.se",
        "Anna Berg",
        "utbildning",
        True,
    )
    assert topics_of(session=session, subscriber_id=sub.id) == ["digitalisering", "klimat"]
    page = client.get(location)
    assert "Dina val är sparade" in page.text
    assert 'value="klimat" checked' in page.text
    assert '<option value="utbildning" selected>' in page.text
    # the mailed link keeps working after the first save: it leads to the preferences
    again = client.get(path)
    assert again.status_code == 200 and '<option value="utbildning" selected>' in again.text
    assert save(client, path, department="utbildning", topics=["klimat"]).status_code == 303
    assert len(subscribers(session)) == 1


def test_preferences_change_topics_department_and_pause(client, session, web_config):
    sub = make_subscriber(session, web_config, department="utbildning", topics=["klimat"])
    path = f"/prenumeration/{token('prefs', sub)}"
    response = save(client, path, department="", topics=["integration"], active="0")
    assert response.status_code == 303
    session.expire_all()
    sub = session.get(Subscriber, sub.id)
    assert sub.department is None and sub.active is False
    assert topics_of(session=session, subscriber_id=sub.id) == ["integration"]
    page = client.get(response.headers["location"])
    assert 'id="active-0" name="active" value="0" checked' in page.text
    save(client, path, department="samhallsbyggnad", active="1")
    session.expire_all()
    sub = session.get(Subscriber, sub.id)
    assert (sub.department, sub.active) == ("samhallsbyggnad", True)
    assert topics_of(session=session, subscriber_id=sub.id) == []


def test_preferences_need_a_department_or_a_topic(client, session, web_config):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    response = save(client, f"/prenumeration/{token('prefs', sub)}", department="")
    assert response.status_code == 400
    assert "Välj en förvaltning eller minst ett ämne" in response.text
    assert topics_of(session=session, subscriber_id=sub.id) == ["klimat"]


def test_unknown_keys_change_nothing(client, session, web_config):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    response = save(client, f"/prenumeration/{token('prefs', sub)}", topics=["klimat", "hack"])
    assert response.status_code == 400
    assert "Inget har ändrats" in response.text
    assert topics_of(session=session, subscriber_id=sub.id) == ["klimat"]


def test_preferences_post_needs_csrf(client, session, web_config):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    path = f"/prenumeration/{token('prefs', sub)}"
    client.get(path)
    response = client.post(path, data={"topics": ["integration"], "active": "1"})
    assert response.status_code == 403
    assert topics_of(session=session, subscriber_id=sub.id) == ["klimat"]


def test_preferences_page_previews_the_next_digest(client, session, web_config):
    sub = make_subscriber(session, web_config, department="utbildning", topics=[])
    add_call(
        session,
        external_id="SCHOOL-2",
        title="Lärarutbyte i Norden",
        deadlines=[datetime(2027, 3, 20, 16, tzinfo=UTC)],
        tags={"utbildning": "department"},
    )
    add_call(
        session,
        external_id="OTHER",
        title="Något helt annat",
        deadlines=[datetime(2027, 3, 20, 16, tzinfo=UTC)],
        tags={"klimat": "topic"},
    )
    html = client.get(f"/prenumeration/{token('prefs', sub)}").text
    preview = html.split("Nästa sammanfattning", 1)[1]
    assert "Lärarutbyte i Norden" in preview
    assert "Något helt annat" not in preview
    assert "20 mars 2027 kl. 17.00" in preview
    assert "/kalender/" in html and "/avregistrera/" in html


def test_existing_subscriber_gets_their_own_choices_from_a_signup_link(
    client, outbox, session, web_config
):
    make_subscriber(session, web_config, email="anna.berg@lidkoping.se", topics=["integration"])
    path = follow_signup(client, outbox, "anna.berg@lidkoping.se")
    page = client.get(path)
    assert 'value="integration" checked' in page.text
    save(client, path, topics=["klimat"])
    [sub] = subscribers(session)
    assert topics_of(session=session, subscriber_id=sub.id) == ["klimat"]


# --- forged, expired and dead links -----------------------------------------------------


def test_forged_token_gets_a_swedish_error_page_and_changes_nothing(client, session, web_config):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    good = token("prefs", sub)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    other_key = make_token("another-key", purpose="prefs", subscriber_id=sub.id, version=1)
    csrf = csrf_from(client.get("/registrera").text)
    for bad in (forged, other_key, "inte-en-token", "x" * 2000):
        page = client.get(f"/prenumeration/{bad}")
        assert page.status_code == 400
        assert "Länken fungerar inte" in page.text and "Inget har ändrats" in page.text
        post = client.post(
            f"/prenumeration/{bad}", data={"csrf_token": csrf, "topics": ["integration"]}
        )
        assert post.status_code == 400
        assert client.post(f"/avregistrera/{bad}").status_code == 400
    session.expire_all()
    sub = session.get(Subscriber, sub.id)
    assert sub.unsubscribed_at is None and sub.token_version == 1
    assert topics_of(session=session, subscriber_id=sub.id) == ["klimat"]


def test_token_for_another_purpose_is_refused(client, session, web_config):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    assert client.get(f"/prenumeration/{token('unsubscribe', sub)}").status_code == 400
    assert client.post(f"/avregistrera/{token('prefs', sub)}").status_code == 400
    assert client.get(f"/kalender/{token('prefs', sub)}.ics").status_code == 400
    session.expire_all()
    assert session.get(Subscriber, sub.id).unsubscribed_at is None


def test_expired_signup_link_changes_nothing(client, session, web_config, clock):
    link = make_token(SECRET, purpose="signup", version=0, email="sen@lidkoping.se", now=NOW)
    hours = web_config.settings.web.signup_link_max_age_hours
    clock.advance(hours=hours, minutes=1)
    page = client.get(f"/prenumeration/{link}")
    assert page.status_code == 410
    assert "Länken har gått ut" in page.text
    csrf = csrf_from(client.get("/registrera").text)
    post = client.post(f"/prenumeration/{link}", data={"csrf_token": csrf, "topics": "klimat"})
    assert post.status_code == 410
    assert subscribers(session) == []


def test_signup_link_still_valid_just_before_it_expires(client, web_config, clock):
    link = make_token(SECRET, purpose="signup", version=0, email="tidig@lidkoping.se", now=NOW)
    hours = web_config.settings.web.signup_link_max_age_hours
    clock.advance(hours=hours, minutes=-1)
    assert client.get(f"/prenumeration/{link}").status_code == 200


def test_expired_prefs_link(client, session, web_config, clock):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    old = token("prefs", sub)
    days = web_config.settings.web.token_max_age_days
    clock.advance(days=days + 1)
    page = client.get(f"/prenumeration/{old}")
    assert page.status_code == 410 and "Länken har gått ut" in page.text


# --- unsubscribe ---------------------------------------------------------------------------


def test_get_only_shows_a_button(client, session, web_config):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    page = client.get(f"/avregistrera/{token('unsubscribe', sub)}")
    assert page.status_code == 200
    assert "Avregistrera mig" in page.text and 'method="post"' in page.text
    session.expire_all()
    assert session.get(Subscriber, sub.id).unsubscribed_at is None


def test_one_click_post_unsubscribes_at_once_and_kills_old_links(
    client, session, web_config, clock
):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    prefs, unsub, cal = token("prefs", sub), token("unsubscribe", sub), token("calendar", sub)
    # what a mail client sends for RFC 8058: no cookie, no CSRF token
    with TestClient(client.app) as mail_client:
        response = mail_client.post(
            f"/avregistrera/{unsub}",
            content="List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200
    assert "Du är avregistrerad" in response.text
    session.expire_all()
    sub = session.get(Subscriber, sub.id)
    assert sub.unsubscribed_at == clock.now and sub.active is False and sub.token_version == 2
    # every earlier link is dead
    assert client.get(f"/prenumeration/{prefs}").status_code == 400
    assert client.get(f"/kalender/{cal}.ics").status_code == 400
    # the same one-click link again (a retrying mail client) changes nothing
    again = client.post(f"/avregistrera/{unsub}")
    assert again.status_code == 200 and "Du är avregistrerad" in again.text
    session.expire_all()
    assert session.get(Subscriber, sub.id).token_version == 2


def test_signing_up_again_after_unsubscribing(client, outbox, session, web_config):
    sub = make_subscriber(session, web_config, email="anna.berg@lidkoping.se", topics=["klimat"])
    old_unsub = token("unsubscribe", sub)
    client.post(f"/avregistrera/{old_unsub}")
    path = follow_signup(client, outbox, "anna.berg@lidkoping.se")
    page = client.get(path)
    assert "Du är avregistrerad" in page.text
    # the digest is offered, not the pause the unsubscribe left
    assert 'id="active-1" name="active" value="1" checked' in page.text
    assert 'value="0" checked' not in page.text
    # saving as offered (the browser sends the checked radio) resumes the digest
    form = {
        "csrf_token": csrf_from(page.text),
        "name": "Anna Berg",
        "active": "1",
        "topics": ["klimat"],
    }
    assert client.post(path, data=form).status_code == 303
    session.expire_all()
    sub = session.get(Subscriber, sub.id)
    assert sub.unsubscribed_at is None and sub.active is True
    # the unsubscribe link from before is still dead
    assert client.post(f"/avregistrera/{old_unsub}").status_code == 400


def test_address_case_does_not_make_a_second_subscriber(client, outbox, session, web_config):
    make_subscriber(session, web_config, email="Anna.Berg@lidkoping.se", topics=["integration"])
    path = follow_signup(client, outbox, "ANNA.berg@Lidkoping.se")
    [message] = outbox_messages(outbox)
    assert message["To"] == "Anna.Berg@lidkoping.se"  # the stored address
    assert save(client, path, topics=["klimat"]).status_code == 303
    [sub] = subscribers(session)
    assert topics_of(session=session, subscriber_id=sub.id) == ["klimat"]


def test_the_links_in_a_real_digest_work(client, session, seeded, web_config, clock):
    """The digest's "Ändra din prenumeration" link and its List-Unsubscribe one-click URL."""
    from notifications.digest import build_digest
    from notifications.render import digest_message

    sub = make_subscriber(session, web_config, department="utbildning", topics=["klimat"])
    digest = build_digest(session=session, config=web_config, subscriber=sub, now=clock.now)
    message = digest_message(digest, settings=web_config.settings, message_id="<t@example.se>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(f"{PUBLIC_URL}/avregistrera/")
    text = message.get_body(preferencelist=("plain",)).get_content()
    prefs = next(w for w in text.split() if w.startswith(f"{PUBLIC_URL}/prenumeration/"))

    page = client.get(path_of(prefs))
    assert page.status_code == 200 and "anna.berg@lidkoping.se" in page.text
    with TestClient(client.app) as mail_client:  # what the mail client does
        done = mail_client.post(
            path_of(unsubscribe),
            content="List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert done.status_code == 200 and "Du är avregistrerad" in done.text
    session.expire_all()
    assert session.get(Subscriber, sub.id).unsubscribed_at is not None
    assert client.get(path_of(prefs)).status_code == 400


def test_sign_up_accepts_only_the_configured_domains(config_dir, db_url, tmp_path, engine, clock):
    from fastapi.testclient import TestClient

    from config.loader import load_config
    from web.app import create_app

    assert load_config(config_dir).settings.web.allowed_domains == ["lidkoping.se"]
    config = make_config(config_dir, db_url, tmp_path, allowed_domains=["lidkoping.se"])
    with TestClient(create_app(config, engine, clock=clock, environ={})) as client:
        refused = sign_up(client, "eva@skara.se")
        assert refused.status_code == 400 and "lidkoping.se." in refused.text
        assert sign_up(client, "anna@lidkoping.se").status_code == 200


def test_sign_up_without_smtp_says_the_mail_went_to_the_outbox(client, outbox, caplog):
    with caplog.at_level("WARNING", logger="bevaka.web"):
        page = sign_up(client, "anna.berg@lidkoping.se")
    assert page.status_code == 200
    assert "har inte skickats" in page.text and "Vi har skickat" not in page.text
    [eml] = sorted(outbox.glob("*.eml"))
    assert any(str(eml) in r.getMessage() for r in caplog.records)
