"""EU Funding & Tenders portal, through the SEDIA search API.

One POST per page (multipart parts ``query``, ``languages`` and ``sort``, each JSON) for
grants (types 1, 2, 8) that are open or forthcoming, in the configured programmes, sorted by
identifier so paging is deterministic; pages are fetched until the results run out.

The real quirks handled here: every metadata value is a list; ``actions`` and
``budgetOverview`` are JSON inside strings; the ``status`` code can be stale (storage derives
the status from the dates; the hint comes from ``actions``); two-stage topics have several
deadlines (all kept); the same topic can appear twice (the fuller record wins); legacy
records keep keywords as one JSON string and point their url at the JSON; dates carry
offsets. The human URL is the portal's topic page. With ``fetch_details`` each topic's
detail JSON adds the full description; if that fetch fails the topic is stored from the
search data. A topic whose raw record (search result, and detail JSON when fetched) is
the same as at the last crawl is skipped without being parsed (``BevakaSpider.unchanged``).

Options (config/sources.yaml, all optional): ``programmes`` (codes from
config/programmes.py), ``statuses`` (open, forthcoming, closed), ``types``, ``page_size``,
``max_pages``, ``text``, ``fetch_details``, ``detail_url`` and ``topic_url`` (templates with
``{identifier}``), ``download_delay``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import scrapy
from w3lib.url import add_or_replace_parameters

from config.programmes import BY_SEDIA_ID, PROGRAMMES, programme_from_identifier
from crawler.items import CallItem
from crawler.spiders.base import BevakaSpider

DEFAULT_PROGRAMMES = [
    "HORIZON", "ERASMUS", "LIFE", "CERV", "CREA", "AMIF", "DIGITAL", "ESF", "EU4H", "SMP",
    "UCPM", "CEF", "ESC", "JUST", "ISF", "INNOVFUND",
]  # fmt: skip
STATUS_CODES = {"forthcoming": "31094501", "open": "31094502", "closed": "31094503"}
STATUS_BY_CODE = {v: k for k, v in STATUS_CODES.items()}
STATUS_BY_ABBREVIATION = {"open": "open", "forthcoming": "forthcoming", "closed": "closed"}
GRANT_TYPES = ["1", "2", "8"]
DEFAULT_DETAIL_URL = (
    "https://ec.europa.eu/info/funding-tenders/opportunities/data/topicDetails/"
    "{identifier}.json?lang=en"
)
DEFAULT_TOPIC_URL = (
    "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/"
    "topic-details/{identifier}"
)
BOUNDARY = "BevakaSediaSearch7d2f"
OPTION_KEYS = {
    "programmes", "statuses", "types", "page_size", "max_pages", "text", "fetch_details",
    "detail_url", "topic_url", "download_delay", "programme_period",
}  # fmt: skip


def first(metadata: dict[str, Any], key: str) -> str | None:
    """The first value of a SEDIA metadata list (every value is a list of strings)."""
    value = metadata.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def values(metadata: dict[str, Any], key: str) -> list[str]:
    value = metadata.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [str(v).strip() for v in value if v is not None and str(v).strip()]


def json_in_string(value: str | None) -> Any:
    """``actions`` / ``budgetOverview`` / legacy ``keywords`` hold JSON inside a string."""
    if not value:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def multipart(parts: dict[str, Any], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body whose every part is JSON (as the portal's own client)."""
    chunks = []
    for name, value in parts.items():
        chunks.append(
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="blob"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{json.dumps(value, separators=(',', ':'))}\r\n"
        )
    chunks.append(f"--{boundary}--\r\n")
    return "".join(chunks).encode("utf-8")


def metadata_of(result: dict[str, Any]) -> dict[str, Any]:
    md = result.get("metadata")
    return md if isinstance(md, dict) else {}


def fill(template: str, identifier: str) -> str:
    """A URL template with the (untrusted) identifier filled in, URL-quoted."""
    return template.replace("{identifier}", quote(identifier, safe="-_.~"))


def _record_score(result: dict[str, Any]) -> int:
    """Prefer the new-style record over a legacy duplicate of the same topic."""
    md = metadata_of(result)
    score = 0
    if "callTitle" in md:
        score += 2
    if "topic-details" in str(result.get("url") or ""):
        score += 1
    if str(result.get("reference") or "").endswith("TOPICSen"):
        score += 1
    return score


