"""The calls overview (``/``) and one call's page (``/utlysning/<id>``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from notifications.formatting import format_date, format_deadline, format_money
from storage.models import Call
from storage.repo import changes_for, get_call, mentions_of, tags_for
from web.deps import STATUS_LABELS, PageError, render, require_basic_auth, web_state
from web.queries import CallFilters, distinct_values, overview_calls

router = APIRouter(dependencies=[Depends(require_basic_auth)])

# At most this many calls on one overview page.
OVERVIEW_LIMIT = 500
# The deadline windows offered on the overview, in days.
WINDOWS = (7, 14, 30, 60, 90, 180)

FIELD_LABELS = {
    "title": "Titel",
    "status": "Status",
    "deadlines": "Sista ansökningsdag",
    "opens_at": "Öppnar",
    "budget": "Budget",
}
REASON_FIELDS = {
    "title": "titeln",
    "summary": "sammanfattningen",
    "description": "beskrivningen",
    "keywords": "nyckelorden",
    "programme": "programmet",
    "identifier": "utlysningens beteckning",
}


def _choice(value: str | None, allowed: list[str], label: str, ignored: list[str]) -> str | None:
    """A filter value only when it is one of the offered choices; an unknown one is no
    filter, and the page says so (``ignored``)."""
    if not value:
        return None
    if value in allowed:
        return value
    ignored.append(f"{label} ”{value[:80]}”")
    return None


@router.get("/", response_class=HTMLResponse, name="overview")
def overview(
    request: Request,
    forvaltning: str | None = None,
    amne: str | None = None,
    program: str | None = None,
    kalla: str | None = None,
    inom: str | None = None,
    q: str | None = None,
) -> HTMLResponse:
    st = web_state(request)
    needs = st.config.needs
    now = st.now()
    with st.session() as session:
        programmes = distinct_values(session=session, column=Call.programme)
        sources = distinct_values(session=session, column=Call.source)
        ignored: list[str] = []
        windows = [str(w) for w in WINDOWS]
        within_text = _choice(inom, windows, "Sista ansökningsdag", ignored)
        within = int(within_text) if within_text else None
        filters = CallFilters(
            department=_choice(forvaltning, needs.department_keys, "Förvaltning", ignored),
            topic=_choice(amne, needs.topic_keys, "Ämne", ignored),
            programme=_choice(program, programmes, "Program", ignored),
            source=_choice(kalla, sources, "Källa", ignored),
            within_days=within,
            text=" ".join((q or "").split())[:200] or None,
        )
        calls = overview_calls(session=session, filters=filters, now=now, limit=OVERVIEW_LIMIT)
        tags = tags_for(session=session, call_ids=[c.id for c in calls])
    return render(
        request,
        "overview.html",
        {
            "title": "Utlysningar",
            "calls": calls,
            "tags": tags,
            "filters": filters,
            "departments": needs.departments,
            "topics": needs.topics,
            "programmes": programmes,
            "sources": sources,
            "windows": WINDOWS,
            "limit": OVERVIEW_LIMIT,
            "ignored": ignored,
            "filtered": any(
                (
                    filters.department,
                    filters.topic,
                    filters.programme,
                    filters.source,
                    within,
                    filters.text,
                )
            ),
        },
    )


def _format_value(field: str, value: Any, tz) -> str:
    """A CallChange value as a person reads it."""
    if value is None or value == [] or value == "":
        return "–"
    try:
        if field == "deadlines":
            return ", ".join(format_deadline(datetime.fromisoformat(v), tz) for v in value)
        if field == "opens_at":
            return format_date(datetime.fromisoformat(value), tz)
    except (TypeError, ValueError):
        return str(value)
    if field == "status":
        return STATUS_LABELS.get(str(value), str(value))
    if field == "budget" and isinstance(value, int | float):
        return format_money(value)
    return str(value)


def _reader_actions(st, session, call: Call, token: str | None) -> dict | None:
    """The reader's own choices for this call when the page was opened with their link
    from the digest (``?lank=<call token>``); None otherwise or when the link is dead."""
    from followup.decisions import CHOICES
    from notifications.tokens import TokenError, read_call_token
    from storage.models import Subscriber

    if not token or len(token) > 1000:
        return None
    try:
        data = read_call_token(
            st.secret_key,
            token,
            purpose="act",
            call_id=call.id,
            max_age_seconds=st.settings.web.token_max_age_days * 86400,
            now=st.now(),
        )
    except TokenError:
        return None
    sub = session.get(Subscriber, data.subscriber_id)
    if sub is None or sub.token_version != data.version or sub.unsubscribed_at is not None:
        return None
    base = f"/utlysning/{call.id}"
    quoted = quote(token, safe="")
    return {
        "department": st.audience_name(sub.department) if sub.department else "",
        "choices": [
            (label, f"{base}/val/{quoted}?val={key}") for key, (_, label) in CHOICES.items()
        ],
        "share": f"{base}/dela/{quoted}",
    }


@router.get("/utlysning/{call_id}", response_class=HTMLResponse, name="call")
def call_page(request: Request, call_id: str, lank: str | None = None) -> HTMLResponse:
    from followup.decisions import current_decisions
    from notifications.digest import decision_label, make_entry

    st = web_state(request)
    tz = st.settings.tz
    if not call_id.isdigit() or len(call_id) > 18:
        raise PageError(404, "Utlysningen finns inte", "Det finns ingen utlysning med det numret.")
    with st.session() as session:
        call = get_call(session=session, call_id=int(call_id))
        if call is None:
            raise PageError(
                404, "Utlysningen finns inte", "Det finns ingen utlysning med det numret."
            )
        tags = tags_for(session=session, call_ids=[call.id])[call.id]
        changes = changes_for(session=session, call_id=call.id)
        mentions = mentions_of(session=session, call_ids=[call.id])[call.id]
        entry = make_entry(config=st.config, call=call, now=st.now())
        decisions = [
            (st.audience_name(d.department), decision_label(d.status, d.reason), d.created_at)
            for d in current_decisions(session=session, call_ids=[call.id])
        ]
        actions = _reader_actions(st, session, call, lank)
    deadlines = []
    for text in call.deadlines or []:
        try:
            deadlines.append(datetime.fromisoformat(text))
        except ValueError:
            continue
    history = [
        {
            "when": ch.changed_at,
            "field": FIELD_LABELS.get(ch.field, ch.field),
            "old": _format_value(ch.field, ch.old_value, tz),
            "new": _format_value(ch.field, ch.new_value, tz),
        }
        for ch in reversed(changes)
    ]
    return render(
        request,
        "call.html",
        {
            "title": call.title,
            "call": call,
            "deadlines": deadlines,
            "tags": tags,
            "history": history,
            "mentions": mentions,
            "reason_fields": REASON_FIELDS,
            "entry": entry,
            "decisions": decisions,
            "actions": actions,
        },
    )
