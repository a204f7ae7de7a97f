"""``/health``: JSON for monitoring. 200 when the database answers, 503 when it does not."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from storage.repo import last_runs
from web.deps import web_state
from web.queries import last_digest

log = logging.getLogger("bevaka.web")
router = APIRouter()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@router.get("/health")
def health(request: Request) -> JSONResponse:
    st = web_state(request)
    body: dict[str, Any] = {"status": "ok", "database": "ok", "sources": {}, "last_digest": None}
    try:
        with st.session() as session:
            session.exec(text("SELECT 1"))
            for source in st.config.sources.sources:
                runs = last_runs(session=session, source=source.key, limit=1)
                run = runs[0] if runs else None
                body["sources"][source.key] = {
                    "enabled": source.enabled,
                    "outcome": run.outcome if run else "never run",
                    "finished_at": _iso(run.finished_at) if run else None,
                }
            delivery = last_digest(session=session)
            if delivery is not None:
                body["last_digest"] = {
                    "week": delivery.week,
                    "status": delivery.status,
                    "sent_at": _iso(delivery.sent_at or delivery.created_at),
                }
    except Exception as exc:  # any driver error means "unreachable"
        log.warning("health: database unreachable: %s", exc.__class__.__name__)
        return JSONResponse(
            {"status": "error", "database": "unreachable", "sources": {}, "last_digest": None},
            status_code=503,
            headers={"cache-control": "no-store"},
        )
    return JSONResponse(body, headers={"cache-control": "no-store"})