class EuPortalSpider(BevakaSpider):
    name = "eu_portal"
    kinds = ("eu_portal",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.page_size = int(self.option("page_size", 100))
        self.max_pages = int(self.option("max_pages", 30))
        self.fetch_details = bool(self.option("fetch_details", False))
        self.detail_url = str(self.option("detail_url", DEFAULT_DETAIL_URL))
        self.topic_url = str(self.option("topic_url", DEFAULT_TOPIC_URL))
        self.types = [str(t) for t in self.option("types", GRANT_TYPES)]
        self.seen_ids: set[str] = set()

    # --- requests -------------------------------------------------------------------

    def search_query(self) -> dict[str, Any]:
        programmes = self.option("programmes", DEFAULT_PROGRAMMES)
        ids = [PROGRAMMES[c].sedia_id for c in programmes if c in PROGRAMMES]
        statuses = [STATUS_CODES[s] for s in self.option("statuses", ["open", "forthcoming"])]
        must: list[dict[str, Any]] = [
            {"terms": {"type": self.types}},
            {"terms": {"status": statuses}},
            {"terms": {"frameworkProgramme": [i for i in ids if i]}},
        ]
        period = self.option("programme_period", "2021 - 2027")
        if period:
            must.append({"term": {"programmePeriod": period}})
        return {"bool": {"must": must}}

    def search_request(self, page: int) -> scrapy.Request:
        url = add_or_replace_parameters(
            self.source.url or "",
            {
                "apiKey": "SEDIA",
                "text": str(self.option("text", "***")),
                "pageSize": str(self.page_size),
                "pageNumber": str(page),
            },
        )
        body = multipart(
            {
                "query": self.search_query(),
                "languages": ["en"],
                "sort": {"field": "identifier", "order": "ASC"},
            }
        )
        return scrapy.Request(
            url,
            method="POST",
            body=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Accept": "application/json",
            },
            callback=self.parse_search,
            errback=self.on_fatal_error,
            cb_kwargs={"page": page},
            dont_filter=True,
        )

    async def start(self) -> Any:
        yield self.search_request(1)

    def start_requests(self) -> Iterator[scrapy.Request]:  # Scrapy < 2.13
        yield self.search_request(1)

    # --- parsing --------------------------------------------------------------------

    def parse_search(self, response, page: int) -> Iterator[Any]:
        self.pages += 1
        data = response.json()
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ValueError("not a SEDIA search response (no 'results' list)")
        results = [r for r in data["results"] if isinstance(r, dict)]
        best: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for result in results:
            identifier = first(metadata_of(result), "identifier")
            if not identifier:
                continue  # update notices and broken records have no identifier
            if identifier not in best:
                order.append(identifier)
                best[identifier] = result
            elif _record_score(result) > _record_score(best[identifier]):
                best[identifier] = result
        for identifier in order:
            if identifier in self.seen_ids:
                continue
            fingerprint = self.fingerprint(best[identifier])
            if not self.fetch_details and self.unchanged(identifier, fingerprint):
                self.seen_ids.add(identifier)
                continue
            item = self.topic_item(best[identifier])
            if item is None:
                continue
            item.source_hash = fingerprint
            self.seen_ids.add(identifier)
            if self.fetch_details:
                yield scrapy.Request(
                    fill(self.detail_url, identifier),
                    callback=self.parse_detail,
                    errback=self.detail_failed,
                    cb_kwargs={"item": item},
                )
            else:
                yield item
        try:
            total = int(data.get("totalResults") or 0)
        except (TypeError, ValueError, OverflowError):
            total = 0
        if results and page * self.page_size < total and page < self.max_pages:
            yield self.search_request(page + 1)

    def topic_item(self, result: dict[str, Any]) -> CallItem | None:
        md = metadata_of(result)
        kind = first(md, "type")
        if kind is not None and kind not in self.types:
            return None
        identifier = first(md, "identifier")
        if not identifier:
            return None
        title = first(md, "title") or result.get("summary") or result.get("content")
        actions = json_in_string(first(md, "actions"))
        actions = [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []
        deadlines: list[str] = values(md, "deadlineDate")
        if not deadlines:
            for action in actions:
                dates = action.get("deadlineDates")
                if isinstance(dates, list):
                    deadlines.extend(str(d) for d in dates if d)
        opens_at = first(md, "startDate")
        if not opens_at:
            planned = [str(a["plannedOpeningDate"]) for a in actions if a.get("plannedOpeningDate")]
            opens_at = min(planned) if planned else None
        code = first(md, "frameworkProgramme")
        programme = BY_SEDIA_ID.get(code or "") or programme_from_identifier(identifier)
        budget, budget_text, budget_extra = self.budget(md, identifier)
        call_title = first(md, "callTitle")
        return CallItem(
            source=self.source_key,
            external_id=identifier,
            url=fill(self.topic_url, identifier),
            title=str(title or ""),
            summary=call_title,
            description=first(md, "descriptionByte") or first(md, "description"),
            keywords=self.keywords(md),
            programme=programme.code if programme else None,
            identifier=identifier,
            call_identifier=first(md, "callIdentifier"),
            kind=self.source.call_kind,
            status=self.status_hint(md, actions),
            opens_at=opens_at,
            deadlines=deadlines,
            budget=budget,
            budget_text=budget_text,
            currency="EUR" if budget else None,
            language="en",
            extra={
                "call_title": call_title,
                "deadline_model": first(md, "deadlineModel"),
                "types_of_action": [" ".join(t.split()) for t in values(md, "typesOfAction")],
                "status_code": first(md, "status"),
                "legacy": "callTitle" not in md,
                **budget_extra,
            },
        )

    @staticmethod
    def status_hint(md: dict[str, Any], actions: list[dict[str, Any]]) -> str | None:
        for action in actions:
            status = action.get("status")
            if isinstance(status, dict):
                hint = STATUS_BY_ABBREVIATION.get(str(status.get("abbreviation", "")).lower())
                if hint:
                    return hint
        return STATUS_BY_CODE.get(first(md, "status") or "")

    @staticmethod
    def keywords(md: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for value in values(md, "keywords") + values(md, "tags"):
            if value.startswith("["):
                parsed = json_in_string(value)
                if isinstance(parsed, list):
                    out.extend(str(v) for v in parsed if isinstance(v, str | int | float))
                    continue
            if "<" in value:
                continue  # HTML notices, not keywords
            out.append(value)
        return out

    @staticmethod
    def budget(md: dict[str, Any], identifier: str) -> tuple[float | None, str | None, dict]:
        overview = json_in_string(first(md, "budgetOverview"))
        if not isinstance(overview, dict):
            return None, None, {}
        table = overview.get("budgetTopicActionMap")
        rows: dict[str, dict[str, Any]] = {}
        if isinstance(table, dict):
            for entries in table.values():
                for row in entries if isinstance(entries, list) else []:
                    if not isinstance(row, dict):
                        continue
                    action = str(row.get("action") or "")
                    if action == identifier or action.startswith(identifier + " "):
                        rows.setdefault(action, row)
        years: dict[str, float] = {}
        extra: dict[str, Any] = {}
        for row in rows.values():
            year_map = row.get("budgetYearMap")
            for year, amount in year_map.items() if isinstance(year_map, dict) else []:
                try:
                    years[str(year)] = years.get(str(year), 0.0) + float(amount)
                except (TypeError, ValueError):
                    continue
            for key, name in (
                ("minContribution", "min_contribution"),
                ("maxContribution", "max_contribution"),
                ("expectedGrants", "expected_grants"),
            ):
                if isinstance(row.get(key), int | float) and not isinstance(row.get(key), bool):
                    extra[name] = row[key]
        total = sum(v for v in years.values() if v > 0)
        if not total:
            return None, None, extra
        text = "; ".join(
            f"{year}: {amount:,.0f} EUR".replace(",", " ") for year, amount in sorted(years.items())
        )
        return total, text, extra

    # --- details --------------------------------------------------------------------

    def parse_detail(self, response, item: CallItem) -> Iterator[CallItem]:
        self.pages += 1
        try:
            data = response.json()
            details = data.get("TopicDetails") if isinstance(data, dict) else None
            if not isinstance(details, dict):
                raise ValueError("no TopicDetails object")
        except ValueError as exc:
            self.note_error(
                f"topic details of {item.identifier} unreadable ({response.url}): {exc}"
            )
            item.source_hash = None  # not the whole record: never skipped on this
            yield item
            return
        item.source_hash = self.fingerprint(item.source_hash, details)
        if self.unchanged(item.external_id, item.source_hash):
            return
        description = details.get("description")
        if isinstance(description, str) and description.strip():
            item.description = description
        conditions = details.get("conditions")
        if isinstance(conditions, str) and conditions.strip():
            item.extra["conditions"] = conditions[:20_000]
        keywords = details.get("keywords")
        if isinstance(keywords, list):
            item.keywords = list(dict.fromkeys([*item.keywords, *(str(k) for k in keywords)]))
        item.extra["detail"] = True
        yield item

    def detail_failed(self, failure) -> Iterator[CallItem]:
        item = failure.request.cb_kwargs["item"]
        self.note_error(f"topic details of {item.identifier}: {self.describe_failure(failure)}")
        item.source_hash = None  # not the whole record: never skipped on this
        yield item
