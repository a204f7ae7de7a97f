"""``kind: wordpress``: a WordPress site's REST API (``/wp-json/wp/v2/<type>``), config only.

The url is a collection: ``https://www.esf.se/wp-json/wp/v2/posts`` (news), ``…/pages``, or
a custom post type (``https://<site>/wp-json/wp/v2/types`` lists them); query parameters
in the url are kept (``?search=utlysning``, ``?categories=12``). Pages are read with
``per_page`` and ``page=N`` until the ``X-WP-TotalPages`` header's count (or
``max_pages``). Each post is one item, from the fields WordPress's REST API returns:

* ``link`` → url, and the external id (the Sitevision id or the URL's path, as in
  ``listing`` and ``feed``, so one call keeps its id whichever kind reads it);
* ``title.rendered`` → title; ``excerpt.rendered`` → summary; ``content.rendered`` →
  description (HTML made plain text), its dates ("Stänger: 6 mars 2023") and budget;
* ``date_gmt`` (UTC), else ``date`` (the site's local time) → the published date, which
  anchors yearless dates; ``modified`` is kept in ``extra``.

Options (:class:`crawler.options.WordPressOptions`): ``include``, ``exclude`` (as in
``feed``: include words in title, excerpt or content), ``per_page`` (1-100, default 100),
``max_pages`` (default 5), ``programme``, ``language``, ``max_items``,
``download_delay``, ``follow_links`` + ``detail`` (read each post's page too; rarely
needed: the content is in the API).

A body that is not a JSON list of posts is a fatal error (a WordPress error object
``{"code": …, "message": …}`` is quoted), except ``rest_post_invalid_page_number`` on a
later page, which ends the paging.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import scrapy
from scrapy.http import Response

from crawler import pages, textparse
from crawler.extract import keep, stable_id
from crawler.items import CallItem
from crawler.options import WordPressOptions, checked_options
from crawler.spiders.base import DetailPageSpider, set_dates

TZ = textparse.STOCKHOLM


def page_url(url: str, page: int, per_page: int) -> str:
    """The collection url with ``per_page`` (unless given) and ``page`` set."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    if not any(k == "per_page" for k, _ in query):
        query.append(("per_page", str(per_page)))
    query.append(("page", str(page)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _rendered(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("rendered")
    return value if isinstance(value, str) else ""


class WordPressSpider(DetailPageSpider):
    name = "wordpress"
    kinds = ("wordpress",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.opts: WordPressOptions = checked_options(
            "wordpress", self.options, source=self.source_key
        )
        self.seen_ids: set[str] = set()
        self.yielded = 0

    async def start(self) -> Any:  # Scrapy >= 2.13
        for request in self.start_requests():
            yield request

    def start_requests(self):
        for url in self.source.all_urls:
            yield scrapy.Request(
                page_url(url, 1, self.opts.per_page),
                callback=self.parse,
                errback=self.on_fatal_error,
                cb_kwargs={"base": url, "page": 1},
                dont_filter=True,
            )

    def parse(self, response: Response, base: str = "", page: int = 1, **_: Any):
        self.pages += 1
        try:
            posts = json.loads(response.body.decode("utf-8", errors="replace"))
        except ValueError as exc:
            self.note_error(f"not WordPress REST JSON at {response.url}: {exc}", fatal=True)
            return
        if isinstance(posts, dict) and "code" in posts:
            if page > 1 and posts.get("code") == "rest_post_invalid_page_number":
                return
            message = textparse.clean_text(str(posts.get("message") or ""), multiline=False)
            self.note_error(
                f"WordPress error {str(posts.get('code'))[:100]!r} at {response.url}: "
                f"{message[:300]}",
                fatal=True,
            )
            return
        if not isinstance(posts, list):
            self.note_error(
                f"not a WordPress collection at {response.url}: expected a JSON list of posts",
                fatal=page == 1,
            )
            return
        for post in posts:
            if self.yielded >= self.opts.max_items:
                return
            item = self.item_from(post, response.url) if isinstance(post, dict) else None
            if item is None:
                continue
            if self.opts.follow_links:
                yield self.detail_request(item)
            else:
                yield item
        try:
            total = int(response.headers.get("X-WP-TotalPages", b"0").decode("ascii"))
        except ValueError:
            total = 0
        more = page < total if total else len(posts) >= self.opts.per_page
        if more and page < self.opts.max_pages and self.yielded < self.opts.max_items:
            yield scrapy.Request(
                page_url(base, page + 1, self.opts.per_page),
                callback=self.parse,
                errback=self.on_soft_error,
                cb_kwargs={"base": base, "page": page + 1},
                dont_filter=True,
            )

    def item_from(self, post: dict[str, Any], api_url: str) -> CallItem | None:
        opts = self.opts
        raw_link = post.get("link")
        link = textparse.safe_http_url(raw_link if isinstance(raw_link, str) else None)
        title = textparse.clean_text(
            textparse.html_to_text(_rendered(post.get("title"))), multiline=False
        )
        if not title or not link:
            self.logger.warning("a post without a title or http(s) link skipped (%s)", api_url)
            return None
        summary = textparse.html_to_text(_rendered(post.get("excerpt"))) or None
        content = textparse.html_to_text(_rendered(post.get("content"))) or None
        if not keep(f"{title}\n{summary or ''}", [], opts.exclude):
            return None
        external_id = stable_id(link)
        if external_id in self.seen_ids:
            return None
        if post.get("date_gmt"):
            published = textparse.parse_date_any(post["date_gmt"], tz=UTC)
        else:
            published = textparse.parse_date_any(post.get("date"), tz=TZ)
        found = textparse.find_dates(
            "\n".join(p for p in (title, summary, content) if p), tz=TZ, anchor=published
        )
        item = CallItem(
            source=self.source_key,
            external_id=external_id,
            url=link,
            title=title,
            summary=summary,
            description=content,
            programme=opts.programme,
            kind=self.source.call_kind,
            language=opts.language,
            budget_text=pages.budget_text(content),
        )
        set_dates(item, found, now=self.now)
        if published is not None:
            item.extra["published"] = published.isoformat()
        modified = textparse.parse_date_any(post.get("modified"), tz=TZ)
        if modified is not None:
            item.extra["modified"] = modified.isoformat()
        if isinstance(post.get("id"), int):
            item.extra["wp_id"] = post["id"]
        if not self.passes_include(item):
            if not opts.follow_links:
                return None
            item.extra["_include_pending"] = True
        self.seen_ids.add(external_id)
        self.yielded += 1
        return item
