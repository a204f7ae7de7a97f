"""Sign-up by mailed link, the preferences page and one-click unsubscribe.

Links carry tokens from :mod:`notifications.tokens`:

- ``signup`` (``/prenumeration/<token>``, valid ``web.signup_link_max_age_hours``): the mailed
  sign-up link. It carries the address and the subscriber's ``token_version`` at the time (0
  when the address was not yet a subscriber), so it stops working once used to create the
  subscriber, and after an unsubscribe.
- ``prefs`` (``/prenumeration/<token>``) and ``unsubscribe`` (``/avregistrera/<token>``),
  valid ``web.token_max_age_days``: the links in every digest.

A token whose version differs from ``Subscriber.token_version`` is dead; unsubscribing bumps
the version, so every earlier link dies at once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from notifications.digest import build_digest
from notifications.subscribers import (
    SubscriberError,
    add_subscriber,
    check_keys,
    get_subscriber,
    normalise_email,
    topics_of,
    update_subscriber,
)
from notifications.tokens import TokenData, TokenError, make_token, read_token
from storage.models import Subscriber
from web.deps import PageError, WebState, check_csrf, render, web_state
from web.mail import MailError, send_signup_link

log = logging.getLogger("bevaka.web")
router = APIRouter()

MAX_NAME = 200
INVALID_TITLE = "Länken fungerar inte"
INVALID_TEXT = (
    "Länken är ogiltig eller gäller inte längre (till exempel efter en avregistrering). "
    "Inget har ändrats. Begär en ny länk på sidan Prenumerera."
)
EXPIRED_TITLE = "Länken har gått ut"
EXPIRED_TEXT = (
    "Länken är för gammal. Inget har ändrats. Begär en ny länk på sidan Prenumerera, "
    "så skickar vi en ny till din e-post."
)


@dataclass
class Resolved:
    """What a preferences link points at: an existing subscriber and/or a sign-up address."""

    token: TokenData
    subscriber: Subscriber | None
    email: str


def _invalid(expired: bool = False) -> PageError:
    if expired:
        return PageError(410, EXPIRED_TITLE, EXPIRED_TEXT)
    return PageError(400, INVALID_TITLE, INVALID_TEXT)


def _read(st: WebState, token: str, purposes: tuple[str, ...]) -> TokenData:
    """The token's data for the first purpose it is valid for (raises PageError)."""
    if len(token) > 1000:
        raise _invalid()
    expired = False
    for purpose in purposes:
        max_age = (
            st.settings.web.signup_link_max_age_hours * 3600
            if purpose == "signup"
            else st.settings.web.token_max_age_days * 86400
        )
        try:
            return read_token(
                st.secret_key, token, purpose=purpose, max_age_seconds=max_age, now=st.now()
            )
        except TokenError as exc:
            expired = expired or exc.expired
    raise _invalid(expired)


def _resolve(st: WebState, session: Session, token: str) -> Resolved:
    """A preferences or sign-up token → the subscriber it may edit (raises PageError)."""
    data = _read(st, token, ("prefs", "signup"))
    if data.purpose == "signup":
        if not data.email:
            raise _invalid()
        subscriber = get_subscriber(session=session, email=data.email)
        current = subscriber.token_version if subscriber else 0
        # A new address's link (version 0) keeps working after its first save created the
        # subscriber (version 1), until it expires or the subscriber unsubscribes.
        first_save = (
            data.version == 0
            and subscriber is not None
            and subscriber.token_version == 1
            and subscriber.unsubscribed_at is None
        )
        if data.version != current and not first_save:
            raise _invalid()
        return Resolved(data, subscriber, data.email)
    subscriber = session.get(Subscriber, data.subscriber_id) if data.subscriber_id else None
    if (
        subscriber is None
        or subscriber.token_version != data.version
        or subscriber.unsubscribed_at is not None
    ):
        raise _invalid()
    return Resolved(data, subscriber, subscriber.email)


def prefs_token(st: WebState, subscriber: Subscriber) -> str:
    return make_token(
        st.secret_key,
        purpose="prefs",
        subscriber_id=subscriber.id,
        version=subscriber.token_version,
        now=st.now(),
    )


def _links(st: WebState, subscriber: Subscriber) -> dict[str, str]:
    def token(purpose: str) -> str:
        return make_token(
            st.secret_key,
            purpose=purpose,
            subscriber_id=subscriber.id,
            version=subscriber.token_version,
            now=st.now(),
        )

    return {
        "unsubscribe_path": f"/avregistrera/{token('unsubscribe')}",
        "calendar_url": st.url(f"/kalender/{token('calendar')}.ics"),
    }


MAX_OWN_WORDS = 10
_OWN_WORD = re.compile(r"\w[\w-]{1,39}", re.UNICODE)


