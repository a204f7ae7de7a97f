"""A SEDIA search API emulator: N generated grant topics served in pages, shaped like the
real responses (docs in crawler/spiders/eu_portal.py): every metadata value a list of
strings, ``actions`` and ``budgetOverview`` JSON inside strings, two-stage topics with two
deadlines, date offsets, legacy records with keywords as one JSON string, and a few legacy
duplicates of a topic in the same page. Sorted by identifier, as the spider asks."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.servers import BenchHTTPServer
from bench.vocab import TextGen

SEARCH_PATH = "/search-api/prod/rest/search"
PROGRAMMES = [
    ("HORIZON", "43108390", "HORIZON-RIA HORIZON  Research and Innovation Actions"),
    ("HORIZON", "43108390", "HORIZON-CSA HORIZON  Coordination and Support Actions"),
    ("ERASMUS", "43353764", "ERASMUS-LS ERASMUS Lump Sum Grants"),
    ("LIFE", "43252405", "LIFE-SAP LIFE Standard Action Projects"),
    ("CERV", "43251589", "CERV-PJG CERV Project Grants"),
    ("CREA", "43251814", "CREA-LS CREA Lump Sum Grants"),
    ("DIGITAL", "43152860", "DIGITAL-SIMPLE DIGITAL Simple Grants"),
    ("EU4H", "43332642", "EU4H-PJG EU4H Project Grants"),
    ("AMIF", "43251447", "AMIF-PJG AMIF Project Grants"),
    ("SMP", "43252476", "SMP-COSME-PJG SMP COSME Project Grants"),
]
TOPICS_PER_CALL = 5
DUPLICATE_RATE = 0.005
LEGACY_RATE = 0.08
BASE = datetime(2026, 11, 2, tzinfo=UTC)


def _sedia_date(day: datetime, rng: random.Random) -> str:
    if rng.random() < 0.15:  # older records carry a local offset
        return (day + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0100")
    return day.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def generate_results(count: int, seed: int = 20261126) -> list[dict[str, Any]]:
    """``count`` topics (plus a few legacy duplicates) as SEDIA result records."""
    rng = random.Random(seed)
    text = TextGen(seed + 1)
    results: list[dict[str, Any]] = []
    calls = math.ceil(count / TOPICS_PER_CALL)
    made = 0
    for c in range(calls):
        prog, prog_id, action_type = PROGRAMMES[c % len(PROGRAMMES)]
        call_id = f"{prog}-2027-{c:04d}-CALL"
        call_title = text.title(False)
        n_topics = min(TOPICS_PER_CALL, count - made)
        forthcoming = rng.random() < 0.35
        opens = BASE + timedelta(days=rng.randint(30, 200) if forthcoming else -rng.randint(5, 200))
        two_stage = rng.random() < 0.15
        first_deadline = max(opens, BASE) + timedelta(days=rng.randint(40, 300), hours=17)
        deadlines = [first_deadline]
        if two_stage:
            deadlines.append(first_deadline + timedelta(days=rng.randint(90, 180)))
        topic_ids = [f"{call_id[:-5]}-{t + 1:02d}" for t in range(n_topics)]
        year = str(first_deadline.year)
        budget_rows = []
        for tid in topic_ids:
            budget = rng.choice([1, 2, 3, 4, 5, 8, 10, 12, 15, 20]) * 1_000_000
            budget_rows.append(
                {
                    "action": f"{tid} - {action_type}",
                    "plannedOpeningDate": opens.date().isoformat(),
                    "deadlineModel": "two-stage" if two_stage else "single-stage",
                    "deadlineDates": [d.date().isoformat() for d in deadlines],
                    "budgetYearMap": {year: str(budget)},
                    "expectedGrants": rng.randint(1, 12),
                    "minContribution": budget // 4,
                    "maxContribution": budget // 2,
                }
            )
        budget_overview = json.dumps(
            {
                "budgetTopicActionMap": {str(44_000_000 + c): budget_rows},
                "budgetYearsColumns": [year],
            },
            separators=(",", ":"),
        )
        status_code = "31094501" if forthcoming else "31094502"
        for tid in topic_ids:
            title = text.title(False)
            legacy = rng.random() < LEGACY_RATE
            keywords = text.keywords(False)
            actions = json.dumps(
                [
                    {
                        "types": [{"typeOfAction": action_type, "typeOfMGA": [{"id": 43027846}]}],
                        "status": {
                            "id": int(status_code),
                            "abbreviation": "Forthcoming" if forthcoming else "Open",
                        },
                        "plannedOpeningDate": opens.date().isoformat(),
                        "submissionProcedure": {
                            "id": 31094504,
                            "abbreviation": "two-stage" if two_stage else "single-stage",
                        },
                        "deadlineDates": [d.date().isoformat() for d in deadlines],
                    }
                ],
                separators=(",", ":"),
            )
            ccm = str(50_000_000 + made)
            metadata: dict[str, Any] = {
                "type": ["1"],
                "identifier": [tid],
                "title": [title],
                "callIdentifier": [call_id],
                "callTitle": [call_title],
                "status": [status_code],
                "sortStatus": ["2" if forthcoming else "1"],
                "startDate": [_sedia_date(opens, rng)],
                "deadlineDate": [_sedia_date(d, rng) for d in deadlines],
                "deadlineModel": ["two-stage" if two_stage else "single-stage"],
                "frameworkProgramme": [prog_id],
                "programmeDivision": [prog_id, str(43_108_000 + c % 97)],
                "programmePeriod": ["2021 - 2027"],
                "typesOfAction": [action_type.split(" ", 1)[1]],
                "typeOfMGAs": ["43027846"],
                "keywords": [json.dumps(keywords)] if legacy else keywords,
                "tags": text.keywords(False, 2),
                "crossCuttingPriorities": rng.sample(
                    ["AI", "DigitalAgenda", "Gender", "ClimateChange", "SocialSciences"], 2
                ),
                "descriptionByte": [text.html_description(False, rng.randint(3, 8))],
                "destinationDetails": [f"<p>{text.paragraph(False, 2)}</p>"],
                "actions": [actions],
                "budgetOverview": [budget_overview],
                "ccm2Id": [ccm],
                "callccm2Id": [str(44_000_000 + c)],
                "DATASOURCE": ["SEDIA"],
                "allowPartnerSearch": ["true"],
                "es_SortDate": [opens.strftime("%Y-%m-%dT%H:%M:%S.000+0000")],
                "url": [
                    "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/"
                    f"opportunities/topic-details/{tid.lower()}"
                ],
            }
            record = {
                "apiVersion": "2.151",
                "reference": f"{ccm}TOPICSen",
                "url": metadata["url"][0],
                "title": None,
                "contentType": "text",
                "language": "en",
                "databaseLabel": "SEDIA",
                "database": "SEDIA",
                "summary": title,
                "content": title,
                "weight": 1.0,
                "groupById": metadata["sortStatus"][0],
                "accessRestriction": False,
                "checksum": f"{rng.getrandbits(64):016x}",
                "metadata": metadata,
            }
            results.append(record)
            if rng.random() < DUPLICATE_RATE:
                dup = json.loads(json.dumps(record))
                dup["reference"] = f"{ccm}{prog}Legacy{rng.getrandbits(40)}"
                dup["databaseLabel"] = ""
                dup.pop("database", None)
                dup["url"] = (
                    "https://ec.europa.eu/info/funding-tenders/opportunities/data/topicDetails/"
                    f"{tid}.json"
                )
                del dup["metadata"]["callTitle"]
                results.append(dup)
            made += 1
    results.sort(key=lambda r: r["metadata"]["identifier"][0])
    return results


def page_body(results: list[dict[str, Any]], page: int, size: int) -> bytes:
    chunk = results[(page - 1) * size : page * size]
    return json.dumps(
        {
            "apiVersion": "2.151",
            "terms": "***",
            "responseTime": 57,
            "totalResults": len(results),
            "pageNumber": page,
            "pageSize": size,
            "sort": "identifier",
            "groupByField": None,
            "queryLanguage": {"language": "en", "probability": 0.0},
            "spellingSuggestion": "",
            "bestBets": [],
            "warnings": [],
            "results": chunk,
        },
        separators=(",", ":"),
    ).encode("utf-8")


class SediaServer(BenchHTTPServer):
    """``POST {base}/search-api/prod/rest/search?apiKey=SEDIA&text=***&pageSize=&pageNumber=``
    answering from pre-built pages. A body without the multipart ``query`` part gets an
    error object instead of results (so a spider that stops sending it would fail)."""

    def __init__(self, topics: int, page_size: int = 100, seed: int = 20261126):
        self.results = generate_results(topics, seed)
        self.page_size = page_size
        self.pages = max(1, math.ceil(len(self.results) / page_size))
        self.bodies = {p: page_body(self.results, p, page_size) for p in range(1, self.pages + 2)}
        self.unique_topics = len({r["metadata"]["identifier"][0] for r in self.results})
        super().__init__(self._resolve)

    @property
    def total_bytes(self) -> int:
        return sum(len(self.bodies[p]) for p in range(1, self.pages + 1))

    def _resolve(self, method: str, path: str, query: dict[str, str], payload: bytes):
        if method != "POST" or path != SEARCH_PATH:
            return None
        if b'name="query"' not in payload and payload:
            return b'{"error":"bad query"}', "application/json"
        size = int(query.get("pageSize", self.page_size))
        page = int(query.get("pageNumber", 1))
        if size == self.page_size and page in self.bodies:
            return self.bodies[page], "application/json"
        return page_body(self.results, page, size), "application/json"

    @property
    def url(self) -> str:
        return self.base_url + SEARCH_PATH
