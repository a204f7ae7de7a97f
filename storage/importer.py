"""``bevaka calls import FILE.jsonl``: one JSON object per line, idempotent, bad lines reported
by number without stopping the good ones.

Every text is cleaned as the crawler cleans what it scrapes (``crawler.pipelines``): no NUL,
control, zero-width or bidi-override characters, titles on one line and at most 500
characters, long texts capped. A link that is not http(s) (``javascript:``, ``data:``) does
not cost the call: the call is kept with the link replaced by :data:`NEUTRALISED_URL` and
the line gets a note saying so. Each line is stored in a savepoint, so a line the database
refuses is reported and the rest of the file is still imported (on PostgreSQL a failed
statement would otherwise end the whole transaction).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from crawler.pipelines import MAX_TITLE_CHARS, _clean_block, _clean_line
from crawler.textparse import safe_http_url
from storage.records import CallData
from storage.repo import upsert_call

#: what a link that is not http(s) becomes: a host in the reserved ``.invalid`` domain
#: (RFC 2606), which never resolves
NEUTRALISED_URL = "https://link-removed.invalid/"

ALLOWED_KEYS = {
    "title",
    "url",
    "source",
    "external_id",
    "identifier",
    "programme",
    "description",
    "summary",
    "language",
    "opens_at",
    "deadline",
    "status",
    "budget",
    "currency",
    "kind",
    "keywords",
    "regions",
}


@dataclass
class ImportReport:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: lines imported with a change worth knowing (a neutralised link)
    notes: list[tuple[int, str]] = field(default_factory=list)


def parse_when(value: Any, *, end_of_day: bool, tz: Any = UTC) -> datetime:
    """ISO date or datetime. A bare date means the end of that day (a deadline) or its start
    (an opening), in the installation's time zone."""
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO date string, got {value!r}")
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = time(23, 59, 59) if end_of_day else time(0, 0)
            return datetime.combine(day, moment, tzinfo=tz).astimezone(UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO date or datetime: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def _text(obj: dict[str, Any], key: str, limit: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be a string, got {type(value).__name__}")
    return _clean_line(value, limit)


def record_from_json(obj: Any, *, tz: Any = UTC, notes: list[str] | None = None) -> CallData:
    """One line's object as a clean CallData; ``notes`` collects what was changed on the
    way (a neutralised link)."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(obj) - ALLOWED_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(unknown)}")
    for required in ("title", "url"):
        if not obj.get(required) or not isinstance(obj[required], str):
            raise ValueError(f"'{required}' is required and must be a non-empty string")
    title = _clean_line(obj["title"], MAX_TITLE_CHARS)
    if not title:
        raise ValueError("'title' has no visible characters")
    url = safe_http_url(obj["url"])
    if url is None:
        shown = _clean_line(obj["url"], 60) or "?"
        if notes is not None:
            notes.append(f"url {shown!r} is not an http(s) link: stored as {NEUTRALISED_URL}")
        url = NEUTRALISED_URL
    keywords = obj.get("keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise ValueError("'keywords' must be a list of strings")
    regions = obj.get("regions") or []
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise ValueError("'regions' must be a list of strings")
    deadline = obj.get("deadline")
    deadlines_raw = deadline if isinstance(deadline, list) else ([deadline] if deadline else [])
    budget = obj.get("budget")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int | float)):
        raise ValueError(f"'budget' must be a number, got {budget!r}")
    external_id = obj.get("external_id")
    if external_id is not None and not isinstance(external_id, str | int):
        raise ValueError("'external_id' must be a string")
    external_id = _clean_line(str(external_id), 512) if external_id is not None else None
    if not external_id:
        external_id = hashlib.sha1(obj["url"].encode("utf-8", "replace")).hexdigest()  # noqa: S324
    for block in ("description", "summary"):
        if obj.get(block) is not None and not isinstance(obj[block], str):
            raise ValueError(f"'{block}' must be a string")
    data: dict[str, Any] = {
        "source": _text(obj, "source", 64) or "manual",
        "external_id": external_id,
        "title": title,
        "url": url,
        "identifier": _text(obj, "identifier", 255),
        "programme": _text(obj, "programme", 64),
        "description": _clean_block(obj.get("description")),
        "summary": _clean_block(obj.get("summary")),
        "language": _text(obj, "language", 8),
        "status": obj.get("status"),
        "budget": budget,
        "currency": _text(obj, "currency", 8) or ("EUR" if budget is not None else None),
        "kind": obj.get("kind") or "call",
        "keywords": [k for k in (_clean_line(w, 200) for w in keywords[:100]) if k],
        "regions": [r for r in (_clean_line(w, 200) for w in regions[:50]) if r],
        "opens_at": parse_when(obj["opens_at"], end_of_day=False, tz=tz)
        if obj.get("opens_at")
        else None,
        "deadlines": [parse_when(d, end_of_day=True, tz=tz) for d in deadlines_raw],
    }
    try:
        return CallData.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from None


def import_jsonl(*, session: Session, path: Path, now: datetime, tz: Any = UTC) -> ImportReport:
    report = ImportReport()
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            notes: list[str] = []
            try:
                record = record_from_json(json.loads(line), tz=tz, notes=notes)
            except json.JSONDecodeError as exc:
                report.errors.append((number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
                continue
            except ValueError as exc:
                report.errors.append((number, str(exc)))
                continue
            try:
                with session.begin_nested():  # a refused line costs only itself
                    result = upsert_call(session=session, data=record, now=now)
            except SQLAlchemyError as exc:
                reason = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
                report.errors.append((number, f"the database refused it: {reason}"))
                continue
            report.notes.extend((number, note) for note in notes)
            setattr(report, result.outcome, getattr(report, result.outcome) + 1)
    return report