def own_words_from(text: str) -> list[str]:
    """ "Mina egna sökord" from the form: words of 2–40 letters, digits or hyphens, separated
    by spaces or commas, lower case, each once, at most MAX_OWN_WORDS."""
    words = dict.fromkeys(w.lower() for w in _OWN_WORD.findall(text[:2000]))
    return list(words)[:MAX_OWN_WORDS]


# --- sign-up ---------------------------------------------------------------------------


@router.get("/registrera", response_class=HTMLResponse, name="signup")
def signup_form(request: Request) -> HTMLResponse:
    st = web_state(request)
    return render(
        request,
        "signup.html",
        {"title": "Prenumerera", "domains": st.settings.web.allowed_domains, "email": ""},
    )


def _signup_error(request: Request, status: int, message: str, email: str = "") -> HTMLResponse:
    st = web_state(request)
    return render(
        request,
        "signup.html",
        {
            "title": "Prenumerera",
            "domains": st.settings.web.allowed_domains,
            "error": message,
            "email": email[:320],
        },
        status_code=status,
    )


def _client_ip(request: Request) -> str:
    """The peer's address. ``X-Forwarded-For`` counts only from the proxies listed in
    ``web.trusted_proxies`` (uvicorn rewrites the peer for those, see cli.web)."""
    return request.client.host if request.client else "unknown"


@router.post("/registrera", response_class=HTMLResponse)
async def signup_submit(request: Request, form: Any = Depends(check_csrf)) -> HTMLResponse:
    st = web_state(request)
    raw = str(form.get("email") or "").strip()
    if not st.signup_per_ip.hit(_client_ip(request)):
        return _signup_error(request, 429, "För många försök. Vänta en stund och försök igen.", raw)
    try:
        if len(raw) > 320 or "\n" in raw or "\r" in raw:
            raise SubscriberError("bad address")
        email = normalise_email(raw).lower()
    except SubscriberError:
        return _signup_error(request, 400, "Skriv en giltig e-postadress.", raw)
    domain = email.rsplit("@", 1)[1].lower()
    allowed = [d.lower() for d in st.settings.web.allowed_domains]
    if domain not in allowed:
        return _signup_error(
            request,
            400,
            "Bara adresser i kommunernas domäner kan prenumerera: " + ", ".join(allowed) + ".",
            raw,
        )
    if not st.signup_per_address.hit(email.lower()):
        return _signup_error(request, 429, "För många försök. Vänta en stund och försök igen.", raw)

    def lookup() -> tuple[int, str]:  # sync database work: in the thread pool
        with st.session() as session:
            existing = get_subscriber(session=session, email=email)
            return (existing.token_version, existing.email) if existing else (0, email)

    version, address = await run_in_threadpool(lookup)
    token = make_token(
        st.secret_key, purpose="signup", version=version, email=address, now=st.now()
    )
    try:
        delivered = await send_signup_link(st, to=address, link=st.url(f"/prenumeration/{token}"))
    except MailError:
        log.exception("could not send the sign-up link")
        return _signup_error(
            request, 503, "E-posten kunde inte skickas just nu. Försök igen om en stund.", raw
        )
    # The same answer whether or not the address is already a subscriber.
    return render(
        request,
        "signup_sent.html",
        {
            "title": "Kolla din e-post",
            "email": address,
            "hours": st.settings.web.signup_link_max_age_hours,
            "outbox": delivered.kind == "outbox",
        },
    )


# --- preferences -----------------------------------------------------------------------


def _prefs_context(st: WebState, session: Session, resolved: Resolved) -> dict:
    subscriber = resolved.subscriber
    context: dict = {
        "title": "Din prenumeration",
        "email": resolved.email,
        "departments": st.config.needs.departments,
        "topics": st.config.needs.topics,
        "is_new": subscriber is None,
        "name": subscriber.name if subscriber else resolved.email.split("@", 1)[0],
        "department": subscriber.department if subscriber else None,
        "chosen": set(topics_of(session=session, subscriber_id=subscriber.id))
        if subscriber
        else set(),
        # signing up again after an unsubscribe offers the digest, not the pause it left
        "active": bool(subscriber.active)
        if subscriber and subscriber.unsubscribed_at is None
        else True,
        "resubscribe": bool(subscriber and subscriber.unsubscribed_at is not None),
        "own_words": " ".join(subscriber.own_words or []) if subscriber else "",
        "digest": None,
    }
    if subscriber is not None and subscriber.unsubscribed_at is None:
        context.update(_links(st, subscriber))
        context["digest"] = build_digest(
            session=session, config=st.config, subscriber=subscriber, now=st.now()
        )
        context["preview_done"] = True
    return context


