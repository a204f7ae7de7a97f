"""The ``options:`` of the generic, config-driven source kinds (``feed``, ``listing``,
``wordpress`` and ``sitemap``).

Each kind has a pydantic model with ``extra="forbid"``, so a misspelt option or a selector
that does not parse is a config error, not a silently empty crawl.
:func:`validate_options` is what config validation calls for every source entry::

    validate_options("listing", {"item": "article.call", "title": "h2"})  # -> ListingOptions

A selector is CSS by default (Scrapy/parsel CSS, including ``::text`` and ``::attr(href)``);
prefix it with ``xpath:`` for XPath (``xpath://div[@class="x"]//a/@href``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from config.programmes import PROGRAMMES

XPATH_PREFIX = "xpath:"


#: EXSLT regular expressions in XPath (parsel registers them as ``re:``)
_XPATH_REGEX = re.compile(r"\bre\s*:\s*(?:test|match|replace)\s*\(", re.IGNORECASE)


def check_selector(value: str) -> str:
    """A CSS or ``xpath:`` selector that parses; raises ValueError naming the problem."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a selector must be a non-empty string")
    value = value.strip()
    if value.startswith(XPATH_PREFIX):
        from lxml import etree

        expression = value[len(XPATH_PREFIX) :].strip()
        if _XPATH_REGEX.search(expression):
            raise ValueError(
                f"XPath {expression!r} uses a regular-expression function (re:test, "
                "re:match, re:replace), which runs Python's backtracking regex engine: use "
                "contains()/starts-with(), or the RE2 option link_pattern"
            )
        try:
            etree.XPath(expression)
        except etree.XPathError as exc:
            raise ValueError(f"invalid XPath {expression!r}: {exc}") from None
        return value
    from parsel.csstranslator import HTMLTranslator

    try:
        HTMLTranslator().css_to_xpath(value)
    except Exception as exc:  # cssselect raises several error types
        raise ValueError(f"invalid CSS selector {value!r}: {exc}") from None
    return value


def compile_pattern(value: str) -> Any:
    """A config pattern compiled with RE2 (linear time in the text: a pattern such as
    ``(a+)+$`` cannot stall a crawl), case-insensitive. Raises ValueError for a pattern RE2
    does not accept (back-references, look-arounds) or one that is too large."""
    import re2

    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = 8 << 20
    try:
        return re2.compile(value, options)
    except re2.error as exc:
        reason = (
            exc.args[0].decode("utf-8", "replace")
            if exc.args and isinstance(exc.args[0], bytes)
            else str(exc)
        )
        raise ValueError(
            f"invalid regular expression {value!r} (patterns run with RE2: no "
            f"back-references or look-arounds): {reason}"
        ) from None


def check_regex(value: str) -> str:
    compile_pattern(value)
    return value


Selector = Annotated[str, AfterValidator(check_selector)]
Regex = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(check_regex)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetailOptions(_Strict):
    """Selectors applied to each item's own page (all optional)."""

    title: Selector | None = None
    summary: Selector | None = None
    description: Selector | None = None
    #: text holding the deadline(s); a date there without a cue word counts as a deadline
    deadline: Selector | None = None
    #: text holding the opening date; a date there without a cue word counts as opening
    opens: Selector | None = None
    #: free text with the budget ("Totalt fördelas 60 miljoner kronor")
    budget: Selector | None = None
    #: one match per region ("Västra Götaland")
    regions: Selector | None = None


class _Common(_Strict):
    #: a programme code from config/programmes.py given to every item (ESF-SE, ERASMUS, ...)
    programme: str | None = None
    language: Literal["sv", "en"] | None = "sv"
    #: keep only items whose title, summary or own page's text (when fetched) mentions one
    #: of these (case-insensitive substrings)
    include: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    #: drop items whose title or summary mentions one of these
    exclude: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    #: at most this many items per crawl
    max_items: int = Field(200, ge=1, le=5000)
    #: seconds between requests to this source (politeness; overrides the global delay)
    download_delay: float | None = Field(None, ge=0, le=120)

    @field_validator("programme")
    @classmethod
    def _programme(cls, value: str | None) -> str | None:
        if value is not None and value not in PROGRAMMES:
            known = ", ".join(sorted(PROGRAMMES))
            raise ValueError(f"unknown programme {value!r}; known: {known}")
        return value


class FeedOptions(_Common):
    """``kind: feed``: an RSS or Atom feed read with feedparser."""

    #: fetch each entry's page and read it with the ``detail`` selectors
    follow_links: bool = False
    detail: DetailOptions | None = None


