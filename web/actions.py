"""Acting on a call from the digest: the links under every digest entry.

- ``GET /utlysning/<id>/val/<token>?val=<choice>`` shows the call with the choice
  ("Intressant", "Vi undersöker", "Vi söker", "Inte aktuellt" with a reason) preselected and
  one button. A GET never changes anything: mail scanners open every link in a mail.
- ``POST /utlysning/<id>/val/<token>`` records the choice as a Decision row (who: the
  subscriber's address; when: now) for the subscriber's förvaltning.
- ``GET/POST /utlysning/<id>/dela/<token>`` forwards the call to a colleague at an address in
  ``web.allowed_domains`` (a mail with the call's facts and its Bevaka page).

``<token>`` is a call token (notifications.tokens.make_call_token, purpose ``act``): bound to
one subscriber and one call, and dead once the subscriber's ``token_version`` moves on (after
an unsubscribe), like the one-click unsubscribe link. The POSTs also need the web app's
double-submit CSRF token, which the GET page carries.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from followup.decisions import (
    CHOICES,
    REASONS,
    DecisionError,
    DecisionInput,
    current_decision,
    record_decision,
)
from notifications.digest import decision_label, make_entry
from notifications.tokens import TokenError, read_call_token
from storage.models import Call
from web.deps import PageError, WebState, check_csrf, web_state
from web.followup import _call, _invalid_link, _page, who_for
from web.mail import MailError, deliver, share_message
from web.security import RateLimiter

log = logging.getLogger("bevaka.web")
router = APIRouter()

SHARES_PER_HOUR = 20
MAX_MESSAGE = 1000


def _read(st: WebState, token: str, call_id: int):
    if len(token) > 1000:
        raise _invalid_link()
    try:
        return read_call_token(
            st.secret_key,
            token,
            purpose="act",
            call_id=call_id,
            max_age_seconds=st.settings.web.token_max_age_days * 86400,
            now=st.now(),
        )
    except TokenError as exc:
        raise _invalid_link(exc.expired) from None


def _context(st: WebState, session: Session, call: Call, who, token: str) -> dict:
    current = current_decision(session=session, call_id=call.id, department=who.department)
    base = f"/utlysning/{call.id}"
    suffix = f"?forvaltning={quote(who.department)}" if who.is_coordinator else ""
    return {
        "call": call,
        "entry": make_entry(config=st.config, call=call, now=st.now()),
        "who": who,
        "current": current,
        "current_text": decision_label(current.status, current.reason) if current else "",
        "choices": [(key, label) for key, (_, label) in CHOICES.items()],
        "reasons": REASONS,
        "departments": st.config.needs.departments,
        "action": f"{base}/val/{quote(token, safe='')}{suffix}",
        "share_path": f"{base}/dela/{quote(token, safe='')}{suffix}",
        "token": token,
    }


@router.get("/utlysning/{call_id}/val/{token}", response_class=HTMLResponse)
def choice_page(
    request: Request,
    call_id: int,
    token: str,
    val: str | None = None,
    forvaltning: str | None = None,
    sparat: str | None = None,
) -> HTMLResponse:
    """The call with the chosen answer preselected and one button. Changes nothing."""
    st = web_state(request)
    data = _read(st, token, call_id)
    with st.session() as session:
        who = who_for(st, session, data.subscriber_id, data.version, forvaltning)
        call = _call(session, call_id)
        context = _context(st, session, call, who, token)
    context.update(
        title=f"Förvaltningens val: {call.title}",
        chosen=val if val in CHOICES else "",
        unknown_choice=bool(val) and val not in CHOICES,
        saved=sparat == "1",
    )
    return _page(request, "choice.html", context)


@router.post("/utlysning/{call_id}/val/{token}")
def choice_save(  # a plain def: its synchronous database work runs in the thread pool
    request: Request,
    call_id: int,
    token: str,
    forvaltning: str | None = None,
    form: Any = Depends(check_csrf),
) -> Response:
    st = web_state(request)
    data = _read(st, token, call_id)
    choice = str(form.get("val") or "")
    reason = str(form.get("reason") or "") or None
    note = str(form.get("note") or "").strip() or None
    department = str(form.get("forvaltning") or "") or forvaltning
    with st.session() as session:
        who = who_for(st, session, data.subscriber_id, data.version, department)
        call = _call(session, call_id)
        try:
            if choice not in CHOICES:
                raise DecisionError(f"unknown choice {choice!r}", "Välj ett av alternativen.")
            status = CHOICES[choice][0]
            record_decision(
                session=session,
                call_id=call.id,
                department=who.department,
                data=DecisionInput(
                    status=status, reason=reason if status == "declined" else None, note=note
                ),
                actor=who.subscriber.email,
                now=st.now(),
                known_departments=[d.key for d in st.config.needs.departments],
            )
        except DecisionError as exc:
            session.rollback()
            context = _context(st, session, call, who, token)
            context.update(
                title=f"Förvaltningens val: {call.title}",
                chosen=choice if choice in CHOICES else "",
                chosen_reason=reason or "",
                error=exc.sv,
            )
            return _page(request, "choice.html", context, status_code=400)
        log.info(
            "decision %s on call %s for %s by subscriber %s",
            choice,
            call_id,
            who.department,
            who.subscriber.id,
        )
    query = f"?forvaltning={quote(who.department)}&sparat=1" if who.is_coordinator else "?sparat=1"
    return RedirectResponse(f"/utlysning/{call_id}/val/{quote(token, safe='')}{query}", 303)


# --- sharing ---------------------------------------------------------------------------------


def _share_limiter(request: Request) -> RateLimiter:
    state = request.app.state
    limiter = getattr(state, "share_limiter", None)
    if limiter is None:
        limiter = RateLimiter(SHARES_PER_HOUR, timedelta(hours=1), web_state(request).clock)
        state.share_limiter = limiter
    return limiter


def colleague_address(st: WebState, raw: str) -> str:
    """The colleague's address, when valid and in ``web.allowed_domains``; else PageError-free
    ValueError with the Swedish message."""
    raw = raw.strip()
    if not raw or len(raw) > 320 or "\n" in raw or "\r" in raw:
        raise ValueError("Skriv kollegans e-postadress.")
    try:
        email = validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError("Skriv en giltig e-postadress.") from None
    allowed = [d.lower() for d in st.settings.web.allowed_domains]
    if email.rsplit("@", 1)[1] not in allowed:
        raise ValueError(
            "Du kan bara dela med adresser i kommunens domäner: " + ", ".join(allowed) + "."
        )
    return email


@router.get("/utlysning/{call_id}/dela/{token}", response_class=HTMLResponse)
def share_page(
    request: Request, call_id: int, token: str, forvaltning: str | None = None
) -> HTMLResponse:
    st = web_state(request)
    data = _read(st, token, call_id)
    with st.session() as session:
        who = who_for(st, session, data.subscriber_id, data.version, forvaltning)
        call = _call(session, call_id)
        context = _context(st, session, call, who, token)
    context.update(title=f"Dela: {call.title}", domains=st.settings.web.allowed_domains)
    return _page(request, "share.html", context)


@router.post("/utlysning/{call_id}/dela/{token}", response_class=HTMLResponse)
async def share_send(
    request: Request,
    call_id: int,
    token: str,
    forvaltning: str | None = None,
    form: Any = Depends(check_csrf),
) -> HTMLResponse:
    st = web_state(request)
    data = _read(st, token, call_id)
    raw = str(form.get("email") or "")
    message_text = " ".join(str(form.get("message") or "").split())[:MAX_MESSAGE]

    def read() -> tuple[Any, Call, dict]:  # sync database work: in the thread pool
        with st.session() as session:
            who = who_for(st, session, data.subscriber_id, data.version, forvaltning)
            call = _call(session, call_id)
            return who, call, _context(st, session, call, who, token)

    who, call, context = await run_in_threadpool(read)
    context.update(title=f"Dela: {call.title}", domains=st.settings.web.allowed_domains)
    try:
        to = colleague_address(st, raw)
    except ValueError as exc:
        context.update(error=str(exc), email=raw[:320], message=message_text)
        return _page(request, "share.html", context, status_code=400)
    if not _share_limiter(request).hit(f"share:{who.subscriber.id}"):
        context.update(
            error="Du har delat många utlysningar den senaste timmen. Försök igen senare."
        )
        return _page(request, "share.html", context, status_code=429)
    message = share_message(
        st,
        to=to,
        sender_name=who.subscriber.name,
        sender_email=who.subscriber.email,
        entry=context["entry"],
        call_url=st.url(f"/utlysning/{call.id}"),
        note=message_text,
    )
    try:
        outcome = await deliver(st, message)
    except MailError:
        log.exception("could not share call %s", call_id)
        raise PageError(
            503, "E-posten kunde inte skickas", "Försök igen om en stund. Inget har skickats."
        ) from None
    log.info("call %s shared by subscriber %s (%s)", call_id, who.subscriber.id, outcome.kind)
    context.update(sent_to=to, outcome=outcome)
    return _page(request, "share.html", context)
