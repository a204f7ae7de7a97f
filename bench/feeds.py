"""RSS feeds for the peer benchmark: N feeds of M items each, Swedish funding news shaped
like Tillväxtverket's / ESF-rådet's feeds (guid, link, pubDate, HTML description naming a
deadline), with the needs' terms sprinkled in so the calls get tagged."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from bench.servers import BenchHTTPServer
from bench.vocab import TextGen

MONTHS = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
]


def feed_xml(index: int, items: int, base_url: str, terms: list[str], seed: int = 7) -> bytes:
    rng = random.Random(seed * 100_003 + index)
    text = TextGen(seed * 100_003 + index, terms, term_rate=0.03)
    published = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    entries = []
    for i in range(items):
        deadline = datetime(2027, 1, 15, tzinfo=UTC) + timedelta(days=rng.randint(0, 300))
        link = f"{base_url}/site{index:03d}/utlysningar/utlysning-{i:03d}"
        title = text.title(True)
        body = (
            f"<p>{escape(text.paragraph(True, rng.randint(2, 4)))}</p>"
            f"<p>Sista ansökningsdag {deadline.day} {MONTHS[deadline.month - 1]} {deadline.year}.</p>"
        )
        entries.append(
            "<item>"
            f"<title>{escape(title)}</title>"
            f"<link>{link}</link>"
            f'<guid isPermaLink="false">site{index:03d}-{i:03d}</guid>'
            f"<pubDate>{format_datetime(published - timedelta(days=i, hours=index % 24))}</pubDate>"
            f"<description>{escape(body)}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0"><channel>'
        f"<title>Utlysningar {index:03d}</title>"
        f"<link>{base_url}/site{index:03d}/</link>"
        "<description>Aktuella utlysningar</description><language>sv</language>"
        + "".join(entries)
        + "</channel></rss>"
    ).encode("utf-8")


class FeedServer(BenchHTTPServer):
    """``GET {base}/feeds/NNN.xml`` for NNN in 0..feeds-1; bodies built up front."""

    def __init__(self, feeds: int, items: int, terms: list[str]):
        super().__init__(self._resolve)
        self.feeds = feeds
        self.bodies = {
            f"/feeds/{i:03d}.xml": feed_xml(i, items, self.base_url, terms) for i in range(feeds)
        }

    def _resolve(self, method, path, query, payload):
        body = self.bodies.get(path)
        if body is None or method not in ("GET", "HEAD"):
            return None
        return body, "application/rss+xml; charset=utf-8"

    def feed_url(self, index: int) -> str:
        return f"{self.base_url}/feeds/{index:03d}.xml"
