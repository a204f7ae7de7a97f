"""Web pages of the follow-up, included by the web app (``web.app.create_app``):

- ``/utlysning/<id>/beslut/<token>``          a representative records the förvaltning's decision
- ``/utlysning/<id>/analys/<token>``          the benefit and risk analysis form
- ``/utlysning/<id>/analys/<token>/utskrift`` the analysis, printable
- ``/uppfoljning/<year>`` (``.pdf``, ``.csv``) the yearly report (behind basic auth when set)

``<token>`` is the subscriber's own "prefs" link token (notifications.tokens): it names the
subscriber, and so the förvaltning. The coordinator (role ``coordinator``) picks the
förvaltning with ``?forvaltning=<key>``. Forms use the web app's signed double-submit CSRF
tokens. Pages are Swedish; every scraped text is escaped by the templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from followup.analysis import (
    FIELDS,
    UD_REPORTS_HINT,
    AnalysisError,
    analysis_history,
    latest_analysis,
    render_analysis_html,
    save_analysis,
)
from followup.decisions import (
    ANALYSIS_STATUSES,
    REASONS,
    STATUSES,
    DecisionError,
    DecisionInput,
    current_decision,
    decision_history,
    record_decision,
)
from notifications.formatting import TEMPLATES_DIR as DIGEST_TEMPLATES_DIR
from notifications.formatting import make_environment
from notifications.tokens import TokenError, read_token
from storage.models import Call, Subscriber
from web.app import TEMPLATES as WEB_TEMPLATES
from web.app import PageError, WebState, check_csrf, require_basic_auth, web_state
from web.security import CSRF_COOKIE, CSRF_FIELD

router = APIRouter()
TEMPLATES = Path(__file__).resolve().parent / "templates"
MIN_YEAR, MAX_YEAR = 2000, 2100
_env_cache: dict[str, Any] = {}


def _env(st: WebState):
    key = st.settings.timezone
    if key not in _env_cache:
        _env_cache[key] = make_environment(
            TEMPLATES, [WEB_TEMPLATES, DIGEST_TEMPLATES_DIR], tz=st.settings.tz
        )
    return _env_cache[key]


def _page(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render one of our templates (they extend the web app's base.html) with a CSRF token,
    setting the CSRF cookie the same way the web app does."""
    st = web_state(request)
    nonce, new = st.csrf.nonce(request)
    data = {
        "request": request,
        "csrf_field": CSRF_FIELD,
        "csrf_token": st.csrf.token_for(nonce),
        "now": st.now(),
        "statuses": STATUSES,
        "reasons": REASONS,
    }
    data.update(context)
    response = HTMLResponse(_env(st).get_template(template).render(data), status_code=status_code)
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=st.base_url.startswith("https://"),
            path="/",
        )
    response.headers["cache-control"] = "no-store"
    return response


# --- who is asking ---------------------------------------------------------------------------


@dataclass
class Who:
    subscriber: Subscriber
    department: str
    department_name: str
    is_coordinator: bool


def _invalid_link(expired: bool = False) -> PageError:
    if expired:
        return PageError(
            410,
            "Länken har gått ut",
            "Länken är för gammal. Använd länken i den senaste veckosammanfattningen.",
        )
    return PageError(
        400,
        "Länken fungerar inte",
        "Länken är ogiltig eller gäller inte längre. Använd länken i den senaste "
        "veckosammanfattningen. Inget har ändrats.",
    )


def _who(st: WebState, session: Session, token: str, department: str | None) -> Who:
    """The subscriber behind a "prefs" token and the förvaltning they act for."""
    if len(token) > 1000:
        raise _invalid_link()
    try:
        data = read_token(
            st.secret_key,
            token,
            purpose="prefs",
            max_age_seconds=st.settings.web.token_max_age_days * 86400,
            now=st.now(),
        )
    except TokenError as exc:
        raise _invalid_link(exc.expired) from None
    subscriber = session.get(Subscriber, data.subscriber_id) if data.subscriber_id else None
    if (
        subscriber is None
        or subscriber.token_version != data.version
        or subscriber.unsubscribed_at is not None
    ):
        raise _invalid_link()
    names = {d.key: d.name for d in st.config.needs.departments}
    coordinator = subscriber.role == "coordinator"
    if coordinator and department:
        key = department
    elif subscriber.department:
        key = subscriber.department
    elif coordinator:
        key = next(iter(names), "")
    else:
        raise PageError(
            403,
            "Ingen förvaltning",
            "Din prenumeration är inte kopplad till en förvaltning, så du kan inte registrera "
            "förvaltningens beslut. Välj förvaltning på din prenumerationssida.",
        )
    if key not in names:
        raise PageError(400, "Okänd förvaltning", "Förvaltningen finns inte i Bevaka.")
    return Who(subscriber, key, names[key], coordinator)


