"""Calls found on an HTML page without selectors (the ``listing`` kind's auto mode, the
``sitemap`` kind, detail pages without ``detail`` selectors and ``bevaka sources suggest``).

A page is read in three steps, each independent of the site's markup:

1. its main content: the ``<main>`` element (or ``[role=main]``, a single ``<article>``,
   ``#content``, else ``<body>``) without navigation, header, footer, aside, forms and
   cookie banners, flattened into headings and leaf text blocks in document order (so a
   heading and its text in separate Sitevision portlets still belong together);
2. its calls, by the first strategy that finds any (see :func:`find_calls`):
   ``sections`` (a heading whose text names an application date or "löpande"),
   ``links`` (links in the main content that look like calls), ``page`` (the page itself);
3. its text (for a description and dates): trafilatura's main-text extraction, falling
   back to the flattened blocks.

Dates follow :func:`crawler.textparse.find_dates`: a yearless date is anchored to the
page's own publication date (:func:`published_date`), never to the crawl's day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urldefrag, urlsplit

from parsel import Selector

from crawler import textparse

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_LEAF_TAGS = frozenset(
    ["p", "li", "dt", "dd", "td", "th", "blockquote", "pre", "figcaption", "div", "span", "a"]
)
_CONTAINERS = frozenset(
    ["p", "li", "dt", "dd", "td", "th", "blockquote", "pre", "figcaption", "div", "section",
     "article", "ul", "ol", "dl", "table", "tr", "tbody", "header", "main", "aside", "nav",
     "footer", "form", *HEADINGS]
)  # fmt: skip
#: boilerplate dropped before anything is read
_BOILERPLATE_XPATH = (
    "//nav | //header | //footer | //aside | //form | //script | //style | //noscript"
    " | //template | //iframe | //*[@role='navigation' or @role='banner' or"
    " @role='contentinfo' or @role='search' or @aria-hidden='true']"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' breadcrumb')"
    " or contains(@class, 'cookie') or contains(@id, 'cookie')"
    " or contains(@class, 'skip-link') or contains(@class, 'sv-skip')]"
)
_FILE_EXT = re.compile(
    r"\.(?:pdf|docx?|xlsx?|pptx?|odt|ods|zip|jpe?g|png|gif|svg|mp4|mp3|ics|csv)$", re.I
)
#: words in a link's URL or text that make it look like a call
_CALL_WORDS = re.compile(
    r"utlysning|utlyser|ansök|ansok|ansökan|bidrag|stöd\b|stod\b|finansiering|projektmedel|"
    r"projektstöd|utvecklingsmedel|sök\s+(?:pengar|medel|stöd|bidrag)|calls?\b|call-for|"
    r"funding|grants?\b|open-call",
    re.I,
)
#: words that name an application date (or that there is none)
_APPLICATION_CUE = re.compile(
    r"(?<![\wåäö])(?:öppnar|öppnas|stänger|stängd|stängs|sista ansökningsdag\w*|"
    r"sista ansökningsdatum|sista dag för ansökan|sista dag att (?:ansöka|söka)|"
    r"ansök senast|sök senast|ansökningsperiod\w*|ansökningstid\w*|utlysningstid\w*|"
    r"ansökningsomgång\w*|fram till|löpande|deadline|closes|opens|apply by|"
    r"ska vara inne|sök\s*\d?\s*:)(?![\wåäö])",
    re.I,
)
#: links that are never calls (contact, about, cookies, newsletters)
_NOT_CALL_LINK = re.compile(
    r"kontakt|om-oss|om-webbplatsen|kakor|cookie|personuppgift|nyhetsbrev|prenumer|"
    r"tillganglighet|press|logga-in|login",
    re.I,
)
#: a heading that is a part of one call's page, not a call of its own
_GENERIC_HEADING = re.compile(
    r"^(?:hur|vem|vilka|när|vad|var|varför|how|who|when|what)\b.*|.*\?$|"
    r"^(?:under\s+|år\s+)?(?:19|20)\d\d$|^(?:viktiga datum|datum|ansökan|ansök|att ansöka|"
    r"ansökningstid\w*|sista ansökningsdag|kontakt|om \w+|important dates|how to apply)$",
    re.I,
)
_GENERIC_LINK_TEXT = re.compile(
    r"^(?:läs mer|läs mer här|mer information|ansök här|ansök|här|klicka här|read more|"
    r"more|apply|apply here|till ansökan|e-tjänst\w*|logga in)\W*$",
    re.I,
)
MAX_ITEMS = 500
MAX_SUMMARY = 400
_BUDGET_CUE = re.compile(
    r"totalt|fördela|budget|avsatt|tillgängligt belopp|utlyser|sammanlagt|att söka|"
    r"kan sökas|finns att|in total|total of",
    re.I,
)
#: an amount that is not the call's budget: a per-project cap, what was granted or applied for
_PER_PROJECT = re.compile(
    r"per projekt|per förstudie|per ansökan|maximalt|högst|upp till|som mest|kan få|"
    r"beviljat|beviljats|beviljades|ansökt om|sökt om|har fått|per project|up to|maximum",
    re.I,
)


@dataclass
class Block:
    """A heading (``level`` 1-6) or a leaf text block (``level`` 0) of the main content."""

    level: int
    text: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (absolute url, link text)
    anchor: str | None = None  # a heading's id
    #: for a link read on its own (``li > a + p``): the text of the card it sits in
    context: str | None = None


@dataclass
class Found:
    """A call found on a page: what :func:`find_calls` returns per call."""

    title: str
    url: str
    text: str
    strategy: str
    #: the url is the call's own page (worth fetching), not the page it was found on
    own_page: bool = False
    dates: dict = field(default_factory=dict)


def _same_site(url: str, base: str) -> bool:
    a, b = urlsplit(url).hostname or "", urlsplit(base).hostname or ""
    a, b = a.removeprefix("www."), b.removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def main_root(selector: Selector) -> Any:
    """The main-content element of a page (an lxml element), boilerplate removed."""
    root = selector.root
    for query in (
        "//main",
        "//*[@role='main']",
        "//*[@id='main-content' or @id='maincontent' or @id='content' or @id='main']",
    ):
        found = root.xpath(query)
        if found:
            root = found[0]
            break
    else:
        articles = root.xpath("//article")
        if len(articles) == 1:
            root = articles[0]
        else:
            body = root.xpath("//body")
            root = body[0] if body else root
    for node in root.xpath("." + _BOILERPLATE_XPATH.replace(" | //", " | .//")[1:]):
        _remove(node)
    return root


def _remove(node: Any) -> None:
    """Remove an element, keeping the text that follows it (its tail)."""
    parent = node.getparent()
    if parent is None:
        return
    tail = node.tail
    previous = node.getprevious()
    parent.remove(node)
    if tail and tail.strip():
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def _text_of(node: Any) -> str:
    return textparse.clean_text(" ".join(node.itertext()), multiline=False)


def _links(node: Any, base: str) -> list[tuple[str, str]]:
    out = []
    nodes = [node] if node.tag == "a" else node.iter("a")
    for a in nodes:
        url = textparse.safe_http_url(a.get("href"), base)
        if url:
            out.append((url, _text_of(a)))
    return out


_CARDS = frozenset(["li", "article", "tr", "div", "section"])
MAX_CARD_TEXT = 1500


def _is_leaf(node: Any) -> bool:
    return not any(isinstance(d.tag, str) and d.tag in _CONTAINERS for d in node.iterdescendants())


def blocks(selector: Selector, base: str) -> list[Block]:
    """The main content as headings and leaf text blocks, in document order."""
    root = main_root(selector)
    out: list[Block] = []
    for node in root.iter():
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in HEADINGS:
            text = _text_of(node)
            if text:
                anchor = node.get("id") or next(
                    (
                        a.get("id") or a.get("name")
                        for a in node.iter("a")
                        if a.get("id") or a.get("name")
                    ),
                    None,
                )
                out.append(Block(int(tag[1]), text, _links(node, base), anchor))
            continue
        if tag not in _LEAF_TAGS or not _is_leaf(node):
            continue
        if any(isinstance(p.tag, str) and p.tag in HEADINGS for p in node.iterancestors()):
            continue
        context = None
        if tag in ("a", "span"):
            if tag == "span" and any(p.tag == "a" for p in node.iterancestors()):
                continue  # read with its link
            holder = next(
                (
                    p
                    for p in node.iterancestors()
                    if isinstance(p.tag, str) and p.tag in _LEAF_TAGS and p.tag not in ("a", "span")
                ),
                None,
            )
            if holder is not None and _is_leaf(holder):
                continue  # part of a paragraph, list item or card already read
            if tag == "a":
                # a link beside blocks of its own ("li > a + p + p"): its card's text
                card = next(
                    (p for p in node.iterancestors() if isinstance(p.tag, str) and p.tag in _CARDS),
                    None,
                )
                if card is not None:
                    card_text = _text_of(card)
                    if len(card_text) <= MAX_CARD_TEXT:
                        context = card_text
        text = _text_of(node)
        if text:
            out.append(Block(0, text, _links(node, base), context=context))
    return out


def published_date(selector: Selector, text: str | None = None) -> datetime | None:
    """The page's own publication (or last update) date: from its metadata
    (``article:published_time``, ``DC.date``, ``date``, ``<time datetime>``) or a
    "Publicerad …"/"Uppdaterad …" line in its text. None when the page does not say."""
    for query in (
        "//meta[@property='article:published_time']/@content",
        "//meta[@property='article:modified_time']/@content",
        "//meta[translate(@name, 'DCATE.', 'dcate.')='dc.date']/@content",
        "//meta[@name='date' or @name='DC.date.issued' or @name='pubdate']/@content",
        "//time/@datetime",
    ):
        for value in selector.xpath(query).getall()[:3]:
            when = textparse.parse_date_any(value.strip(), end_of_day=False)
            if when is not None:
                return when
    if text:
        found = textparse.find_dates(text[:5000])
        if found["published"]:
            return found["published"]
    return None


def main_text(html: str, url: str | None = None) -> tuple[str | None, str]:
    """The page's title and main text, by trafilatura (title falls back to the first h1,
    then ``<title>``). Plain, cleaned text; empty when nothing was found."""
    import trafilatura

    doc = None
    try:
        doc = trafilatura.bare_extraction(
            html[: textparse.MAX_INPUT_CHARS],
            url=url,
            # no metadata: its date search (htmldate + dateparser) took 7-13 s on a small
            # page, and the title comes from the h1 / og:title / <title> below
            with_metadata=False,
            include_tables=True,
            include_comments=False,
            favor_recall=True,
        )
    except Exception:  # never let an odd page crash a crawl
        doc = None
    title = text = None
    if doc is not None:
        title = getattr(doc, "title", None)
        text = getattr(doc, "text", None)
    selector = Selector(text=html[: textparse.MAX_INPUT_CHARS])
    h1 = selector.xpath("//h1")
    if h1:
        title = textparse.html_to_text(h1[0].get()) or title
    if not title:
        title = selector.xpath("//meta[@property='og:title']/@content").get()
    if not title:
        title = selector.xpath("//title/text()").get()
    if not text or "\n" not in text.strip():
        # nothing, or trafilatura's baseline fallback (short pages), which joins every
        # paragraph on one line and so loses where a date's clause ends: the page's own
        # blocks instead
        structured = "\n".join(b.text for b in blocks(selector, url or ""))
        if not text or structured.count("\n") >= 1:
            text = structured
    return (
        textparse.clean_text(title, multiline=False) or None,
        textparse.clean_text(text or ""),
    )


def _has_call_dates(text: str, anchor: datetime | None) -> tuple[bool, dict]:
    found = textparse.find_dates(text, anchor=anchor)
    has = bool(
        _APPLICATION_CUE.search(text)
        and (
            found["deadlines"] or found["opens_at"] or found["rolling"] or found["deadline_unknown"]
        )
    )
    return has, found


def _sections(items: list[Block], page_url: str, anchor: datetime | None) -> list[Found]:
    spans = []
    for i, block in enumerate(items):
        if block.level < 2:  # text, or the page's own title (the "page" strategy's)
            continue
        j = i + 1
        while j < len(items) and not (items[j].level and items[j].level <= block.level):
            j += 1
        spans.append((i, j))
    candidates = []
    for i, j in spans:
        own_links = {
            urldefrag(u)[0]
            for b in items[i:j]
            for u, t in b.links
            if _same_site(u, page_url) and _looks_like_call_link(u, t)
        }
        if len(own_links) >= 2 and not any(b.level > items[i].level for b in items[i + 1 : j]):
            continue  # a list of calls' links under one heading: the links strategy's
        text = "\n".join(b.text for b in items[i:j])
        ok, found = _has_call_dates(text, anchor)
        if ok:
            candidates.append((i, j, text, found))
    # the innermost sections: drop one that holds another candidate
    inner = [
        c for c in candidates if not any(o is not c and c[0] < o[0] < c[1] for o in candidates)
    ]
    out = []
    for i, j, text, found in inner:
        head = items[i]
        links = [(u, t) for b in items[i:j] for u, t in b.links]
        own = next(
            (u for u, t in links if _same_site(u, page_url) and _looks_like_call_link(u, t)),
            None,
        )
        if own is not None:
            url, own_page = own, True
        else:
            base = urldefrag(page_url)[0]
            url = f"{base}#{head.anchor}" if head.anchor else base
            own_page = False
        out.append(Found(head.text, url, text, "sections", own_page, found))
    return out


def _looks_like_call_link(url: str, text: str) -> bool:
    path = urlsplit(url).path
    if _FILE_EXT.search(path) or _NOT_CALL_LINK.search(path):
        return False
    return bool(_CALL_WORDS.search(path) or _CALL_WORDS.search(text))


def _link_items(
    items: list[Block], page_url: str, anchor: datetime | None, pattern: Any | None
) -> list[Found]:
    page = urldefrag(page_url)[0]
    out: list[Found] = []
    seen: set[str] = set()
    for index, block in enumerate(items):
        for url, text in block.links:
            bare = urldefrag(url)[0]
            if bare == page or bare in seen or not _same_site(url, page_url):
                continue
            if _FILE_EXT.search(urlsplit(url).path):
                continue
            title = text if not _GENERIC_LINK_TEXT.match(text) else ""
            if not title and index > 0 and items[index - 1].level:
                title = items[index - 1].text  # "Läs mer" under a heading: the heading
            if len(title) < 12 and len(title.split()) < 3:
                continue
            context = block.context or block.text
            if block.level:  # a heading's link: the heading's section is its card
                end = index + 1
                while end < len(items) and not (
                    items[end].level and items[end].level <= block.level
                ):
                    end += 1
                context = "\n".join(b.text for b in items[index:end])[:MAX_CARD_TEXT]
            if pattern is not None:
                if not pattern.search(url):
                    continue
            else:
                ok, _ = _has_call_dates(context, anchor)
                if _NOT_CALL_LINK.search(urlsplit(url).path) or not (
                    ok or _looks_like_call_link(url, context)
                ):
                    continue
            seen.add(bare)
            found = textparse.find_dates(context, anchor=anchor)
            summary = context.replace(title, "", 1).strip(" •-–:") if context != title else ""
            out.append(Found(title, url, summary[:MAX_SUMMARY], "links", True, found))
            if len(out) >= MAX_ITEMS:
                return out
    return out


def find_calls(
    html: str,
    page_url: str,
    *,
    strategy: str = "auto",
    pattern: Any | None = None,
) -> tuple[list[Found], dict]:
    """The calls on a page and facts about it (``{"strategy", "title", "published",
    "text"}``). ``strategy``: ``auto`` (sections, else links, else the page itself),
    ``sections``, ``links`` or ``page`` (the page is one call even when it names no
    application date: its dates are then unknown). ``pattern`` (a compiled RE2 pattern) keeps only
    links whose absolute URL it matches (and then any link counts, not only call-like
    ones)."""
    html = html[: textparse.MAX_INPUT_CHARS]
    selector = Selector(text=html)
    title, text = main_text(html, page_url)
    anchor = published_date(selector, text)
    items = blocks(selector, page_url)
    info: dict = {"title": title, "published": anchor, "text": text, "strategy": None}
    order = ["sections", "links", "page"] if strategy == "auto" else [strategy]
    for name in order:
        if name == "sections" and pattern is None:
            found = _sections(items, page_url, anchor)
            if found and strategy == "auto" and all(f.own_page for f in found):
                # cards, each a heading with its call's link: the links strategy also finds
                # the cards whose text names no date ("… är avslutad")
                linked = _link_items(items, page_url, anchor, None)
                if len(linked) > len(found):
                    found, name = linked, "links"
            # one section that is a part of the page ("Hur söker man?", "Under 2021") or
            # spans it under its h1: the page itself describes one call
            if len(found) == 1 and not found[0].own_page and _GENERIC_HEADING.match(found[0].title):
                found = []
        elif name == "links":
            found = _link_items(items, page_url, anchor, pattern)
        elif name == "page":
            # asked for (find: page), the page is a call even without an application date
            ok, dates = _has_call_dates(text, anchor)
            found = (
                [Found(title, page_url, text, "page", False, dates)]
                if title and (ok or strategy == "page")
                else []
            )
        else:
            found = []
        if found:
            info["strategy"] = name
            return found, info
    return [], info


def budget_text(text: str | None) -> str | None:
    """The sentence of a text that gives a call's total budget ("Totalt fördelas 60
    miljoner kronor"); a per-project cap ("maximalt 744 000 kr per förstudie", "som mest
    få 200 000 kronor") or what was granted ("beviljats på sammanlagt 102 miljoner kronor")
    is not one."""
    if not text:
        return None
    for sentence in re.split(r"(?<=[.!?])\s+|\n", text[:50_000]):
        if len(sentence) > 600 or not _BUDGET_CUE.search(sentence):
            continue
        if _PER_PROJECT.search(sentence):
            continue
        amount, _ = textparse.parse_money(sentence)
        if amount is not None:
            return sentence.strip()
    return None
