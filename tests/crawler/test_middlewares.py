"""Retries wait with exponential backoff, or as long as the server's Retry-After asks."""

from __future__ import annotations

from datetime import UTC, datetime

from scrapy import Request, Spider
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from crawler.middlewares import BackoffRetryMiddleware, retry_after_seconds


def _middleware(**settings) -> BackoffRetryMiddleware:
    crawler = get_crawler(Spider, settings_dict={"RETRY_TIMES": 3, **settings})
    crawler.spider = crawler._create_spider("s")
    return BackoffRetryMiddleware.from_crawler(crawler)


def _answer(mw, request, status=503, headers=None):
    return mw.process_response(request, Response(request.url, status=status, headers=headers or {}))


def test_backoff_doubles_per_retry():
    mw = _middleware(RETRY_BACKOFF_BASE=2.0, RETRY_BACKOFF_MAX=60.0)
    first = _answer(mw, Request("https://example.org/a"))
    second = _answer(mw, first)
    assert (first.meta["backoff_delay"], second.meta["backoff_delay"]) == (2.0, 4.0)


def test_retry_after_seconds_is_honoured_when_longer():
    mw = _middleware(RETRY_BACKOFF_BASE=2.0, RETRY_BACKOFF_MAX=60.0)
    retry = _answer(mw, Request("https://example.org/a"), 429, {"Retry-After": "30"})
    assert retry.meta["backoff_delay"] == 30.0
    assert "_retry_after" not in retry.meta


def test_retry_after_is_capped_and_applies_in_bench_mode():
    mw = _middleware(RETRY_BACKOFF_BASE=0.0, RETRY_BACKOFF_MAX=60.0)
    assert (
        _answer(mw, Request("https://example.org/a"), 429, {"Retry-After": "3600"}).meta[
            "backoff_delay"
        ]
        == 60.0
    )
    assert "backoff_delay" not in _answer(mw, Request("https://example.org/b")).meta


def test_no_retry_after_the_last_attempt():
    mw = _middleware(RETRY_TIMES=0)
    response = _answer(mw, Request("https://example.org/a"), 500)
    assert isinstance(response, Response) and response.status == 500


def test_retry_after_header_forms():
    now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(b"120") == 120.0
    assert retry_after_seconds("Mon, 01 Mar 2027 12:01:30 GMT", now) == 90.0
    assert retry_after_seconds("Mon, 01 Mar 2027 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