def _call(session: Session, call_id: int) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise PageError(404, "Utlysningen finns inte", "Utlysningen finns inte (längre) i Bevaka.")
    return call


def _path(
    call_id: int, kind: str, token: str, who: Who | None = None, suffix: str = "", **query: str
) -> str:
    path = f"/utlysning/{call_id}/{kind}/{quote(token, safe='')}{suffix}"
    if who is not None and who.is_coordinator:
        query = {"forvaltning": who.department, **query}
    return path + ("?" + urlencode(query) if query else "")


def parse_sek(text: str | None) -> float | None:
    """``"500 000"``, ``"500000 kr"``, ``"1 250 000,50"`` → float; empty → None; else
    :class:`DecisionError` (in Swedish for the page)."""
    if text is None:
        return None
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", str(text)).lower()
    cleaned = cleaned.removesuffix("kr").removesuffix("sek").replace(",", ".")
    if not cleaned:
        return None
    if not re.fullmatch(r"\d{1,13}(\.\d{1,2})?", cleaned):
        raise DecisionError(
            f"not an amount: {text!r}", "Beloppet måste vara ett tal i kronor, t.ex. 500 000."
        )
    return float(cleaned)


# --- decisions -------------------------------------------------------------------------------


def _decision_context(st: WebState, session: Session, call: Call, who: Who, token: str) -> dict:
    current = current_decision(session=session, call_id=call.id, department=who.department)
    history = decision_history(session=session, call_id=call.id, department=who.department)
    return {
        "title": f"Beslut: {call.title}",
        "call": call,
        "who": who,
        "current": current,
        "history": list(reversed(history)),
        "departments": st.config.needs.departments,
        "action": _path(call.id, "beslut", token, who),
        "analysis_path": _path(call.id, "analys", token, who),
        "analysis_due": bool(current and current.status in ANALYSIS_STATUSES),
        "form": {},
    }


def _form_page(
    request: Request,
    call_id: int,
    token: str,
    forvaltning: str | None,
    sparat: str | None,
    template: str,
    make_context,
) -> HTMLResponse:
    """A decision or analysis form for the representative (or coordinator) the token names."""
    st = web_state(request)
    with st.session() as session:
        who = _who(st, session, token, forvaltning)
        call = _call(session, call_id)
        context = make_context(st, session, call, who, token)
    context["saved"] = sparat == "1"
    return _page(request, template, context)


@router.get("/utlysning/{call_id}/beslut/{token}", response_class=HTMLResponse)
def decision_page(
    request: Request,
    call_id: int,
    token: str,
    forvaltning: str | None = None,
    sparat: str | None = None,
) -> HTMLResponse:
    return _form_page(
        request, call_id, token, forvaltning, sparat, "decision_form.html", _decision_context
    )


@router.post("/utlysning/{call_id}/beslut/{token}")
async def decision_save(
    request: Request, call_id: int, token: str, forvaltning: str | None = None
) -> Response:
    st = web_state(request)
    form = await check_csrf(request)
    fields = {k: str(form.get(k) or "").strip() for k in ("status", "reason", "partners", "note")}
    with st.session() as session:
        who = _who(st, session, token, forvaltning)
        call = _call(session, call_id)
        try:
            data = DecisionInput(
                status=fields["status"],
                reason=fields["reason"] if fields["status"] == "declined" else None,
                applied_sek=parse_sek(form.get("applied_sek")),
                granted_sek=parse_sek(form.get("granted_sek")),
                partners=fields["partners"] or None,
                note=fields["note"] or None,
            )
            record_decision(
                session=session,
                call_id=call.id,
                department=who.department,
                data=data,
                actor=who.subscriber.email,
                now=st.now(),
                known_departments=[d.key for d in st.config.needs.departments],
            )
        except DecisionError as exc:
            session.rollback()
            context = _decision_context(st, session, call, who, token)
            context["error"] = exc.sv
            context["form"] = {
                **fields,
                "applied_sek": str(form.get("applied_sek") or ""),
                "granted_sek": str(form.get("granted_sek") or ""),
            }
            return _page(request, "decision_form.html", context, status_code=400)
    return RedirectResponse(_path(call_id, "beslut", token, who, sparat="1"), 303)


