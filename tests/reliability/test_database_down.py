"""The database goes away (an SQLite path that cannot be opened: a directory): the web app
answers with its Swedish error page — no driver message, no path, no traceback reaches
the user — and /health says 503 so monitoring notices."""

from __future__ import annotations

import pytest

from notifications.example import example_config
from storage.db import make_engine

LEAKS = ("Traceback", "OperationalError", "sqlite3", "psycopg", "sqlalchemy", "unable to open")


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_pages_without_a_database_show_a_clean_error(tmp_path):
    from fastapi.testclient import TestClient

    from web.app import create_app

    broken = tmp_path / "not-a-database"
    broken.mkdir()
    engine = make_engine(f"sqlite:///{broken}")
    app = create_app(example_config(tmp_path), engine, environ={})
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/", "/utlysning/1"):
            response = client.get(path)
            assert response.status_code == 500, path
            assert "Något gick fel" in response.text
            for word in (*LEAKS, str(broken)):
                assert word not in response.text, (path, word)
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["database"] != "ok"
        for word in (*LEAKS, str(broken)):
            assert word not in health.text, word
        assert client.get("/registrera").status_code == 200  # pages without data still work
    engine.dispose()
