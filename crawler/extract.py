"""Selector helpers shared by the generic spiders (``feed`` and ``listing``).

Selectors come from config (see :mod:`crawler.options`): CSS by default, ``xpath:`` prefix
for XPath. A selector matching elements yields their text (HTML made safe plain text);
one matching strings (``::text``, ``::attr(href)``, ``xpath:.../@href``) yields those strings.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

from parsel import Selector, SelectorList

from crawler import textparse
from crawler.options import XPATH_PREFIX, DetailOptions

MAX_LINKS = 200
MAX_REGIONS = 20


def select(root: Any, selector: str) -> SelectorList:
    """``root.css(selector)`` or, with the ``xpath:`` prefix, ``root.xpath(...)``."""
    if selector.startswith(XPATH_PREFIX):
        return root.xpath(selector[len(XPATH_PREFIX) :].strip())
    return root.css(selector)


def _as_text(node: Selector) -> str:
    if isinstance(node.root, str):
        return textparse.clean_text(node.root)
    if not hasattr(node.root, "tag"):  # numbers/booleans from XPath functions
        return textparse.clean_text(str(node.root))
    # a matched <li> itself would start with the list bullet html_to_text gives it
    return textparse.html_to_text(node.get()).removeprefix("• ")


def extract_texts(root: Any, selector: str | None) -> list[str]:
    """The text of every match (empty matches left out)."""
    if not selector:
        return []
    out = []
    for node in select(root, selector):
        text = _as_text(node)
        if text:
            out.append(text)
    return out


def extract_text(root: Any, selector: str | None) -> str | None:
    """All matches' text joined by newlines, or None when nothing matched."""
    parts = extract_texts(root, selector)
    return "\n".join(parts) if parts else None


def extract_first(root: Any, selector: str | None) -> str | None:
    """The first match as a raw string (for hrefs); an element gives its href or text."""
    if not selector:
        return None
    for node in select(root, selector):
        if isinstance(node.root, str):
            value = node.root.strip()
        elif hasattr(node.root, "tag"):
            value = (node.attrib.get("href") or _as_text(node)).strip()
        else:
            value = str(node.root).strip()
        if value:
            return value
    return None


def links_in(root: Any, base: str) -> list[str]:
    """Every safe absolute http(s) link under ``root`` (for cross-source mention links)."""
    out: list[str] = []
    for href in root.xpath(".//a/@href").getall()[: MAX_LINKS * 2]:
        url = textparse.safe_http_url(href, base)
        if url and url not in out:
            out.append(url)
        if len(out) >= MAX_LINKS:
            break
    return out


def stable_id(url: str) -> str:
    """An external id for a page that does not depend on the host (so a mirror or a move
    between www/no-www keeps ids): the Sitevision id when there is one, else path + query."""
    sv = textparse.sitevision_id(url)
    if sv:
        return sv
    parts = urlsplit(url)
    path = parts.path or "/"
    return path + (f"?{parts.query}" if parts.query else "")


def title_id(title: str) -> str:
    """An external id for an item without its own page: a slug of its title."""
    slug = re.sub(r"[^a-z0-9åäö]+", "-", title.casefold()).strip("-")[:80]
    digest = hashlib.sha256(title.casefold().encode("utf-8")).hexdigest()[:8]
    return f"title:{slug}-{digest}"


def keep(text: str, include: list[str], exclude: list[str]) -> bool:
    """Keyword filter (case-insensitive substrings): any ``include`` (when given), no ``exclude``."""
    folded = text.casefold()
    if include and not any(word.casefold() in folded for word in include):
        return False
    return not any(word.casefold() in folded for word in exclude)


def detail_fields(
    root: Any,
    detail: DetailOptions,
    *,
    tz: tzinfo,
    now: datetime | None = None,
    anchor: datetime | None = None,
) -> dict[str, Any]:
    """What the ``detail`` selectors find on an item's page. Keys are set only when found:
    title, summary, description, links (in the description), deadlines, opens_at,
    budget_text, regions, found (the date facts of the description). A yearless date is
    anchored to ``anchor`` (the page's publication date); ``now`` is only for callers
    that accept dating a page by the crawl's day."""
    out: dict[str, Any] = {}
    titles = extract_texts(root, detail.title)
    if titles:
        out["title"] = titles[0]  # the first match is the title
    for name in ("summary", "description"):
        text = extract_text(root, getattr(detail, name))
        if text:
            out[name] = text
    if detail.description:
        links: list[str] = []
        base = getattr(root, "url", "") or ""
        for node in select(root, detail.description):
            if hasattr(node.root, "tag"):
                links.extend(u for u in links_in(node, base) if u not in links)
        if links:
            out["links"] = links[:MAX_LINKS]
    deadlines: list[datetime] = []
    text = extract_text(root, detail.deadline)
    if text:
        found = textparse.find_dates(text, tz=tz, now=now, anchor=anchor, default="deadline")
        deadlines = found["deadlines"]
        if found["opens_at"]:
            out["opens_at"] = found["opens_at"]
    text = extract_text(root, detail.opens)
    if text:
        found = textparse.find_dates(text, tz=tz, now=now, anchor=anchor, default="opens")
        if found["opens_at"]:
            out["opens_at"] = found["opens_at"]
        deadlines = deadlines or found["deadlines"]
    if out.get("description"):
        out["found"] = textparse.find_dates(out["description"], tz=tz, now=now, anchor=anchor)
    if not deadlines and out.get("description"):
        found = out["found"]
        deadlines = found["deadlines"]
        if found["opens_at"] and "opens_at" not in out:
            out["opens_at"] = found["opens_at"]
    if deadlines:
        out["deadlines"] = deadlines
    text = extract_text(root, detail.budget)
    if text:
        out["budget_text"] = text[:1000]
    regions = [
        textparse.clean_text(r, multiline=False) for r in extract_texts(root, detail.regions)
    ]
    regions = [r for r in regions if r and len(r) <= 100]
    if regions:
        out["regions"] = list(dict.fromkeys(regions))[:MAX_REGIONS]
    return out
