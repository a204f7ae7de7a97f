"""The plain record that leaves the crawler (and the importer) and goes into storage.

No Scrapy here: matching/ and notifications/ may import this module.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CallStatus = Literal["forthcoming", "open", "closed", "unknown"]

# The fields whose changes are kept as CallChange rows.
TRACKED_FIELDS = ("title", "status", "deadlines", "opens_at", "budget")


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class CallData(BaseModel):
    """One call as a source describes it, normalised. ``status`` is a hint; storage derives the
    stored status from the dates (see :func:`derive_status`)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=64)
    external_id: str = Field(min_length=1, max_length=512)
    url: str = Field(min_length=1)
    title: str = Field(min_length=1)
    summary: str | None = None
    description: str | None = None
    keywords: list[str] = Field(default_factory=list)
    programme: str | None = None
    identifier: str | None = None
    call_identifier: str | None = None
    kind: Literal["call", "news"] = "call"
    status: CallStatus | None = None
    opens_at: datetime | None = None
    deadlines: list[datetime] = Field(default_factory=list)
    budget: float | None = None
    budget_text: str | None = None
    currency: str | None = None
    language: str | None = None
    regions: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)
    #: the spider's fingerprint of the raw record (see crawler.spiders.base), not content
    source_hash: str | None = Field(default=None, max_length=64)

    @field_validator("opens_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value else None

    @field_validator("deadlines")
    @classmethod
    def _utc_sorted(cls, value: list[datetime]) -> list[datetime]:
        return sorted({as_utc(v) for v in value})

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        return value

    def content_hash(self) -> str:
        """A stable hash of everything the source said (ignoring the status hint and the
        raw record's fingerprint)."""
        data = self.model_dump(mode="json", exclude={"status", "source_hash"})
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def derive_status(
    *,
    opens_at: datetime | None,
    deadlines: list[datetime],
    now: datetime,
    hint: str | None = None,
) -> CallStatus:
    """The status from the dates, which beat whatever status code a source reports.

    A call whose every deadline has passed is closed; one that opens later is forthcoming;
    one with a deadline ahead is open. Without dates the source's hint is used, except that
    a "forthcoming" hint for a call whose opening date has passed is open (deadline unknown):
    it would stay forthcoming for ever otherwise.
    """
    if deadlines and max(deadlines) < now:
        return "closed"
    if opens_at and opens_at > now:
        return "forthcoming"
    if deadlines:
        return "open"
    if hint == "forthcoming" and opens_at and opens_at <= now:
        return "open"
    if hint in ("forthcoming", "open", "closed"):
        return hint  # type: ignore[return-value]
    if opens_at and opens_at <= now:
        return "open"
    return "unknown"


def next_deadline(deadlines: list[datetime], now: datetime) -> datetime | None:
    """The first deadline still ahead; when all have passed, the last one."""
    if not deadlines:
        return None
    ahead = [d for d in deadlines if d >= now]
    return min(ahead) if ahead else max(deadlines)
