"""Run a Bevaka spider in-process against a real local HTTP server (crawler.mirror.Mirror).

Every request the spider makes is fetched over real HTTP with urllib; the bytes become a
Scrapy response (the same response class Scrapy would pick) handed to the request's callback,
or, for an HTTP error, an ``HttpError`` failure handed to its errback, as Scrapy does. It is
Scrapy's request/callback contract without the reactor, so a test can crawl in milliseconds.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy.http import Headers
from scrapy.responsetypes import responsetypes
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.items import CallItem


@dataclass
class Drive:
    items: list[CallItem] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


def fetch(request: scrapy.Request) -> scrapy.http.Response:
    req = urllib.request.Request(request.url, method=request.method)
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            status, headers, body = answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, dict(exc.headers), exc.read()
    scrapy_headers = Headers(headers)
    cls = responsetypes.from_args(headers=scrapy_headers, url=request.url, body=body)
    return cls(url=request.url, status=status, headers=scrapy_headers, body=body, request=request)


def drive(spider: Any, *, max_requests: int = 100) -> Drive:
    """Crawl with ``spider`` until no request is left; return the items and URLs fetched."""
    result = Drive()
    queue: list[scrapy.Request] = list(spider.start_requests())
    while queue:
        if len(result.urls) >= max_requests:
            raise AssertionError(f"more than {max_requests} requests: {result.urls[-5:]}")
        request = queue.pop(0)
        result.urls.append(request.url)
        response = fetch(request)
        if response.status >= 400:
            failure = Failure(HttpError(response, "Ignoring non-200 response"))
            failure.request = request  # type: ignore[attr-defined]
            output = request.errback(failure) if request.errback else None
        else:
            output = request.callback(response, **request.cb_kwargs)
        for out in output or []:
            if isinstance(out, scrapy.Request):
                queue.append(out)
            else:
                result.items.append(out)
    return result
