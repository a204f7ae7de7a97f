"""``bevaka sources suggest URL|FILE``: what a ``listing`` source would find on a page, and
the ``options:`` that make it so, for a coordinator who mends a source without CSS.

:func:`suggest` reads the page (a saved file, or the live URL fetched once), runs the
markup-independent finder (:func:`crawler.pages.find_calls`), and proposes:

* the kind: a structured endpoint the page announces (an RSS/Atom ``<link rel=alternate>``,
  WordPress's ``<link rel="https://api.w.org/">``) is preferred over HTML;
* ``find:`` (the strategy that found the calls) and, for link lists, the selectors
  ``item`` / ``title`` / ``link`` / ``date`` that pick the same items (the card element
  every call link sits in, by tag and class), checked by running them on the page;
* what those settings extract: title, url, opening date, deadlines, status per call.
"""

from __future__ import annotations

import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from parsel import Selector

from crawler import pages, textparse

MAX_BYTES = 5_000_000
_CARD_TAGS = ("li", "article", "tr", "div", "section")


@dataclass
class Suggestion:
    url: str
    strategy: str | None
    options: dict[str, Any]
    calls: list[dict[str, Any]] = field(default_factory=list)
    structured: list[dict[str, str]] = field(default_factory=list)
    #: optional selectors that pick the same items (selector mode), when found
    overrides: dict[str, Any] = field(default_factory=dict)
    selector_matches: int | None = None
    notes: list[str] = field(default_factory=list)


def read_page(
    target: str, *, user_agent: str, timeout: float = 30.0, url: str | None = None
) -> tuple[str, str]:
    """(html, url) of a saved file or a live http(s) URL. A saved file's address is ``url``,
    else the page's own ``<link rel=canonical>`` / ``og:url``, else its file URI (then
    relative links cannot be resolved). Raises ValueError with a clear message for
    anything else."""
    if textparse.safe_http_url(target) and target.lower().startswith(("http://", "https://")):
        request = urllib.request.Request(target, headers={"User-Agent": user_agent})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                body = answer.read(MAX_BYTES + 1)
                charset = answer.headers.get_content_charset() or "utf-8"
                final = answer.geturl()
        except OSError as exc:
            raise ValueError(f"cannot fetch {target}: {exc}") from None
        if len(body) > MAX_BYTES:
            raise ValueError(f"{target}: the page is larger than {MAX_BYTES} bytes")
        return body.decode(charset, errors="replace"), final
    path = Path(target)
    if not path.is_file():
        raise ValueError(f"{target}: neither an http(s) URL nor a file")
    html = path.read_bytes()[:MAX_BYTES].decode("utf-8", errors="replace")
    if url is not None:
        if not textparse.safe_http_url(url):
            raise ValueError(f"--url {url!r}: expected an http(s) URL")
        return html, url
    selector = Selector(text=html)
    for query in ("//link[@rel='canonical']/@href", "//meta[@property='og:url']/@content"):
        own = textparse.safe_http_url(selector.xpath(query).get())
        if own:
            return html, own
    return html, path.resolve().as_uri()


def _structured(selector: Selector, base: str) -> list[dict[str, str]]:
    out = []
    for node in selector.xpath("//link[@rel='alternate'][@href]"):
        kind = (node.attrib.get("type") or "").lower()
        if "rss" in kind or "atom" in kind:
            url = textparse.safe_http_url(node.attrib["href"], base)
            if url:
                out.append({"kind": "feed", "url": url, "why": "the page links its feed"})
    for node in selector.xpath("//link[@rel='https://api.w.org/'][@href]"):
        url = textparse.safe_http_url(node.attrib["href"], base)
        if url:
            out.append(
                {
                    "kind": "wordpress",
                    "url": urljoin(url.rstrip("/") + "/", "wp/v2/posts"),
                    "why": "a WordPress site (REST API); see /wp/v2/types for its post types",
                }
            )
    return out


def _card_selector(selector: Selector, urls: list[str], base: str) -> str | None:
    """The CSS selector of the element every call link sits in (e.g. ``li.sv-channel-item``),
    when they share one; None otherwise."""
    wanted = set(urls)
    cards: list[str] = []
    for a in selector.xpath("//a[@href]"):
        url = textparse.safe_http_url(a.attrib.get("href"), base)
        if url not in wanted:
            continue
        for ancestor in a.xpath("ancestor::*")[::-1]:
            tag = ancestor.root.tag if isinstance(ancestor.root.tag, str) else ""
            if tag in _CARD_TAGS:
                classes = (ancestor.attrib.get("class") or "").split()
                cards.append(tag + (f".{classes[0]}" if classes else ""))
                break
    if len(cards) < 2:
        return None
    css, count = Counter(cards).most_common(1)[0]
    if count < len(urls) or css in ("div", "section"):
        return None
    return css


def _as_dict(found: pages.Found, now: datetime) -> dict[str, Any]:
    from storage.records import derive_status

    dates = found.dates or {}
    hint = textparse.status_hint(dates, now)
    return {
        "title": found.title,
        "url": found.url,
        "opens_at": dates.get("opens_at"),
        "deadlines": list(dates.get("deadlines") or []),
        "rolling": bool(dates.get("rolling")),
        "deadline_unknown": bool(dates.get("deadline_unknown")),
        "status": derive_status(
            opens_at=dates.get("opens_at"),
            deadlines=list(dates.get("deadlines") or []),
            now=now,
            hint=hint,
        ),
    }


def suggest(html: str, url: str, *, now: datetime, link_pattern: str | None = None) -> Suggestion:
    """What a ``listing`` source finds on this page, and the options to write for it."""
    from crawler.options import compile_pattern

    pattern = compile_pattern(link_pattern) if link_pattern else None
    selector = Selector(text=html[: textparse.MAX_INPUT_CHARS])
    found, info = pages.find_calls(html, url, pattern=pattern)
    options: dict[str, Any] = {}
    out = Suggestion(url=url, strategy=info["strategy"], options=options)
    out.structured = _structured(selector, url)
    out.calls = [_as_dict(f, now) for f in found]
    if link_pattern:
        options["link_pattern"] = link_pattern
    if not url.startswith(("http://", "https://")):
        out.notes.append(
            "the file's web address is unknown (give --url): links on it cannot be resolved"
        )
    if not found:
        out.notes.append(
            "nothing that looks like a call was found: no heading whose text names an "
            "application date, no call-like link, and the page names no application date. "
            "If the page is honestly empty, set empty_text to its message; if calls are "
            "linked with words the finder does not know, set link_pattern."
        )
        return out
    options["find"] = info["strategy"]
    if info["strategy"] == "links":
        card = _card_selector(selector, [f.url for f in found], url)
        if card:
            matches = len(selector.css(card))
            out.selector_matches = matches
            out.overrides = {
                "item": card,
                "title": "a",
                "link": "a::attr(href)",
                "follow_links": True,
            }
            out.notes.append(
                f"the selectors are optional (auto mode finds the same calls); item {card!r} "
                f"matches {matches} element(s) on this page"
            )
    if info["published"] is None and any(
        not f.dates.get("deadlines") and not f.dates.get("opens_at") for f in found
    ):
        out.notes.append(
            "the page states no publication date: a date written without a year is not used"
        )
    return out
