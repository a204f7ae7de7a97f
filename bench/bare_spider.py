"""The crawl baseline: a bare Scrapy spider that fetches the same SEDIA pages the same way
(one multipart POST per page, the next page after the previous answer, politeness off)
and does nothing with them. ``python -m bench.bare_spider URL PAGES PAGE_SIZE``."""

from __future__ import annotations

import json
import sys

import scrapy
from scrapy.crawler import CrawlerProcess

BOUNDARY = "BareSpiderBoundary"


def _body() -> bytes:
    parts = {
        "query": {"bool": {"must": [{"terms": {"type": ["1", "2", "8"]}}]}},
        "languages": ["en"],
        "sort": {"field": "identifier", "order": "ASC"},
    }
    chunks = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"; filename="blob"\r\n'
        f"Content-Type: application/json\r\n\r\n{json.dumps(v)}\r\n"
        for k, v in parts.items()
    ]
    return ("".join(chunks) + f"--{BOUNDARY}--\r\n").encode()


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, url: str, pages: int, page_size: int, **kwargs):
        super().__init__(**kwargs)
        self.url, self.total_pages, self.page_size = url, int(pages), int(page_size)
        self.body = _body()
        self.fetched = 0

    def page(self, number: int) -> scrapy.Request:
        return scrapy.Request(
            f"{self.url}?apiKey=SEDIA&text=***&pageSize={self.page_size}&pageNumber={number}",
            method="POST",
            body=self.body,
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            callback=self.parse,
            cb_kwargs={"number": number},
            dont_filter=True,
        )

    async def start(self):
        yield self.page(1)

    def start_requests(self):  # Scrapy < 2.13
        yield self.page(1)

    def parse(self, response, number: int):
        self.fetched += 1
        if number < self.total_pages:
            yield self.page(number + 1)


SETTINGS = {
    "ROBOTSTXT_OBEY": False,
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "RANDOMIZE_DOWNLOAD_DELAY": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "HTTPCACHE_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
    "DOWNLOAD_MAXSIZE": 0,
    "DOWNLOAD_WARNSIZE": 0,
}


def main(argv: list[str]) -> int:
    url, pages, page_size = argv[0], int(argv[1]), int(argv[2])
    process = CrawlerProcess(SETTINGS)
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, url=url, pages=pages, page_size=page_size)
    process.start()
    stats = crawler.stats.get_stats()
    print(
        json.dumps(
            {
                "pages": crawler.spider.fetched,
                "elapsed": stats.get("elapsed_time_seconds"),
                "bytes": stats.get("downloader/response_bytes"),
            }
        )
    )
    return 0 if crawler.spider.fetched == pages else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
