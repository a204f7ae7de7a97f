"""Vinnova, through its open API (data.vinnova.se, no key).

``GET /api/ansokningsomgangar/<YYYY-MM-DD>`` returns every application round
(ansökningsomgång) changed since that date, as one JSON array without paging. The first
crawl of the source (nothing stored from it yet) reads the whole register (since
``full_since``, default 2000-01-01: about 3,840 rounds, a few MB, up to a minute on the
server, hence ``full_timeout``), so that open rounds nobody has edited lately are not
missed; later crawls ask for a rolling window (``window_days``, default 60) and upsert, so
a round that is not in the window keeps its stored row. ``bevaka sources check`` (nothing
stored) uses the window.

The fields are the register's own (as public clients of the API read them):
``Diarienummer``, ``DiarienummerUtlysning``, ``Titel``/``TitelEngelska``,
``Beskrivning``/``BeskrivningEngelska``, ``Oppningsdatum``/``Stangningsdatum`` (Stockholm
time without an offset; ``1900-01-01`` is the register's "no date"), ``Publik`` and
``Webbsida`` (0: invited only, or not on the web: skipped), ``AnnonseringslägeÅr`` and
``AnnonseringslägePeriod`` (when a planned round is to be announced: its forthcoming
date), ``UppskattatBeslutsdatum``, ``WebTextLista`` [{``TextID``, ``TextSv``, ``TextEn``}]
(the web page's short texts: what to apply for, who can apply, how much), ``LankLista``
[{``Beskrivning``, ``URL``}] (usually "Ansök här" to the login-gated e-service),
``DokumentLista`` [{``Titel``, ``fileURL``, ``Lang``, ``Primary``, …}] and ``KontaktLista``
(personal data: not stored). Untranslated English fields hold "x" placeholders: empty.

The stored URL is a public page on vinnova.se: a LankLista link to www.vinnova.se when there
is one, else ``page_url`` (default: Vinnova's public "Hitta finansiering" page, where open
and coming offers are listed; placeholders ``{diarienummer}`` and ``{title}``). The round's
own page (``/e/<call page>/<round slug>-<diarienummer>/``) cannot be built from the API:
the call page's slug is not in it. The application form (portal.vinnova.se,
ansok.vinnova.se) is kept in ``extra.links`` only. The budget is read from the Swedish
texts with crawler/amounts.py (a cap per project is ``extra.max_contribution``).

Options: ``window_days``, ``full_since``, ``full_timeout``, ``page_url``,
``download_delay``. The url may contain ``{since}``; otherwise the date is appended as the
last path segment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import scrapy

from crawler import textparse
from crawler.amounts import budget_amounts
from crawler.items import CallItem
from crawler.spiders.base import BevakaSpider

DEFAULT_PAGE_URL = "https://www.vinnova.se/sok-finansiering/hitta-finansiering/"
FULL_SINCE = "2000-01-01"
#: the whole register takes the server up to a minute
FULL_TIMEOUT_SECONDS = 300
#: hosts of Vinnova's public web pages (not its login-gated e-services)
PUBLIC_HOSTS = ("www.vinnova.se", "vinnova.se")
_PLACEHOLDER = re.compile(r"^x+$", re.IGNORECASE)
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("januari", "january", "jan"),
            ("februari", "february", "feb"),
            ("mars", "march", "mar"),
            ("april", "apr"),
            ("maj", "may"),
            ("juni", "june", "jun"),
            ("juli", "july", "jul"),
            ("augusti", "august", "aug"),
            ("september", "sep", "sept"),
            ("oktober", "october", "okt", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
#: seasons and quarters: the first month of the period
_SEASONS = {
    "vår": 1, "våren": 1, "spring": 3, "sommar": 6, "sommaren": 6, "summer": 6,
    "höst": 9, "hösten": 9, "autumn": 9, "fall": 9, "vinter": 12, "vintern": 12,
}  # fmt: skip


def _text(value: Any) -> str | None:
    """A string (or number) field as text; anything else (lists, objects) is ignored, and
    so is the register's "x" placeholder for an untranslated text."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    if not text or _PLACEHOLDER.match(text):
        return None
    return text


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a list field (LankLista, DokumentLista, WebTextLista)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _flag(value: Any, default: bool = True) -> bool:
    """``Publik`` / ``Webbsida``: 1 (or true) yes, 0 (or false) no; absent: ``default``."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return str(value).strip().lower() in ("1", "true", "ja", "yes")


def _register_date(value: Any) -> str | None:
    """A date field, or None for the register's "no date" (``1900-01-01``) and junk."""
    text = _text(value)
    if not text or not re.match(r"\d{4}-\d{2}-\d{2}", text) or int(text[:4]) <= 1900:
        return None
    return text


def planned_opening(year: Any, period: Any) -> date | None:
    """The first day of the announcement period of a planned round: ``AnnonseringslägeÅr``
    2027 and ``AnnonseringslägePeriod`` "september" (or 9, "Q3", "hösten"); a year alone is
    its January."""
    try:
        y = int(str(year).strip()[:4])
    except (TypeError, ValueError):
        return None
    if not 2000 <= y <= 2100:
        return None
    month = 1
    words = (_text(period) or "").lower().split()
    for word in words:
        word = word.strip(".,")
        if word in _MONTHS:
            month = _MONTHS[word]
            break
        if word in _SEASONS:
            month = _SEASONS[word]
            break
        if re.fullmatch(r"q[1-4]", word):
            month = 3 * int(word[1]) - 2
            break
        if word.isdigit() and 1 <= int(word) <= 12:
            month = int(word)
            break
    return date(y, month, 1)


