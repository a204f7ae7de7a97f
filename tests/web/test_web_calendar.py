"""Deadline calendars: the .ics parses (icalendar) with one event per matched open or
forthcoming call, stable UIDs, Europe/Stockholm times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar
from web_support import NOW, SECRET, add_call

from notifications.subscribers import add_subscriber
from notifications.tokens import make_token

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def subscriber_token(session, config, **kw) -> str:
    sub = add_subscriber(
        session=session, needs=config.needs, email="eva@gotene.se", name="Eva", now=NOW, **kw
    )
    session.commit()
    return make_token(
        SECRET, purpose="calendar", subscriber_id=sub.id, version=sub.token_version, now=NOW
    )


def events(body: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(body)
    return {str(e["summary"]): e for e in cal.walk("VEVENT")}


def test_subscriber_calendar_has_one_event_per_matched_call(client, session, seeded, web_config):
    token = subscriber_token(session, web_config, department="utbildning", topics=["klimat"])
    response = client.get(f"/kalender/{token}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    found = events(response.content)
    # utbildning → the school call; klimat → the climate call (not the closed one, not the news)
    assert sorted(found) == [
        "Sista ansökningsdag: Klimatanpassning i kommuner",
        "Sista ansökningsdag: Skolutveckling i Europa",
    ]
    school = found["Sista ansökningsdag: Skolutveckling i Europa"]
    start = school.decoded("dtstart")
    assert start == datetime(2027, 3, 15, 16, tzinfo=UTC)
    assert start.tzinfo.key == "Europe/Stockholm"
    assert start.hour == 17
    assert str(school["uid"]) == f"call-{seeded['school'].id}@bevaka.example.se"
    assert "15 mars 2027 kl. 17.00" in str(school["description"])
    assert str(school["url"]) == "https://ec.europa.eu/topic/ERASMUS-SCHOOL"
    cal = Calendar.from_ical(response.content)
    assert [str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Stockholm"]


def test_forthcoming_calls_are_included(client, session, seeded, web_config):
    token = subscriber_token(session, web_config, topics=["digitalisering"])
    found = events(client.get(f"/kalender/{token}.ics").content)
    assert list(found) == ["Sista ansökningsdag: Digitala tjänster för medborgare"]


def test_uid_is_stable_when_the_deadline_moves(client, session, seeded, web_config):
    token = subscriber_token(session, web_config, department="utbildning")
    before = events(client.get(f"/kalender/{token}.ics").content)
    add_call(
        session,
        external_id="ERASMUS-SCHOOL",
        title="Skolutveckling i Europa",
        deadlines=[datetime(2027, 4, 1, 16, tzinfo=UTC)],
        programme="ERASMUS",
        now=NOW + timedelta(days=1),
    )
    after = events(client.get(f"/kalender/{token}.ics").content)
    key = "Sista ansökningsdag: Skolutveckling i Europa"
    assert str(before[key]["uid"]) == str(after[key]["uid"])
    assert after[key].decoded("dtstart") == datetime(2027, 4, 1, 16, tzinfo=UTC)


def test_passed_deadlines_leave_the_calendar(client, session, seeded, web_config, clock):
    token = subscriber_token(session, web_config, department="utbildning")
    clock.now = datetime(2027, 3, 16, tzinfo=UTC)  # the school call's deadline has passed
    assert events(client.get(f"/kalender/{token}.ics").content) == {}


def test_department_calendar(client, seeded):
    response = client.get("/kalender/forvaltning/samhallsbyggnad.ics")
    assert response.status_code == 200
    cal = Calendar.from_ical(response.content)
    assert str(cal["x-wr-calname"]) == "Bevaka: Samhällsbyggnadsförvaltningen"
    assert list(events(response.content)) == ["Sista ansökningsdag: Klimatanpassning i kommuner"]
    assert client.get("/kalender/forvaltning/okand.ics").status_code == 404


def test_forged_calendar_token(client, session, seeded, web_config):
    token = subscriber_token(session, web_config, department="utbildning")
    response = client.get(f"/kalender/{token[:-2]}xx.ics")
    assert response.status_code == 400
    assert "Länken fungerar inte" in response.text
