"""Vinnova, through its open API (data.vinnova.se, no key).

``GET /api/ansokningsomgangar/<YYYY-MM-DD>`` returns every application round
(ansökningsomgång) changed since that date, as one JSON array without paging. The spider
asks for a rolling window (``window_days``, default 60) and upserts, so a round that is not
in the window keeps its stored row. Only public rounds (``Publik``) are kept. Opening and
closing dates are local Swedish time without an offset; the Swedish title and description
come first, the English ones are kept as well (``extra.title_en`` and in the description).

Options: ``window_days``, ``page_url`` (template with ``{diarienummer}`` for rounds without
a vinnova.se link), ``download_delay``. The url may contain ``{since}``; otherwise the date
is appended as the last path segment.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import scrapy

from crawler import textparse
from crawler.items import CallItem
from crawler.spiders.base import BevakaSpider

DEFAULT_PAGE_URL = "https://www.vinnova.se/sok-finansiering/hitta-finansiering/?q={diarienummer}"


def _text(value: Any) -> str | None:
    """A string (or number) field as text; anything else (lists, objects) is ignored."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    return text or None


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a list field (LankLista, DokumentLista, WebTextLista)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _is_public(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return str(value).strip().lower() in ("1", "true", "ja", "yes")


class VinnovaSpider(BevakaSpider):
    name = "vinnova"
    kinds = ("vinnova",)

    def api_url(self) -> str:
        since = (self.now - timedelta(days=int(self.option("window_days", 60)))).date().isoformat()
        url = self.source.url or ""
        if "{since}" in url:
            return url.replace("{since}", since)
        return url.rstrip("/") + "/" + since

    def first_request(self) -> scrapy.Request:
        return scrapy.Request(
            self.api_url(),
            headers={"Accept": "application/json"},
            callback=self.parse,
            errback=self.on_fatal_error,
            dont_filter=True,
        )

    async def start(self) -> Any:
        yield self.first_request()

    def start_requests(self) -> Iterator[scrapy.Request]:  # Scrapy < 2.13
        yield self.first_request()

    def parse(self, response, **kwargs: Any) -> Iterator[CallItem]:
        self.pages += 1
        data = response.json()
        if isinstance(data, dict):
            # tolerate a wrapped answer ({"items": [...]})
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list):
            raise ValueError("not a Vinnova API answer (expected a JSON array)")
        for record in data:
            if not isinstance(record, dict) or not _is_public(record.get("Publik")):
                continue
            item = self.round_item(record)
            if item is not None:
                yield item

    def human_url(self, record: dict[str, Any], diarienummer: str) -> str:
        for link in _dicts(record.get("LankLista")):
            url = textparse.safe_http_url(_text(link.get("Lank") or link.get("URL")))
            host = urlsplit(url).hostname if url else None
            if url and host and (host == "vinnova.se" or host.endswith(".vinnova.se")):
                return url
        template = str(self.option("page_url", DEFAULT_PAGE_URL))
        return template.replace("{diarienummer}", quote(diarienummer, safe="-_.~"))

    def round_item(self, record: dict[str, Any]) -> CallItem | None:
        diarienummer = _text(record.get("Diarienummer"))
        if not diarienummer:
            return None
        title_sv = _text(record.get("Titel"))
        title_en = _text(record.get("TitelEngelska"))
        description_sv = _text(record.get("Beskrivning"))
        description_en = _text(record.get("BeskrivningEngelska"))
        web_texts = [
            _text(t.get("Text"))
            for t in _dicts(record.get("WebTextLista"))
            if str(t.get("Lang", "sv")).lower().startswith("sv")
        ]
        description = (
            "\n\n".join(p for p in [description_sv, *web_texts, description_en] if p) or None
        )
        closing = _text(record.get("Stangningsdatum"))
        links = [
            _text(link.get("Lank") or link.get("URL")) for link in _dicts(record.get("LankLista"))
        ]
        documents = [
            {"title": _text(d.get("Titel")), "url": _text(d.get("fileURL"))}
            for d in _dicts(record.get("DokumentLista"))
        ]
        return CallItem(
            source=self.source_key,
            external_id=diarienummer,
            url=self.human_url(record, diarienummer),
            title=title_sv or title_en or "",
            summary=description_sv.split("\n")[0] if description_sv else None,
            description=description,
            programme="VINNOVA",
            identifier=diarienummer,
            call_identifier=_text(record.get("DiarienummerUtlysning")),
            kind=self.source.call_kind,
            opens_at=_text(record.get("Oppningsdatum")),
            deadlines=[closing] if closing else [],
            language="sv",
            currency="SEK",
            extra={
                "title_en": title_en,
                "links": [link for link in links if link],
                "documents": [d for d in documents if d["url"]][:50],
            },
        )