# --- analysis --------------------------------------------------------------------------------


def _analysis_context(st: WebState, session: Session, call: Call, who: Who, token: str) -> dict:
    current = current_decision(session=session, call_id=call.id, department=who.department)
    row = latest_analysis(session=session, call_id=call.id, department=who.department)
    return {
        "title": f"Nytto- och riskanalys: {call.title}",
        "call": call,
        "who": who,
        "decision": current,
        "allowed": bool(current and current.status in ANALYSIS_STATUSES),
        "analysis": row,
        "answers": dict(row.answers) if row else {},
        "edits": len(analysis_history(session=session, call_id=call.id, department=who.department)),
        "fields": FIELDS,
        "ud_hint": UD_REPORTS_HINT,
        "action": _path(call.id, "analys", token, who),
        "print_path": _path(call.id, "analys", token, who, suffix="/utskrift"),
        "decision_path": _path(call.id, "beslut", token, who),
    }


@router.get("/utlysning/{call_id}/analys/{token}", response_class=HTMLResponse)
def analysis_page(
    request: Request,
    call_id: int,
    token: str,
    forvaltning: str | None = None,
    sparat: str | None = None,
) -> HTMLResponse:
    return _form_page(
        request, call_id, token, forvaltning, sparat, "analysis_form.html", _analysis_context
    )


@router.post("/utlysning/{call_id}/analys/{token}")
async def analysis_save(
    request: Request, call_id: int, token: str, forvaltning: str | None = None
) -> Response:
    st = web_state(request)
    form = await check_csrf(request)
    answers = {f.key: str(form.get(f.key) or "") for f in FIELDS}
    with st.session() as session:
        who = _who(st, session, token, forvaltning)
        call = _call(session, call_id)
        try:
            save_analysis(
                session=session,
                call_id=call.id,
                department=who.department,
                answers=answers,
                actor=who.subscriber.email,
                now=st.now(),
            )
        except AnalysisError as exc:
            session.rollback()
            context = _analysis_context(st, session, call, who, token)
            context["error"] = exc.sv
            context["answers"] = answers
            return _page(request, "analysis_form.html", context, status_code=400)
    return RedirectResponse(_path(call_id, "analys", token, who, sparat="1"), 303)


@router.get("/utlysning/{call_id}/analys/{token}/utskrift", response_class=HTMLResponse)
def analysis_print(
    request: Request, call_id: int, token: str, forvaltning: str | None = None
) -> HTMLResponse:
    st = web_state(request)
    with st.session() as session:
        who = _who(st, session, token, forvaltning)
        call = _call(session, call_id)
        row = latest_analysis(session=session, call_id=call.id, department=who.department)
        current = current_decision(session=session, call_id=call.id, department=who.department)
        html = render_analysis_html(
            call=call,
            department_label=who.department_name,
            analysis=row,
            decision_status=current.status if current else None,
            tz=st.settings.tz,
            now=st.now(),
        )
    return HTMLResponse(html, headers={"cache-control": "no-store"})


# --- the yearly report -----------------------------------------------------------------------
# (the .pdf and .csv routes come first: "/uppfoljning/{year}" would otherwise take them)


def _report(st: WebState, year: int):
    from followup.report import build_annual_report

    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PageError(404, "Året finns inte", "Välj ett år mellan 2000 och 2100.")
    with st.session() as session:
        return build_annual_report(session=session, config=st.config, year=year, now=st.now())


@router.get("/uppfoljning/{year}.pdf", dependencies=[Depends(require_basic_auth)])
def annual_report_pdf(request: Request, year: int) -> Response:
    from followup.report import render_pdf

    return Response(
        render_pdf(_report(web_state(request), year)),
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="uppfoljning-{year}.pdf"'},
    )


@router.get("/uppfoljning/{year}.csv", dependencies=[Depends(require_basic_auth)])
def annual_report_csv(request: Request, year: int) -> Response:
    from followup.report import render_csv

    return Response(
        render_csv(_report(web_state(request), year)),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="uppfoljning-{year}.csv"'},
    )


@router.get(
    "/uppfoljning/{year}", response_class=HTMLResponse, dependencies=[Depends(require_basic_auth)]
)
def annual_report_page(request: Request, year: int) -> HTMLResponse:
    from followup.report import render_html

    return HTMLResponse(render_html(_report(web_state(request), year), web_links=True))
