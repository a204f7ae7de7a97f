"""What a spider yields: a plain dataclass (no Scrapy types), turned into
storage.records.CallData by the pipelines (normalise → validate → store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class CallItem:
    """One call as scraped. Text fields may still hold HTML or odd whitespace and dates may
    be strings (ISO or Swedish, e.g. "12 september 2027"); the normalise pipeline cleans them."""

    source: str
    external_id: str
    url: str
    title: str
    summary: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    programme: str | None = None
    identifier: str | None = None
    call_identifier: str | None = None
    kind: str = "call"
    status: str | None = None
    opens_at: datetime | str | None = None
    deadlines: list[datetime | str] = field(default_factory=list)
    budget: float | str | None = None
    budget_text: str | None = None
    currency: str | None = None
    language: str | None = None
    regions: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: a fingerprint of the raw record (BevakaSpider.fingerprint); unchanged, a crawl skips it
    source_hash: str | None = None