class ListingOptions(_Common):
    """``kind: listing``: an HTML page listing calls (or news), with optional detail pages."""

    #: one match per call on the listing page; without it the calls are found without
    #: selectors (see crawler/pages.py: sections, call-like links, or the page itself)
    item: Selector | None = None
    #: without ``item``: which way to find calls (auto tries sections, links, page in turn)
    find: Literal["auto", "sections", "links", "page"] = "auto"
    #: fetch each item's own page (default: in auto mode yes, with selectors when
    #: ``detail`` is set); read with ``detail`` selectors or, without them, its main text
    follow_links: bool | None = None
    #: inside an item; default: the first heading or link text, else the item's text
    title: Selector | None = None
    #: inside an item; default: the item's own href, else its first link
    link: Selector | None = None
    #: inside an item: text with a date ("Sista ansökningsdag 15 mars 2027")
    date: Selector | None = None
    #: what a date without a cue word means; default: deadline for calls, published for news
    date_role: Literal["deadline", "opens", "published"] | None = None
    #: inside an item: a short description
    summary: Selector | None = None
    #: the link to the next listing page (followed up to max_pages pages)
    next_page: Selector | None = None
    max_pages: int = Field(5, ge=1, le=50)
    #: keep only items whose link matches this regular expression (e.g. "utlysning|ansok|call");
    #: RE2 syntax, case-insensitive
    link_pattern: Regex | None = None
    #: a regular expression for the text a page shows when there is honestly nothing listed
    #: ("Inga aktuella utlysningar"); without it an empty listing counts as a layout change;
    #: RE2 syntax, case-insensitive
    empty_text: Regex | None = None
    #: selectors for each item's own page; when set, every item's link is fetched
    detail: DetailOptions | None = None


class WordPressOptions(_Common):
    """``kind: wordpress``: a WordPress REST API collection (``/wp-json/wp/v2/<type>``)."""

    per_page: int = Field(100, ge=1, le=100)
    max_pages: int = Field(5, ge=1, le=50)
    #: fetch each post's page too (the API already carries its content)
    follow_links: bool = False
    detail: DetailOptions | None = None


class SitemapOptions(_Common):
    """``kind: sitemap``: the pages a sitemap lists whose URL matches ``link_pattern``."""

    #: only page URLs matching this (RE2 syntax, case-insensitive) are fetched (required)
    link_pattern: Regex


OPTION_MODELS: dict[str, type[_Common]] = {
    "feed": FeedOptions,
    "listing": ListingOptions,
    "wordpress": WordPressOptions,
    "sitemap": SitemapOptions,
}


def validate_options(kind: str, options: dict[str, Any] | None) -> _Common | None:
    """The validated options of a ``feed`` or ``listing`` source; None for code spiders'
    kinds (their options are their own business). Raises pydantic.ValidationError, whose
    error locations are key paths inside ``options`` (e.g. ``("detail", "deadline")``)."""
    model = OPTION_MODELS.get(kind)
    if model is None:
        return None
    return model.model_validate(options or {})


class OptionsError(ValueError):
    """A source's options do not validate (raised by :func:`checked_options`)."""


def checked_options(kind: str, options: dict[str, Any] | None, *, source: str) -> Any:
    """:func:`validate_options` for a spider: raises :class:`OptionsError` with one readable
    line per problem ("source 'esf': options.detail.dedline: unknown option")."""
    problems = option_errors(kind, options)
    if problems:
        lines = [
            f"source {source!r}: options." + ".".join(str(p) for p in loc) + f": {message}"
            for loc, message in problems
        ]
        raise OptionsError("\n".join(lines))
    return validate_options(kind, options)


def option_errors(kind: str, options: dict[str, Any] | None) -> list[tuple[tuple[Any, ...], str]]:
    """Every problem in one source's options as ``(key path inside options, message)``, for
    config validation to report with file and line, e.g.
    ``(("detail", "deadline"), "invalid XPath '//p[': Invalid expression")``. Empty when fine."""
    from pydantic import ValidationError

    try:
        validate_options(kind, options)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            message = err.get("msg", "invalid value")
            if err.get("type") == "extra_forbidden":
                message = "unknown option"
            elif err.get("type") == "missing":
                message = "required option is missing"
            out.append((tuple(err["loc"]), message.removeprefix("Value error, ")))
        return out
    return []
