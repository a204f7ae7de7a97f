"""The calls overview (``/``) and one call's page (``/utlysning/<id>``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from notifications.formatting import format_date, format_deadline, format_money
from storage.models import Call
from storage.repo import changes_for, get_call, mentions_of, tags_for
from web.app import STATUS_LABELS, PageError, render, require_basic_auth, web_state
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
}


def _choice(value: str | None, allowed: list[str]) -> str | None:
    """A filter value only when it is one of the offered choices (else: no filter)."""
    return value if value and value in allowed else None


@router.get("/", response_class=HTMLResponse, name="overview")
def overview(
    request: Request,
    forvaltning: str | None = None,
    amne: str | None = None,
    program: str | None = None,
    kalla: str | None = None,
    inom: str | None = None,
) -> HTMLResponse:
    st = web_state(request)
    needs = st.config.needs
    now = st.now()
    with st.session() as session:
        programmes = distinct_values(session=session, column=Call.programme)
        sources = distinct_values(session=session, column=Call.source)
        within = int(inom) if inom and inom.isdigit() and int(inom) in WINDOWS else None
        filters = CallFilters(
            department=_choice(forvaltning, needs.department_keys),
            topic=_choice(amne, needs.topic_keys),
            programme=_choice(program, programmes),
            source=_choice(kalla, sources),
            within_days=within,
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
            "filtered": any(
                (filters.department, filters.topic, filters.programme, filters.source, within)
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


@router.get("/utlysning/{call_id}", response_class=HTMLResponse, name="call")
def call_page(request: Request, call_id: str) -> HTMLResponse:
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
        },
    )
