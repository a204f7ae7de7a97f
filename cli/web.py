"""CLI commands of the web package: ``bevaka web``."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``bevaka`` app."""
    app.command("web")(web)


def web(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: web.host)")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to listen on (default: web.port)"),
    ] = None,
) -> None:
    """Serve the web pages (sign-up, preferences, unsubscribe, calls overview, calendars,
    /health) with uvicorn. Needs BEVAKA_SECRET_KEY; set BEVAKA_PUBLIC_URL to the address
    people use (links in mails point there). Put it behind a reverse proxy for HTTPS.

    Example: BEVAKA_SECRET_KEY=... bevaka web --host 127.0.0.1 --port 8000
    """
    import uvicorn

    from cli.context import console, fail, state
    from web.app import WebConfigError, create_app

    st = state(ctx)
    st.require_schema()
    settings = st.settings
    host = host or settings.web.host
    port = port or settings.web.port
    config = st.config
    if not settings.public_url:
        console.print(
            f"warning: public_url is not set; links in mails will point to http://{host}:{port}",
            markup=False,
        )
        web_settings = settings.web.model_copy(update={"host": host, "port": port})
        config = type(config)(
            config.directory,
            settings.model_copy(update={"web": web_settings}),
            config.sources,
            config.needs,
        )
    try:
        application = create_app(config, st.engine)
    except WebConfigError as exc:
        fail(str(exc), code=2)
    console.print(f"Bevaka web on http://{host}:{port}", markup=False)
    uvicorn.run(application, host=host, port=port, log_level="info", **uvicorn_options(settings))


def uvicorn_options(settings) -> dict:
    """uvicorn's proxy settings from ``web.trusted_proxies``: X-Forwarded-For (and -Proto) is
    believed only from those addresses; with none, from nobody (uvicorn's own default
    would trust it from 127.0.0.1, i.e. from anyone on the machine)."""
    proxies = list(settings.web.trusted_proxies)
    if not proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(proxies)}
