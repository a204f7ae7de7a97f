"""The Bevaka web app: sign-up, preferences, one-click unsubscribe, the calls overview,
calendars, health and the follow-up's pages.

This module only assembles the app (state, middleware, routers, error handlers); the shared
request helpers live in ``web.deps`` and each area's pages in its own router module.

``create_app(config, engine=None)`` builds the FastAPI app; ``bevaka web`` serves it with
uvicorn. Pages are Swedish, work without JavaScript and use the Jinja2 environment shared
with the digest (``notifications.formatting.make_environment``: autoescape on, Swedish dates).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from config.loader import Config
from notifications.formatting import TEMPLATES_DIR as DIGEST_TEMPLATES_DIR
from notifications.formatting import make_environment
from storage.db import make_engine
from web import actions, calendar, followup, health, pages, subscription
from web.deps import TEMPLATES, PageError, WebState, error_page
from web.security import (
    SECURITY_HEADERS,
    CsrfProtect,
    RateLimiter,
    SecurityHeadersMiddleware,
    SlashRedirectMiddleware,
)

log = logging.getLogger("bevaka.web")

STATIC = Path(__file__).resolve().parent / "static"
PASSWORD_ENV = "BEVAKA_WEB_PASSWORD"  # noqa: S105 - the variable name, not a password


class WebConfigError(ValueError):
    """The configuration cannot run the web app (e.g. no secret key)."""


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

    app.include_router(pages.router)
    app.include_router(subscription.router)
    app.include_router(calendar.router)
    app.include_router(health.router)
    # The follow-up's pages (decisions, analysis, yearly report).
    app.include_router(followup.router)
    app.include_router(actions.router)  # the digest's action links (choice, share)

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
