"""Deadline calendars (iCalendar): ``/kalender/<token>.ics`` for one subscriber and
``/kalender/forvaltning/<key>.ics`` for a förvaltning.

One event per matched open or forthcoming call, at its next deadline (Europe/Stockholm, with a
VTIMEZONE). The UID depends only on the call (``call-<id>@<host>``), so when a deadline moves
the calendar client updates the event instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from icalendar import Alarm, Calendar, Event

from notifications.formatting import format_deadline, safe_url
from notifications.subscribers import topics_of
from notifications.tokens import TokenError, read_token
from storage.models import Call, Subscriber
from web.deps import PageError, WebState, require_basic_auth, web_state
from web.queries import calls_tagged
from web.subscription import _invalid

router = APIRouter()

MEDIA_TYPE = "text/calendar; charset=utf-8"


def build_calendar(*, st: WebState, name: str, calls: Sequence[Call], now: datetime) -> bytes:
    """An iCalendar feed with one event per call (at its next deadline)."""
    tz = st.settings.tz
    host = urlsplit(st.base_url).hostname or "bevaka"
    cal = Calendar()
    cal.add("prodid", "-//Bevaka//Lidköpings kommun//SV")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", str(tz))
    cal.add("refresh-interval", timedelta(hours=12), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT12H")
    for call in calls:
        if call.next_deadline is None:
            continue
        deadline = call.next_deadline.astimezone(tz)
        event = Event()
        event.add("uid", f"call-{call.id}@{host}")
        event.add("dtstamp", now)
        event.add("dtstart", deadline)
        event.add("summary", f"Sista ansökningsdag: {call.title}"[:250])
        lines = [call.title, f"Sista ansökningsdag: {format_deadline(deadline, tz)}"]
        if call.programme:
            lines.append(f"Program: {st.programme_name(call.programme)}")
        lines.append(f"I Bevaka: {st.url(f'/utlysning/{call.id}')}")
        link = safe_url(call.url)
        if link != "#":
            lines.append(f"Källa: {link}")
            event.add("url", link)
        event.add("description", "\n".join(lines))
        event.add("transp", "TRANSPARENT")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"Sista ansökningsdag om en vecka: {call.title}"[:250])
        alarm.add("trigger", timedelta(days=-7))
        event.add_component(alarm)
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def _response(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type=MEDIA_TYPE,
        headers={
            "content-disposition": f'inline; filename="{filename}"',
            "cache-control": "private, max-age=3600",
        },
    )


@router.get("/kalender/forvaltning/{key}.ics", dependencies=[Depends(require_basic_auth)])
def department_calendar(request: Request, key: str) -> Response:
    st = web_state(request)
    if key not in st.config.needs.department_keys:
        raise PageError(404, "Förvaltningen finns inte", "Det finns ingen sådan förvaltning.")
    now = st.now()
    with st.session() as session:
        calls = calls_tagged(session=session, keys=[key], now=now)
    name = f"Bevaka: {st.audience_name(key)}"
    return _response(build_calendar(st=st, name=name, calls=calls, now=now), f"{key}.ics")


@router.get("/kalender/{token}.ics")
def subscriber_calendar(request: Request, token: str) -> Response:
    st = web_state(request)
    try:
        data = read_token(
            st.secret_key,
            token,
            purpose="calendar",
            max_age_seconds=st.settings.web.token_max_age_days * 86400,
            now=st.now(),
        )
    except TokenError as exc:
        raise _invalid(exc.expired) from None
    now = st.now()
    with st.session() as session:
        subscriber = session.get(Subscriber, data.subscriber_id) if data.subscriber_id else None
        if (
            subscriber is None
            or subscriber.token_version != data.version
            or subscriber.unsubscribed_at is not None
        ):
            raise _invalid()
        keys = topics_of(session=session, subscriber_id=subscriber.id)
        if subscriber.department:
            keys.insert(0, subscriber.department)
        calls = calls_tagged(session=session, keys=keys, now=now)
    return _response(
        build_calendar(st=st, name="Bevaka: mina sista ansökningsdagar", calls=calls, now=now),
        "bevaka.ics",
    )
