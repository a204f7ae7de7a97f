"""Scrapy settings for Bevaka.

The static defaults below are completed from config/settings.yaml (``crawl:``) by
:func:`crawl_settings`; the runner passes the result to each source's CrawlerProcess. When
Scrapy is run by hand (``scrapy crawl eu_portal``), the config found through
``BEVAKA_CONFIG`` (or the shipped one) is applied at import time, so the politeness rules
and the database are the same either way.

:data:`BENCH_SETTINGS` switches politeness off (no robots.txt, no delays, no AutoThrottle,
no cache, one quick retry without backoff): for tests and benchmarks against a local mirror
only, never against real sites.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BOT_NAME = "bevaka"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "Bevaka/0.1 (Lidkopings kommun; +mailto:international@lidkoping.se)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 20_000_000
DOWNLOAD_WARNSIZE = 5_000_000

AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
#: seconds before the first retry; doubled for each further retry (see BackoffRetryMiddleware)
RETRY_BACKOFF_BASE = 2.0
RETRY_BACKOFF_MAX = 60.0

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    # before DownloadTimeoutMiddleware (350): robots.txt gets its own short timeout
    "crawler.middlewares.RobotsTxtLimitMiddleware": 340,
}

# Conditional requests: responses are kept with their ETag / Last-Modified and revalidated
# (If-None-Match / If-Modified-Since) on the next crawl, so an unchanged page costs a 304.
HTTPCACHE_ENABLED = True
HTTPCACHE_POLICY = "scrapy.extensions.httpcache.RFC2616Policy"
HTTPCACHE_STORAGE = "scrapy.extensions.httpcache.FilesystemCacheStorage"
HTTPCACHE_DIR = str(Path.cwd() / "var" / "httpcache")  # absolute: not under .scrapy/
HTTPCACHE_IGNORE_HTTP_CODES = [500, 502, 503, 504, 408, 429]

ITEM_PIPELINES = {
    "crawler.pipelines.NormalisePipeline": 100,
    "crawler.pipelines.ValidatePipeline": 200,
    "crawler.pipelines.StorePipeline": 300,
}

# Stop a whole source's crawl after this long (the runner also kills a stuck process).
CLOSESPIDER_TIMEOUT = 900

TELNETCONSOLE_ENABLED = False
# Scrapy 2.19 starts an HTTP control server for every crawl by default: nothing here uses
# it, and a crawl must open no port (it also cost a server start per source).
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"

# Bevaka's own settings (read by the pipelines).
#: where calls are stored; None = the configured database_url
BEVAKA_DATABASE_URL: str | None = None
#: an already started CrawlRun id (the runner starts one per source); None = start one
BEVAKA_CRAWL_RUN_ID: int | None = None
#: False = crawl without storing (``bevaka sources check``)
BEVAKA_STORE = True
#: "now" as an ISO timestamp (tests freeze it); None = the real clock
BEVAKA_NOW: str | None = None
#: honour a source's own ``options.download_delay``
BEVAKA_POLITE = True

BENCH_SETTINGS: dict[str, Any] = {
    "ROBOTSTXT_OBEY": False,
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "HTTPCACHE_ENABLED": False,
    "RETRY_TIMES": 1,
    "RETRY_BACKOFF_BASE": 0.0,
    "DOWNLOAD_TIMEOUT": 5,
    "LOG_LEVEL": "WARNING",
    "BEVAKA_POLITE": False,
}


def crawl_settings(crawl: Any) -> dict[str, Any]:
    """The Scrapy settings that come from ``settings.crawl`` (a config CrawlSettings)."""
    return {
        "USER_AGENT": crawl.resolved_user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_requests_per_domain,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay, 0.5),
        "DOWNLOAD_TIMEOUT": crawl.timeout_seconds,
        "BEVAKA_ROBOTS_TIMEOUT": min(crawl.robots_timeout_seconds, crawl.timeout_seconds),
        "RETRY_TIMES": crawl.retries,
        "DOWNLOAD_MAXSIZE": crawl.max_response_bytes,
        "CLOSESPIDER_TIMEOUT": crawl.source_timeout_seconds,
    }


def _from_config() -> dict[str, Any]:
    """Apply the coordinator's config when Scrapy imports this module by itself (the runner
    passes every setting explicitly and sets BEVAKA_CRAWL_CHILD to skip this)."""
    import os

    if os.environ.get("BEVAKA_CRAWL_CHILD"):
        return {}
    try:
        from config.loader import load_config

        config = load_config()
    except Exception:  # a bad config is reported by `bevaka config check`
        return {}
    out = crawl_settings(config.settings.crawl)
    out["BEVAKA_DATABASE_URL"] = config.settings.database_url
    return out


globals().update(_from_config())
