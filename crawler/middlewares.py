"""Downloader middlewares: retries with exponential backoff."""

from __future__ import annotations

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import reactor
from twisted.internet.task import deferLater


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware (5xx, 408, 429, timeouts, connection errors) that waits
    ``RETRY_BACKOFF_BASE * 2**(n-1)`` seconds (at most ``RETRY_BACKOFF_MAX``) before the
    n-th retry of a request, so a struggling site gets room to recover."""

    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 0.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)

    def _retry(self, request: Request, reason) -> Request | None:  # type: ignore[override]
        new = super()._retry(request, reason)
        if new is not None and self.backoff_base > 0:
            attempt = int(new.meta.get("retry_times", 1))
            new.meta["backoff_delay"] = min(
                self.backoff_base * 2 ** (attempt - 1), self.backoff_max
            )
        return new

    async def process_request(self, request: Request, spider=None) -> None:
        delay = request.meta.pop("backoff_delay", 0)
        if delay:
            await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))
        return None
