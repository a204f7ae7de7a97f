"""EU Funding & Tenders portal, through the SEDIA search API.

One POST per page (multipart parts ``query``, ``languages`` and ``sort``, each JSON) for
grants (types 1, 2, 8) that are open or forthcoming, in the configured programmes, sorted by
identifier so paging is deterministic. Pages are fetched until as many results as
``totalResults`` announced have come (the server may send fewer a page than asked); a crawl
that ends short of that (an empty page, ``max_pages``) fails.

The real quirks handled here: every metadata value is a list; ``actions`` and
``budgetOverview`` are JSON inside strings; the ``status`` code can be stale (storage derives
the status from the dates; the hint comes from ``actions``); two-stage topics have several
deadlines (all kept); deadlines are 17:00 Brussels time however the record writes them
(:func:`portal_instant`); a topic's budget row may hold the whole call's budget
(:meth:`EuPortalSpider.budget`); the same topic can appear twice (the fuller record wins);
legacy records keep keywords as one JSON string and point their url at the JSON. The
stored URL is the record's portal page: topic (type 1), call for proposals (type 2, by
``reference``) or cascade-funding call (type 8, by ``callccm2Id``). With ``fetch_details``
each topic's detail JSON (asked for by lower-case identifier) adds the full description; if
that fetch fails the topic is stored from the search data and the failure is counted
(``detail_failures``). A topic whose raw record (search result, and detail JSON when
fetched) is the same as at the last crawl is skipped without being parsed
(``BevakaSpider.unchanged``).

Options (config/sources.yaml, all optional): ``programmes`` (codes from
config/programmes.py), ``statuses`` (open, forthcoming, closed), ``types``, ``page_size``,
``max_pages``, ``text``, ``fetch_details``, ``detail_url``, ``topic_url``, ``prospect_url``
and ``cascade_url`` (templates with ``{identifier}``), ``programme_period``,
``download_delay``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import scrapy
from w3lib.url import add_or_replace_parameters

from config.programmes import BY_SEDIA_ID, PROGRAMMES, programme_from_identifier
from crawler.items import CallItem
from crawler.spiders.base import BevakaSpider

DEFAULT_PROGRAMMES = [
    "HORIZON", "ERASMUS", "LIFE", "CERV", "CREA", "AMIF", "DIGITAL", "ESF", "EU4H", "SMP",
    "UCPM", "CEF", "ESC", "JUST", "ISF", "INNOVFUND", "PPPA", "I3",
]  # fmt: skip
STATUS_CODES = {"forthcoming": "31094501", "open": "31094502", "closed": "31094503"}
STATUS_BY_CODE = {v: k for k, v in STATUS_CODES.items()}
STATUS_BY_ABBREVIATION = {"open": "open", "forthcoming": "forthcoming", "closed": "closed"}
GRANT_TYPES = ["1", "2", "8"]
DEFAULT_DETAIL_URL = (
    "https://ec.europa.eu/info/funding-tenders/opportunities/data/topicDetails/"
    "{identifier}.json?lang=en"
)
PORTAL_SCREEN = (
    "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/"
)
DEFAULT_TOPIC_URL = PORTAL_SCREEN + "topic-details/{identifier}"
#: the portal's own pages for a call for proposals (type 2) and a cascade-funding call
#: (type 8), as public SEDIA clients build them: type 2 by the record's ``reference``,
#: type 8 by its ``callccm2Id``
DEFAULT_PROSPECT_URL = PORTAL_SCREEN + "prospect-details/{identifier}"
DEFAULT_CASCADE_URL = PORTAL_SCREEN + "competitive-calls-cs/{identifier}"
#: the portal's deadlines (and opening dates) are Brussels time
BRUSSELS = ZoneInfo("Europe/Brussels")
DEADLINE_TIME = time(17, 0)
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?$"
)
#: a row of budgetOverview larger than this many times what its grants can get at most is
#: not the topic's own budget but the whole call's (seen on joint-undertaking calls)
CALL_LEVEL_FACTOR = 1.5
BOUNDARY = "BevakaSediaSearch7d2f"


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


def portal_instant(value: Any, *, deadline: bool) -> datetime | None:
    """The real instant of a portal date (aware UTC), or None when it is not a date.

    The portal's deadlines are 17:00 Brussels time, but its records say so in three ways:
    current records carry the date at midnight UTC (``2027-04-08T00:00:00.000+0000``: the
    date only, so that date at 17:00 Brussels), older ones carry Brussels wall-clock time
    labelled UTC (``2024-03-12T17:00:00.000+0000``: 17:00 in Brussels, not 17:00 UTC, which
    would be 18:00 or 19:00 there), and others a correct offset (``17:00:00.000+0200``, kept
    as it is). ``actions`` and ``budgetOverview`` give bare dates (``2027-04-08``). An opening
    date at midnight UTC, or bare, is the start of that day in Brussels."""
    if not isinstance(value, str):
        return None
    m = _ISO.match(value.strip())
    if not m:
        return None
    y, mo, d, hh, mi, ss, off = m.groups()
    try:
        day = datetime(int(y), int(mo), int(d))
        clock = time(int(hh), int(mi), int(ss or 0)) if hh is not None else None
    except ValueError:
        return None
    zero = off is None or off in ("Z", "+0000", "+00:00", "-0000", "-00:00")
    if clock is None or (zero and clock == time(0)):
        wall = DEADLINE_TIME if deadline else time(0)
        return datetime.combine(day.date(), wall, tzinfo=BRUSSELS).astimezone(UTC)
    if zero and off is not None and clock == DEADLINE_TIME:
        return datetime.combine(day.date(), clock, tzinfo=BRUSSELS).astimezone(UTC)
    if off is None:  # a time without a zone: the portal's own, Brussels
        return datetime.combine(day.date(), clock, tzinfo=BRUSSELS).astimezone(UTC)
    sign = -1 if off.startswith("-") else 1
    digits = off[1:].replace(":", "")
    shift = timedelta(hours=int(digits[:2]), minutes=int(digits[2:])) * sign
    return (datetime.combine(day.date(), clock) - shift).replace(tzinfo=UTC)


def format_eur(amount: float) -> str:
    return f"{amount:,.0f} EUR".replace(",", " ")


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
        self.prospect_url = str(self.option("prospect_url", DEFAULT_PROSPECT_URL))
        self.cascade_url = str(self.option("cascade_url", DEFAULT_CASCADE_URL))
        self.types = [str(t) for t in self.option("types", GRANT_TYPES)]
        self.seen_ids: set[str] = set()
        #: search results received (duplicates and non-grants included) and announced
        self.received = 0
        self.announced: int | None = None

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
        self.received += len(data["results"])
        best: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for result in results:
            key = record_key(result)
            if not key:
                continue  # update notices and broken records have no identifier
            if key not in best:
                order.append(key)
                best[key] = result
            elif _record_score(result) > _record_score(best[key]):
                best[key] = result
        for key in order:
            if key in self.seen_ids:
                continue
            fingerprint = self.fingerprint(best[key])
            if not self.fetch_details and self.unchanged(key, fingerprint):
                self.seen_ids.add(key)
                continue
            item = self.topic_item(best[key])
            if item is None:
                continue
            item.source_hash = fingerprint
            self.seen_ids.add(key)
            if self.fetch_details and item.identifier and item.extra.get("type") in (None, "1"):
                yield scrapy.Request(
                    # the topicDetails service knows identifiers in lower case only
                    fill(self.detail_url, item.identifier.lower()),
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
        self.announced = max(self.announced or 0, total)
        # the server may send fewer results a page than asked (its own page size): go on
        # until every announced result has come, not until page × page_size does
        if results and self.received < total:
            if page < self.max_pages:
                yield self.search_request(page + 1)
            else:
                self.short_crawl(f"max_pages ({self.max_pages}) reached")
        elif self.received < total:
            self.short_crawl(f"page {page} came back empty")

    def short_crawl(self, why: str) -> None:
        """Fewer results than the portal announced: the run is not ``ok`` (what was read is
        stored all the same)."""
        self.note_error(
            f"incomplete: {self.received} of {self.announced} announced results read ({why})",
            fatal=True,
        )

    def call_url(self, result: dict[str, Any], kind: str | None, identifier: str) -> str:
        """The portal page of this very record: a topic's page (type 1), a call for
        proposals' (type 2, by ``reference``) or a cascade-funding call's (type 8, by
        ``callccm2Id``); the topic page when the key it needs is missing."""
        md = metadata_of(result)
        if kind == "2" and result.get("reference"):
            return fill(self.prospect_url, str(result["reference"]))
        if kind == "8" and first(md, "callccm2Id"):
            return fill(self.cascade_url, str(first(md, "callccm2Id")))
        return fill(self.topic_url, identifier)

    def topic_item(self, result: dict[str, Any]) -> CallItem | None:
        md = metadata_of(result)
        kind = first(md, "type")
        if kind is not None and kind not in self.types:
            return None
        key = record_key(result)
        if not key:
            return None
        identifier = first(md, "identifier")
        title = first(md, "title") or result.get("summary") or result.get("content")
        actions = json_in_string(first(md, "actions"))
        actions = [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []
        raw_deadlines: list[str] = values(md, "deadlineDate")
        if not raw_deadlines:
            for action in actions:
                dates = action.get("deadlineDates")
                if isinstance(dates, list):
                    raw_deadlines.extend(str(d) for d in dates if d)
        deadlines = sorted(
            {d for d in (portal_instant(v, deadline=True) for v in raw_deadlines) if d}
        )
        opens_at = portal_instant(first(md, "startDate"), deadline=False)
        if opens_at is None:
            planned = [
                d
                for d in (
                    portal_instant(str(a.get("plannedOpeningDate")), deadline=False)
                    for a in actions
                )
                if d
            ]
            opens_at = min(planned) if planned else None
        code = first(md, "frameworkProgramme")
        programme = BY_SEDIA_ID.get(code or "") or programme_from_identifier(identifier or key)
        budget, budget_text, budget_extra = self.budget(md, identifier or key)
        call_title = first(md, "callTitle")
        return CallItem(
            source=self.source_key,
            external_id=key,
            url=self.call_url(result, kind, identifier or key),
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
            deadlines=list(deadlines),
            budget=budget,
            budget_text=budget_text,
            currency="EUR" if budget else None,
            language="en",
            extra={
                "type": kind,
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
        """The topic's own budget from ``budgetOverview``: the sum over the years of the rows
        whose ``action`` is this topic. ``budgetTopicActionMap`` covers every topic of the
        call, and for some calls (joint undertakings) a topic's row holds the whole call's
        budget: a row worth more than its grants can get (``expectedGrants`` ×
        ``maxContribution`` × :data:`CALL_LEVEL_FACTOR`) is the call's. Then the topic has no budget of its own:
        ``budget`` stays empty, ``extra.call_budget`` keeps the call's total and
        ``budget_text`` says it is part of it (``extra.budget_scope`` is ``call``)."""
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
            for year, amount in _year_amounts(row).items():
                years[year] = years.get(year, 0.0) + amount
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
        grants, most = extra.get("expected_grants"), extra.get("max_contribution")
        over_grants = bool(grants and most and total > grants * most * CALL_LEVEL_FACTOR)
        if over_grants:
            extra.update(budget_scope="call", call_budget=total)
            return None, f"Del av en utlysning på totalt {format_eur(total)}", extra
        extra["budget_scope"] = "topic"
        text = "; ".join(f"{year}: {format_eur(amount)}" for year, amount in sorted(years.items()))
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
            self.note_detail_failure(
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
        self.note_detail_failure(
            f"topic details of {item.identifier}: {self.describe_failure(failure)}"
        )
        item.source_hash = None  # not the whole record: never skipped on this
        yield item


def record_key(result: dict[str, Any]) -> str | None:
    """The stable id of a record: its ``identifier``; for a call record without one
    (types 2 and 8), its ``reference``."""
    md = metadata_of(result)
    identifier = first(md, "identifier")
    if identifier:
        return identifier
    if first(md, "type") in ("2", "8") and result.get("reference"):
        return str(result["reference"]).strip() or None
    return None


def _year_amounts(row: dict[str, Any]) -> dict[str, float]:
    """``budgetYearMap`` of one budgetOverview row as numbers (its values are strings)."""
    out: dict[str, float] = {}
    year_map = row.get("budgetYearMap")
    for year, amount in year_map.items() if isinstance(year_map, dict) else []:
        try:
            value = float(amount)
        except (TypeError, ValueError):
            continue
        if value > 0:
            out[str(year)] = value
    return out
