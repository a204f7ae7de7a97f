"""The web app's shared request helpers: the per-app state, page rendering with the CSRF
token, the Swedish error page, and the request dependencies (``Depends(check_csrf)``,
``Depends(require_basic_auth)``).

Every router imports from here; ``web.app`` only assembles the app, so no router imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from config.loader import Config
from config.programmes import PROGRAMMES
from notifications.digest import current_status
from storage.db import session_scope
from web.security import CSRF_COOKIE, CSRF_FIELD, CsrfProtect, RateLimiter, check_basic_auth

TEMPLATES = Path(__file__).resolve().parent / "templates"

STATUS_LABELS = {
    "open": "Öppen",
    "forthcoming": "Kommande",
    "closed": "Stängd",
    "unknown": "Okänd",
}


class PageError(Exception):
    """Ends a request with a Swedish error page; nothing has been changed."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@dataclass
class WebState:
    """Everything a request handler needs, kept on ``app.state.web``."""

    config: Config
    engine: Engine
    templates: Jinja2Templates
    csrf: CsrfProtect
    clock: Callable[[], datetime]
    base_url: str
    basic_auth: tuple[str, str] | None
    signup_per_ip: RateLimiter
    signup_per_address: RateLimiter

    @property
    def settings(self):
        return self.config.settings

    @property
    def secret_key(self) -> str:
        return self.settings.secret_key

    def now(self) -> datetime:
        return self.clock()

    def session(self) -> AbstractContextManager[Session]:
        """A session that commits on success (storage.db.session_scope)."""
        return session_scope(self.engine)

    def audience_name(self, key: str | None) -> str:
        if not key:
            return ""
        audience = self.config.needs.audience(key)
        return audience.name if audience else key

    def source_name(self, key: str) -> str:
        try:
            return self.config.source(key).name
        except KeyError:
            return key

    @staticmethod
    def programme_name(code: str | None) -> str:
        if not code:
            return ""
        programme = PROGRAMMES.get(code)
        return programme.name if programme else code

    def url(self, path: str) -> str:
        """An absolute link for mails, always on the configured public URL (never the Host
        header, which a client controls)."""
        return self.base_url + path


def web_state(request: Request) -> WebState:
    return request.app.state.web


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    no_store: bool = False,
    secure_cookie: bool | None = None,
) -> HTMLResponse:
    """Render a page with the CSRF token for its forms (setting the cookie when new).

    The cookie is ``Secure`` when ``secure_cookie`` says so, by default when the request
    came over https."""
    st = web_state(request)
    nonce, new = st.csrf.nonce(request)
    data = {
        "request": request,
        "csrf_field": CSRF_FIELD,
        "csrf_token": st.csrf.token_for(nonce),
        "now": st.now(),
        "status_labels": STATUS_LABELS,
        "audience_name": st.audience_name,
        "source_name": st.source_name,
        "programme_name": st.programme_name,
        "current_status": current_status,
    }
    data.update(context or {})
    response = st.templates.TemplateResponse(request, template, data, status_code=status_code)
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https" if secure_cookie is None else secure_cookie,
            path="/",
        )
    if no_store:
        response.headers["cache-control"] = "no-store"
    return response


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"title": title, "message": message},
        status_code=status,
        no_store=True,
    )


#: the largest form body read (the biggest real form, the analysis, is a few KB)
MAX_FORM_BYTES = 256 * 1024


def _too_large() -> PageError:
    return PageError(
        413, "Formuläret är för stort", "Formuläret innehöll för mycket text. Inget har ändrats."
    )


async def _read_form_body(request: Request) -> None:
    """Read the body, refusing one over MAX_FORM_BYTES (declared or streamed) with 413
    before it is parsed; the form is then parsed from what was read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise _too_large()
    request._body = bytes(body)  # Request.stream()/form() read it from here


async def check_csrf(request: Request) -> Any:
    """The submitted form, once its CSRF token has been checked (raises PageError 403, or
    413 for a body over MAX_FORM_BYTES). Every POST handler takes it as a dependency
    (``form: Any = Depends(check_csrf)``), so that one doing synchronous database work can
    be a plain ``def``, run in the thread pool instead of blocking the event loop."""
    await _read_form_body(request)
    form = await request.form()
    if not web_state(request).csrf.valid(request, form.get(CSRF_FIELD)):
        raise PageError(
            403,
            "Formuläret kunde inte tas emot",
            "Formuläret var för gammalt eller kom inte från den här sidan. "
            "Ladda om sidan och försök igen. Inget har ändrats.",
        )
    return form


def require_basic_auth(request: Request) -> None:
    """For the calls pages when basic auth is configured (settings.web.basic_auth_user)."""
    expected = web_state(request).basic_auth
    if expected is None:
        return
    if not check_basic_auth(request.headers.get("authorization"), *expected):
        raise StarletteHTTPException(401, headers={"WWW-Authenticate": 'Basic realm="Bevaka"'})
