"""Fixtures for the digest tests: the SMTP server from digest_smtp_server.py and the
example world from notifications.example."""

from __future__ import annotations

import ssl

import pytest
from aiosmtpd.controller import Controller
from digest_smtp_server import Recorder, SmtpServer, _authenticator
from net_support import start_controller

from notifications.example import (
    EXAMPLE_NOW,
    example_config,
    seed_example,
)


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory):
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_ctx, client_ctx, ca_file


@pytest.fixture
def smtp_factory(tls_pair):
    """``smtp_factory(security="none"|"starttls"|"tls", auth=False)`` → a running server."""
    controllers: list[Controller] = []

    def start(security: str = "none", auth: bool = False) -> SmtpServer:
        server_ctx, client_ctx, _ = tls_pair
        recorder = Recorder()
        kwargs: dict = {}
        if security == "starttls":
            kwargs.update(tls_context=server_ctx, require_starttls=True)
        if security == "tls":
            kwargs.update(ssl_context=server_ctx)
        if auth:
            kwargs.update(
                authenticator=_authenticator,
                auth_required=True,
                auth_require_tls=security == "starttls",
            )
        controller = start_controller(
            lambda **free: Controller(recorder, hostname="127.0.0.1", **free, **kwargs)
        )
        controllers.append(controller)
        return SmtpServer(
            controller.port, recorder, client_ctx if security != "none" else None, security
        )

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp(smtp_factory) -> SmtpServer:
    return smtp_factory("none")


@pytest.fixture
def world(session) -> dict[str, int]:
    """The example world in the test database (committed)."""
    ids = seed_example(session)
    session.commit()
    return ids


@pytest.fixture
def make_config(tmp_path):
    def make(server: SmtpServer | None = None, **kw):
        smtp = server.smtp_settings(**kw.pop("smtp", {})) if server else kw.pop("smtp", {})
        cfg = example_config(
            tmp_path, **{k: v for k, v in kw.items() if k in ("public_url", "secret_key")}, **smtp
        )
        digest_updates = {k: v for k, v in kw.items() if k not in ("public_url", "secret_key")}
        digest_updates.setdefault("outbox_dir", str(tmp_path / "outbox"))
        settings = cfg.settings.model_copy(
            update={"digest": cfg.settings.digest.model_copy(update=digest_updates)}
        )
        return type(cfg)(cfg.directory, settings, cfg.sources, cfg.needs)

    return make


NOW = EXAMPLE_NOW