@router.get("/prenumeration/{token}", response_class=HTMLResponse, name="preferences")
def preferences(request: Request, token: str, sparat: str | None = None) -> HTMLResponse:
    st = web_state(request)
    with st.session() as session:
        resolved = _resolve(st, session, token)
        context = _prefs_context(st, session, resolved)
    context["saved"] = sparat == "1"
    context["token"] = token
    return render(request, "preferences.html", context, no_store=True)


@router.post("/prenumeration/{token}")
def preferences_save(request: Request, token: str, form: Any = Depends(check_csrf)) -> Response:
    # a plain def: FastAPI runs it (and its synchronous database work) in the thread pool,
    # never in the event loop; the form is read and checked by the async dependency
    st = web_state(request)
    department = str(form.get("department") or "") or None
    topics = sorted({str(t) for t in form.getlist("topics")})
    name = " ".join(str(form.get("name") or "").split())[:MAX_NAME]
    active = str(form.get("active") or "1") != "0"
    own_words = own_words_from(str(form.get("own_words") or ""))
    needs = st.config.needs
    with st.session() as session:
        resolved = _resolve(st, session, token)
        try:
            check_keys(needs=needs, department=department, topics=topics)
        except SubscriberError:
            raise PageError(
                400, "Okänt val", "Förvaltningen eller ämnet finns inte. Inget har ändrats."
            ) from None
        name = name or resolved.email.split("@", 1)[0]
        if not department and not topics:
            context = _prefs_context(st, session, resolved)
            context.update(
                {
                    "token": token,
                    "error": "Välj en förvaltning eller minst ett ämne.",
                    "name": name,
                    "active": active,
                }
            )
            return render(request, "preferences.html", context, status_code=400, no_store=True)
        if resolved.subscriber is None:
            try:
                subscriber = add_subscriber(
                    session=session,
                    needs=needs,
                    email=resolved.email,
                    name=name,
                    now=st.now(),
                    department=department,
                    topics=topics,
                )
            except SubscriberError:  # created meanwhile through another request
                raise _invalid() from None
            subscriber.active = active
            subscriber.own_words = own_words
            session.add(subscriber)
        else:
            resubscribing = resolved.subscriber.unsubscribed_at is not None
            subscriber = update_subscriber(
                session=session,
                needs=needs,
                email=resolved.subscriber.email,
                name=name,
                department=department or "",
                topics=topics,
                active=active,
            )
            if resubscribing:  # signing up again
                subscriber.unsubscribed_at = None
                # the sign-up link has done its job: like a first sign-up's, it dies on use
                # (every earlier link already died with the unsubscribe)
                subscriber.token_version += 1
            subscriber.own_words = own_words
            session.add(subscriber)
        session.flush()
        new_token = prefs_token(st, subscriber)
    # Only ever redirects to this app's own preferences page.
    return RedirectResponse(f"/prenumeration/{quote(new_token, safe='')}?sparat=1", 303)


# --- unsubscribe -----------------------------------------------------------------------


def _unsubscribe_target(st: WebState, session: Session, token: str) -> tuple[Subscriber, bool]:
    """The subscriber and whether they are already unsubscribed by this very link."""
    data = _read(st, token, ("unsubscribe",))
    subscriber = session.get(Subscriber, data.subscriber_id) if data.subscriber_id else None
    if subscriber is None:
        raise _invalid()
    if subscriber.token_version == data.version and subscriber.unsubscribed_at is None:
        return subscriber, False
    # A repeated one-click POST (or a reload) of the link that just unsubscribed.
    if subscriber.unsubscribed_at is not None and subscriber.token_version == data.version + 1:
        return subscriber, True
    raise _invalid()


@router.get("/avregistrera/{token}", response_class=HTMLResponse, name="unsubscribe")
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    """Only shows a button: link scanners that follow links must not unsubscribe anyone."""
    st = web_state(request)
    with st.session() as session:
        subscriber, done = _unsubscribe_target(st, session, token)
        email = subscriber.email
    if done:
        return render(
            request, "unsubscribed.html", {"title": "Avregistrerad", "email": email}, no_store=True
        )
    return render(
        request,
        "unsubscribe.html",
        {"title": "Avregistrera", "email": email, "token": token},
        no_store=True,
    )


@router.post("/avregistrera/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str) -> HTMLResponse:
    """RFC 8058 one-click: a POST (``List-Unsubscribe=One-Click``) unsubscribes at once. The
    signed token is the authorisation, so no CSRF token is needed."""
    st = web_state(request)
    with st.session() as session:
        subscriber, done = _unsubscribe_target(st, session, token)
        if not done:
            subscriber.unsubscribed_at = st.now()
            subscriber.active = False
            subscriber.token_version += 1  # every earlier link dies
            session.add(subscriber)
            log.info("subscriber %s unsubscribed", subscriber.id)
        email = subscriber.email
    return render(
        request, "unsubscribed.html", {"title": "Avregistrerad", "email": email}, no_store=True
    )
