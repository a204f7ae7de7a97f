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

from dataclasses import dataclass
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
    parse_sek,
    record_decision,
)
from followup.report import CSS_PATH as REPORT_CSS_PATH
from notifications.tokens import TokenError, read_token
from storage.models import Call, Subscriber
from web.deps import PageError, WebState, check_csrf, render, require_basic_auth, web_state

router = APIRouter()
MIN_YEAR, MAX_YEAR = 2000, 2100


def _page(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render a follow-up page (never cached) with the decision statuses and reasons; its
    CSRF cookie is ``Secure`` when the public URL is https."""
    return render(
        request,
        template,
        {"statuses": STATUSES, "reasons": REASONS, **context},
        status_code=status_code,
        no_store=True,
        secure_cookie=web_state(request).base_url.startswith("https://"),
    )


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
    return who_for(st, session, data.subscriber_id, data.version, department)


def who_for(
    st: WebState, session: Session, subscriber_id: int | None, version: int, department: str | None
) -> Who:
    """The subscriber a link names (by id and token version) and the förvaltning they act
    for (raises PageError when the link is dead or there is no förvaltning)."""
    subscriber = session.get(Subscriber, subscriber_id) if subscriber_id else None
    if (
        subscriber is None
        or subscriber.token_version != version
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
def decision_save(
    request: Request,
    call_id: int,
    token: str,
    forvaltning: str | None = None,
    form: Any = Depends(check_csrf),
) -> Response:
    # a plain def: its synchronous database work runs in the thread pool (the form is
    # read by the async dependency)
    st = web_state(request)
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
def analysis_save(
    request: Request,
    call_id: int,
    token: str,
    forvaltning: str | None = None,
    form: Any = Depends(check_csrf),
) -> Response:
    # a plain def: its synchronous database work runs in the thread pool (the form is
    # read by the async dependency)
    st = web_state(request)
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
            css_href=REPORT_CSS_PATH,
        )
    return HTMLResponse(html, headers={"cache-control": "no-store"})


# --- the yearly report -----------------------------------------------------------------------
# (the .pdf, .csv and .css routes come first: "/uppfoljning/{year}" would otherwise take them)


@router.get(REPORT_CSS_PATH)
def report_css() -> Response:
    """The report's and the printable analysis's stylesheet (the app's CSP allows no inline
    style)."""
    from followup.report import REPORT_CSS

    return Response(
        REPORT_CSS.read_text(encoding="utf-8"),
        media_type="text/css; charset=utf-8",
        headers={"cache-control": "public, max-age=3600"},
    )


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