class VinnovaSpider(BevakaSpider):
    name = "vinnova"
    kinds = ("vinnova",)

    #: calls stored from this source before the crawl; set by the store pipeline (None when
    #: not storing, e.g. ``bevaka sources check``)
    stored_count: int | None = None

    @property
    def full_register(self) -> bool:
        """The first crawl reads the whole register; later ones the rolling window."""
        return self.stored_count == 0

    def api_url(self) -> str:
        if self.full_register:
            since = str(self.option("full_since", FULL_SINCE))
        else:
            days = int(self.option("window_days", 60))
            since = (self.now - timedelta(days=days)).date().isoformat()
        url = self.source.url or ""
        if "{since}" in url:
            return url.replace("{since}", since)
        return url.rstrip("/") + "/" + since

    def first_request(self) -> scrapy.Request:
        meta = {}
        if self.full_register:
            meta["download_timeout"] = float(self.option("full_timeout", FULL_TIMEOUT_SECONDS))
        return scrapy.Request(
            self.api_url(),
            headers={"Accept": "application/json"},
            callback=self.parse,
            errback=self.on_fatal_error,
            dont_filter=True,
            meta=meta,
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
            if not isinstance(record, dict):
                continue
            # Publik 0: invited parties only; Webbsida 0: not published on vinnova.se
            if not _flag(record.get("Publik"), False) or not _flag(record.get("Webbsida")):
                continue
            item = self.round_item(record)
            if item is not None:
                yield item

    def human_url(self, record: dict[str, Any], diarienummer: str, title: str) -> str:
        for link in _dicts(record.get("LankLista")):
            url = textparse.safe_http_url(_text(link.get("URL") or link.get("Lank")))
            if url and (urlsplit(url).hostname or "").lower() in PUBLIC_HOSTS:
                return url
        template = str(self.option("page_url", DEFAULT_PAGE_URL))
        return template.replace("{diarienummer}", quote(diarienummer, safe="-_.~")).replace(
            "{title}", quote(title, safe="")
        )

    def round_item(self, record: dict[str, Any]) -> CallItem | None:
        diarienummer = _text(record.get("Diarienummer"))
        if not diarienummer:
            return None
        title_sv = _text(record.get("Titel"))
        title_en = _text(record.get("TitelEngelska"))
        description_sv = _text(record.get("Beskrivning"))
        description_en = _text(record.get("BeskrivningEngelska"))
        web_texts = sorted(
            _dicts(record.get("WebTextLista")),
            key=lambda t: t.get("TextID") if isinstance(t.get("TextID"), int) else 0,
        )
        texts_sv = [t for t in (_text(w.get("TextSv")) for w in web_texts) if t]
        texts_en = [t for t in (_text(w.get("TextEn")) for w in web_texts) if t]
        description = (
            "\n\n".join(p for p in [description_sv, *texts_sv, description_en, *texts_en] if p)
            or None
        )
        money = [t for t in texts_sv if budget_amounts(t) != (None, None)]
        budget_text = " ".join(money) or None
        total, per_project = budget_amounts(budget_text)
        closing = _register_date(record.get("Stangningsdatum"))
        opens_at: str | datetime | None = _register_date(record.get("Oppningsdatum"))
        extra: dict[str, Any] = {
            "title_en": title_en,
            "links": [
                url
                for url in (
                    _text(lk.get("URL") or lk.get("Lank")) for lk in _dicts(record.get("LankLista"))
                )
                if url
            ],
            "documents": [
                {"title": _text(d.get("Titel")), "url": _text(d.get("fileURL"))}
                for d in _dicts(record.get("DokumentLista"))
                if _text(d.get("fileURL"))
            ][:50],
        }
        decision = _register_date(record.get("UppskattatBeslutsdatum"))
        if decision:
            extra["decision_expected"] = decision
        status = None
        planned = planned_opening(
            record.get("AnnonseringslägeÅr"), record.get("AnnonseringslägePeriod")
        )
        if planned is not None and not opens_at and not closing:
            # a planned round: forthcoming; its announcement period is its opening date
            # while that is ahead (after it, the opening is unknown until Vinnova sets it)
            status = "forthcoming"
            extra["planned_opening"] = planned.isoformat()
            start = textparse.parse_date_any(planned, end_of_day=False)
            if start is not None and start > self.now:
                opens_at = start
        extra["budget_scope"] = "total" if total else ("per_project" if per_project else None)
        if per_project:
            extra["max_contribution"] = per_project
        return CallItem(
            source=self.source_key,
            external_id=diarienummer,
            url=self.human_url(record, diarienummer, title_sv or title_en or ""),
            title=title_sv or title_en or "",
            summary=(texts_sv[0] if texts_sv else None)
            or (description_sv.split("\n")[0] if description_sv else None),
            description=description,
            programme="VINNOVA",
            identifier=diarienummer,
            call_identifier=_text(record.get("DiarienummerUtlysning")),
            kind=self.source.call_kind,
            status=status,
            opens_at=opens_at,
            deadlines=[closing] if closing else [],
            budget=total,
            budget_text=budget_text,
            language="sv",
            currency="SEK" if total else None,
            extra=extra,
        )
