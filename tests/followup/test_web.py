"""The follow-up web pages on the real web app (FastAPI TestClient, real database)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from followup_seed import add_call, decide
from sqlmodel import select

from config.loader import Config, load_config
from notifications.tokens import make_token
from storage.models import Analysis, Decision, Subscriber

SECRET = "test-secret-key-for-followup-web-7Hq2Zp9Kx4"
NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.fixture
def web_config(followup_config_dir, db_url) -> Config:
    base = load_config(followup_config_dir)
    settings = base.settings.with_environment(
        {"BEVAKA_SECRET_KEY": SECRET, "BEVAKA_PUBLIC_URL": "https://bevaka.example.se"}
    )
    settings = settings.model_copy(update={"database_url": db_url})
    return Config(base.directory, settings, base.sources, base.needs)


@pytest.fixture
def client(web_config, engine):
    from web.app import create_app

    # The web app includes web.followup.router itself: the pages below 404 otherwise.
    app = create_app(web_config, engine, clock=lambda: NOW, environ={})
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture
def people(session):
    rep = Subscriber(email="rep@lidkoping.se", name="Rep", department="utbildning", created_at=NOW)
    topic_only = Subscriber(email="topic@lidkoping.se", name="T", created_at=NOW)
    boss = Subscriber(
        email="coord@lidkoping.se", name="Koordinator", role="coordinator", created_at=NOW
    )
    session.add_all([rep, topic_only, boss])
    session.commit()
    return rep, topic_only, boss


def token(sub, version=None):
    return make_token(
        SECRET,
        purpose="prefs",
        subscriber_id=sub.id,
        version=version or sub.token_version,
        now=NOW,
    )


@pytest.fixture
def call_id(session):
    cid = add_call(
        session,
        "web",
        seen=NOW - timedelta(days=5),
        programme="ERASMUS",
        deadline=NOW + timedelta(days=30),
        tags=("utbildning",),
        title="Elevutbyte <i>2027</i>",
    )
    session.commit()
    return cid


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def rows(session, model):
    session.expire_all()
    return session.exec(select(model).order_by(model.id)).all()


def test_representative_records_and_edits_a_decision(client, session, people, call_id):
    rep = people[0]
    url = f"/utlysning/{call_id}/beslut/{token(rep)}"
    page = client.get(url)
    assert page.status_code == 200
    assert "Utbildningsförvaltningen" in page.text
    assert "Elevutbyte &lt;i&gt;2027&lt;/i&gt;" in page.text and "<i>2027</i>" not in page.text
    assert "Inget beslut ännu" in page.text
    form = {"csrf_token": csrf(page.text), "status": "applied", "applied_sek": "500 000 kr"}
    saved = client.post(url, data=form)
    assert saved.status_code == 303
    assert saved.headers["location"].startswith(f"/utlysning/{call_id}/beslut/")
    # An edit adds a row.
    form.update(status="declined", reason="no_cofinancing", applied_sek="")
    assert client.post(url, data=form).status_code == 303
    decisions = rows(session, Decision)
    assert [(d.status, d.reason, d.actor) for d in decisions] == [
        ("applied", None, "rep@lidkoping.se"),
        ("declined", "no_cofinancing", "rep@lidkoping.se"),
    ]
    assert decisions[0].amount_applied_sek == 500_000
    assert decisions[0].department == "utbildning"
    page = client.get(saved.headers["location"])
    assert "Beslutet är sparat" in page.text
    assert "Avstår – Saknar medfinansiering" in page.text
    assert page.text.count("<tr>") == 3  # header + two history rows


def test_bad_input_and_missing_csrf_change_nothing(client, session, people, call_id):
    rep = people[0]
    url = f"/utlysning/{call_id}/beslut/{token(rep)}"
    page = client.get(url)
    bad = client.post(url, data={"csrf_token": csrf(page.text), "status": "declined"})
    assert bad.status_code == 400
    assert "Ange varför förvaltningen avstår." in bad.text
    bad = client.post(
        url, data={"csrf_token": csrf(page.text), "status": "applied", "applied_sek": "mycket"}
    )
    assert bad.status_code == 400 and "Beloppet måste vara ett tal" in bad.text
    forged = client.post(url, data={"csrf_token": "forged", "status": "noted"})
    assert forged.status_code == 403
    assert rows(session, Decision) == []


def test_token_checks(client, session, people, call_id):
    rep, topic_only, _ = people
    assert client.get(f"/utlysning/{call_id}/beslut/garbage").status_code == 400
    old = token(rep)
    rep.token_version += 1  # unsubscribing bumps the version: old links die
    session.add(rep)
    session.commit()
    assert client.get(f"/utlysning/{call_id}/beslut/{old}").status_code == 400
    wrong_purpose = make_token(
        SECRET, purpose="unsubscribe", subscriber_id=rep.id, version=rep.token_version, now=NOW
    )
    assert client.get(f"/utlysning/{call_id}/beslut/{wrong_purpose}").status_code == 400
    no_dept = client.get(f"/utlysning/{call_id}/beslut/{token(topic_only)}")
    assert no_dept.status_code == 403 and "inte kopplad till en förvaltning" in no_dept.text
    assert (
        client.get(f"/utlysning/999999/beslut/{token(rep, rep.token_version)}").status_code == 404
    )


def test_coordinator_chooses_the_department(client, session, people, call_id):
    boss = people[2]
    url = f"/utlysning/{call_id}/beslut/{token(boss)}?forvaltning=social"
    page = client.get(url)
    assert page.status_code == 200 and "Socialförvaltningen" in page.text
    saved = client.post(url, data={"csrf_token": csrf(page.text), "status": "noted"})
    assert saved.status_code == 303 and "forvaltning=social" in saved.headers["location"]
    assert [(d.department, d.actor) for d in rows(session, Decision)] == [
        ("social", "coord@lidkoping.se")
    ]
    bad = client.get(f"/utlysning/{call_id}/beslut/{token(boss)}?forvaltning=nope")
    assert bad.status_code == 400


def test_analysis_form_and_printable_view(client, session, people, call_id):
    rep = people[0]
    url = f"/utlysning/{call_id}/analys/{token(rep)}"
    page = client.get(url)
    assert "gå vidare med utlysningen" in page.text and "<textarea" not in page.text
    decide(session, call_id, "utbildning", NOW - timedelta(days=1), "pursuing")
    session.commit()
    page = client.get(url)
    assert page.text.count("<textarea") == 9
    assert "Utrikesdepartementets (UD:s) rapporter om mänskliga rättigheter" in page.text
    form = {"csrf_token": csrf(page.text), "purpose": "Utbyte", "risks": "<script>x</script>"}
    saved = client.post(url, data=form)
    assert saved.status_code == 303
    form["purpose"] = "Utbyte med Tyskland"
    assert client.post(url, data=form).status_code == 303
    analyses = rows(session, Analysis)
    assert len(analyses) == 2  # append-only
    assert analyses[-1].answers == {"purpose": "Utbyte med Tyskland", "risks": "<script>x</script>"}
    assert analyses[-1].actor == "rep@lidkoping.se"
    printable = client.get(url + "/utskrift")
    assert printable.status_code == 200
    assert "Utbyte med Tyskland" in printable.text
    assert "&lt;script&gt;x&lt;/script&gt;" in printable.text
    assert "<script>x</script>" not in printable.text
    assert "Går vidare" in printable.text


def test_yearly_report_pages(client, seeded):
    page = client.get("/uppfoljning/2026")
    assert page.status_code == 200
    assert "Uppföljning av externa finansieringsmöjligheter 2026" in page.text
    assert re.search(r'id="calls-surfaced">7<', page.text)
    assert page.text.count("<svg") == 2
    csv_text = client.get("/uppfoljning/2026.csv")
    assert csv_text.status_code == 200
    assert "total,calls_surfaced,Utlysningar,7," in csv_text.text
    pdf = client.get("/uppfoljning/2026.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert client.get("/uppfoljning/1900").status_code == 404


def test_reminder_link_opens_the_decision_page(client, session, people, call_id, web_config):
    from followup.reminders import decision_url

    rep = people[0]
    link = decision_url(web_config, rep, call_id, NOW)
    assert link.startswith(f"https://bevaka.example.se/utlysning/{call_id}/beslut/")
    page = client.get(link.removeprefix("https://bevaka.example.se"))
    assert page.status_code == 200 and "Utbildningsförvaltningen" in page.text
