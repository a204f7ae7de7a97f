"""The Bevaka web app: sign-up, preferences, one-click unsubscribe, the calls overview,
calendars and health.

``create_app(config, engine=None)`` builds the FastAPI app; ``bevaka web`` serves it with
uvicorn. Pages are Swedish, work without JavaScript and use the Jinja2 environment shared
with the digest (``notifications.formatting.make_environment``: autoescape on, Swedish dates).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from config.loader import Config
from config.programmes import PROGRAMMES
from notifications.digest import current_status
from notifications.formatting import TEMPLATES_DIR as DIGEST_TEMPLATES_DIR
from notifications.formatting import make_environment
from storage.db import make_engine, session_scope
from web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SECURITY_HEADERS,
    CsrfProtect,
    RateLimiter,
    SecurityHeadersMiddleware,
    SlashRedirectMiddleware,
    check_basic_auth,
)

log = logging.getLogger("bevaka.web")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PASSWORD_ENV = "BEVAKA_WEB_PASSWORD"  # noqa: S105 - the variable name, not a password

STATUS_LABELS = {
    "open": "Öppen",
    "forthcoming": "Kommande",
    "closed": "Stängd",
    "unknown": "Okänd",
}


class WebConfigError(ValueError):
    """The configuration cannot run the web app (e.g. no secret key)."""


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
) -> HTMLResponse:
    """Render a page with the CSRF token for its forms (setting the cookie when new)."""
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
            secure=request.url.scheme == "https",
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
    413 for a body over MAX_FORM_BYTES). Also a FastAPI dependency (``Depends(check_csrf)``)
    so that a POST handler doing synchronous database work can be a plain ``def``, run in
    the thread pool instead of blocking the event loop."""
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


def _base_url(config: Config) -> str:
    public = config.settings.public_url
    if public:
        return public.rstrip("/")
    web = config.settings.web
    return f"http://{web.host}:{web.port}"


def create_app(
    config: Config,
    engine: Engine | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    environ: dict[str, str] | None = None,
) -> FastAPI:
    """Build the web app for ``config`` (database from ``engine`` or settings.database_url).

    ``clock`` gives "now" (UTC; default the system clock); ``environ`` is where the basic-auth
    password (``BEVAKA_WEB_PASSWORD``) is read from (default ``os.environ``). Raises
    :class:`WebConfigError` when the configuration cannot run the app.
    """
    settings = config.settings
    if not settings.secret_key:
        raise WebConfigError(
            "BEVAKA_SECRET_KEY is not set: the web app signs links and forms with it"
        )
    env = os.environ if environ is None else environ
    basic_auth = None
    if settings.web.basic_auth_user:
        password = env.get(PASSWORD_ENV)
        if not password:
            raise WebConfigError(
                f"web.basic_auth_user is set but {PASSWORD_ENV} is empty: set the password "
                "in the environment"
            )
        basic_auth = (settings.web.basic_auth_user, password)
    clock = clock or (lambda: datetime.now(UTC))

    app = FastAPI(
        title="Bevaka", docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False
    )
    jinja_env = make_environment(TEMPLATES, [DIGEST_TEMPLATES_DIR], tz=settings.tz)
    templates = Jinja2Templates(env=jinja_env)
    app.state.web = WebState(
        config=config,
        engine=engine if engine is not None else make_engine(settings.database_url),
        templates=templates,
        csrf=CsrfProtect(settings.secret_key),
        clock=clock,
        base_url=_base_url(config),
        basic_auth=basic_auth,
        signup_per_ip=RateLimiter(
            settings.web.signup_rate_limit_per_hour, timedelta(hours=1), clock
        ),
        signup_per_address=RateLimiter(
            settings.web.signup_rate_limit_per_hour, timedelta(hours=1), clock
        ),
    )
    app.add_middleware(SlashRedirectMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    from followup.actions import router as actions_router
    from followup.web import router as followup_router
    from web import calendar, health, pages, subscription

    app.include_router(pages.router)
    app.include_router(subscription.router)
    app.include_router(calendar.router)
    app.include_router(health.router)
    # The follow-up's pages (decisions, analysis, yearly report).
    app.include_router(followup_router)
    app.include_router(actions_router)  # the digest's action links (choice, share)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc.status, exc.title, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401:
            response = error_page(
                request, 401, "Inloggning krävs", "Den här sidan kräver användarnamn och lösenord."
            )
            response.headers.update(exc.headers or {})
            return response
        if exc.status_code == 404:
            return error_page(
                request, 404, "Sidan finns inte", "Sidan du söker finns inte (längre) i Bevaka."
            )
        if exc.status_code == 405:
            return error_page(request, 405, "Fel metod", "Sidan kan inte användas på det sättet.")
        return error_page(request, exc.status_code, "Något gick fel", "Försök igen senare.")

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> Response:
        # Runs outside the middleware stack: add the security headers here.
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        response = error_page(
            request,
            500,
            "Något gick fel",
            "Bevaka kunde inte visa sidan just nu. Försök igen om en stund.",
        )
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_page(
            request, 400, "Felaktig förfrågan", "Adressen innehåller ett ogiltigt värde."
        )

    return app
