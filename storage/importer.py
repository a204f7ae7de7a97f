"""``bevaka calls import FILE.jsonl``: one JSON object per line, idempotent, bad lines reported
by number without stopping the good ones."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from storage.records import CallData
from storage.repo import upsert_call

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


def record_from_json(obj: Any, *, tz: Any = UTC) -> CallData:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(obj) - ALLOWED_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(unknown)}")
    for required in ("title", "url"):
        if not obj.get(required) or not isinstance(obj[required], str):
            raise ValueError(f"'{required}' is required and must be a non-empty string")
    deadline = obj.get("deadline")
    deadlines_raw = deadline if isinstance(deadline, list) else ([deadline] if deadline else [])
    budget = obj.get("budget")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int | float)):
        raise ValueError(f"'budget' must be a number, got {budget!r}")
    external_id = obj.get("external_id") or hashlib.sha1(obj["url"].encode("utf-8")).hexdigest()  # noqa: S324
    data: dict[str, Any] = {
        "source": obj.get("source") or "manual",
        "external_id": str(external_id),
        "title": obj["title"].strip(),
        "url": obj["url"].strip(),
        "identifier": obj.get("identifier"),
        "programme": obj.get("programme"),
        "description": obj.get("description"),
        "summary": obj.get("summary"),
        "language": obj.get("language"),
        "status": obj.get("status"),
        "budget": budget,
        "currency": obj.get("currency") or ("EUR" if budget is not None else None),
        "kind": obj.get("kind") or "call",
        "keywords": obj.get("keywords") or [],
        "regions": obj.get("regions") or [],
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
            try:
                record = record_from_json(json.loads(line), tz=tz)
            except json.JSONDecodeError as exc:
                report.errors.append((number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
                continue
            except ValueError as exc:
                report.errors.append((number, str(exc)))
                continue
            result = upsert_call(session=session, data=record, now=now)
            setattr(report, result.outcome, getattr(report, result.outcome) + 1)
    return report
