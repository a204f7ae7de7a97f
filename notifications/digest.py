"""What goes into one subscriber's weekly digest: pure data, no rendering, no sending.

``build_digest(session=, config=, subscriber=, now=)`` returns a :class:`Digest` or None
(nothing to say this week and ``digest.send_empty`` is off). It writes nothing: the
Announcement rows it would record are listed in ``Digest.announcements`` and are written by
the ledger only when the digest has really been sent (see notifications.ledger).

Sections, in this order (a call appears at most once per digest, in the first that fits):

- ``new``       Nya utlysningar — open (or undated) calls this subscriber has not been told about.
- ``deadline``  Sista ansökningsdag närmar sig — the next deadline is within
                ``digest.deadline_window_days``; shown once per threshold in
                ``digest.deadline_thresholds_days`` (per deadline date).
- ``changed``   Ändrade — deadline, status or budget changed since this subscriber was told.
- ``upcoming``  Kommande — forthcoming calls ("öppnar 1 april 2027"), told once.
- extra sections from ``EXTRA_SECTIONS`` (e.g. the follow-up's Påminnelser)
- ``sources``   Källornas status — coordinator only: enabled sources whose last run failed or
                found nothing (shown every week while it lasts).

Closed calls never appear; news items (kind "news") appear only as "Även omnämnd av" links.

Extension hook: append a callable ``(session, config, subscriber, now) -> Section | None``
to ``EXTRA_SECTIONS``. ``subscriber`` is a :class:`notifications.subscribers.SubscriberView`.
A section's ``announcements`` ((call_id, reason) pairs, reason ≤ 64 chars such as
``reminder:14``) are recorded once the digest is sent; filter on
:func:`announced_reasons` to show something once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from config.loader import Config
from config.programmes import programme_name
from notifications.formatting import (
    days_left,
    format_date,
    format_deadline,
    format_money,
    safe_url,
    week_key,
    week_label,
)
from notifications.subscribers import SubscriberView, view
from storage.models import Announcement, Call, CallChange, Subscriber, Tag
from storage.repo import mentions_of, source_health

CHANGE_FIELDS = ("deadlines", "status", "budget")
STATUS_SV = {
    "forthcoming": "kommande",
    "open": "öppen",
    "closed": "stängd",
    "unknown": "okänd",
}
MAX_TERMS = 6


@dataclass(frozen=True)
class Link:
    title: str
    url: str  # already passed through safe_url


@dataclass(frozen=True)
class Match:
    """A förvaltning or topic the call was tagged with, and the terms that matched."""

    key: str
    name: str
    kind: str  # department | topic
    terms: tuple[str, ...]  # the rule terms (for logs and tests; never shown to readers)
    places: tuple[str, ...] = ()  # "Klimat, i titeln": the need and where it matched


@dataclass(frozen=True)
class Entry:
    call_id: int | None
    title: str
    url: str  # already passed through safe_url
    programme: str | None
    status: str
    deadline: datetime | None
    deadline_text: str  # "15 mars 2027 kl. 17.00" or ""
    days_left: int | None
    opens_at: datetime | None
    opens_text: str
    budget_text: str  # "4 000 000 €", the source's own text, or ""
    matches: tuple[Match, ...] = ()
    mentions: tuple[Link, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "Sista ansökningsdag: 1 mars 2027 → 15 mars 2027"
    funder: str | None = None  # who gives the money: the source ("Länsstyrelsen Västra Götaland")
    summary: str = ""  # the call's own first sentences, in its language
    facts: tuple[tuple[str, str], ...] = ()  # ("Vem kan söka", "Kommuner …"), from the text
    page_url: str | None = None  # Bevaka's own page of the call (public_url set)
    decisions: tuple[str, ...] = ()  # "Utbildningsförvaltningen: Vi undersöker (3 mars 2027)"


@dataclass(frozen=True)
class SourceLine:
    key: str
    name: str
    outcome: str  # failed | empty | never run
    consecutive_failures: int
    last_success_text: str
    error: str | None


@dataclass
class Section:
    key: str
    title: str
    entries: list[Entry] = field(default_factory=list)
    intro: str | None = None
    sources: list[SourceLine] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # free text lines for extra sections
    announcements: list[tuple[int, str]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.entries or self.sources or self.lines)


@dataclass
class Digest:
    subscriber: SubscriberView
    audience: str  # "Utbildningsförvaltningen", "Klimat och miljö", "alla förvaltningar"
    now: datetime
    year: int
    week: int
    week_key: str  # "2026-W48" (Delivery.week)
    sections: list[Section]
    subject: str
    new_count: int
    # the signed links carry the time they were made: not part of what a digest says
    unsubscribe_url: str | None = field(compare=False)  # one-click, with public_url and key
    unsubscribe_mailto: str  # mailto: the coordinator otherwise
    prefs_url: str | None = field(compare=False)
    public_url: str | None
    coordinator_email: str
    empty: bool = False
    # per call: the subscriber's own action link token (notifications.tokens.make_call_token);
    # empty without public_url and secret key
    call_tokens: dict[int, str] = field(default_factory=dict, compare=False)

    @property
    def call_ids(self) -> list[int]:
        seen: dict[int, None] = {}
        for section in self.sections:
            for entry in section.entries:
                if entry.call_id is not None:
                    seen[entry.call_id] = None
        return list(seen)

    @property
    def announcements(self) -> list[tuple[int, str]]:
        out: dict[tuple[int, str], None] = {}
        for section in self.sections:
            for item in section.announcements:
                out[item] = None
        return list(out)

    @property
    def date_text(self) -> str:
        return _format_date(self.now, None)  # remembered: the same for a whole run


SectionHook = Callable[[Session, Config, SubscriberView, datetime], "Section | None"]
EXTRA_SECTIONS: list[SectionHook] = []


# --- helpers ---------------------------------------------------------------------------


# The same calls appear in many subscribers' digests: remember the formatting of values
# (pure functions of their arguments; Babel formatting and URL checks dominate an entry).
@lru_cache(maxsize=8192)
def _safe_url(url: Any) -> str:
    return safe_url(url)


@lru_cache(maxsize=8192)
def _format_money(amount: Any, currency: str | None) -> str:
    return format_money(amount, currency)


@lru_cache(maxsize=8192)
def _format_deadline(dt: datetime, tz: Any) -> str:
    return format_deadline(dt, tz)


@lru_cache(maxsize=8192)
def _format_date(dt: datetime, tz: Any) -> str:
    return format_date(dt, tz)


_ANNOUNCEMENT = Announcement.__table__
_TOLD_MANY = sa_select(
    _ANNOUNCEMENT.c.subscriber_id, _ANNOUNCEMENT.c.call_id, _ANNOUNCEMENT.c.reason
).where(
    _ANNOUNCEMENT.c.subscriber_id.in_(bindparam("subscriber_ids", expanding=True)),
    _ANNOUNCEMENT.c.call_id.in_(bindparam("call_ids", expanding=True)),
)
_TOLD = sa_select(_ANNOUNCEMENT.c.call_id, _ANNOUNCEMENT.c.reason).where(
    _ANNOUNCEMENT.c.subscriber_id == bindparam("subscriber_id"),
    _ANNOUNCEMENT.c.call_id.in_(bindparam("call_ids", expanding=True)),
)


def _told(
    session: Session, cache: dict[Any, Any] | None, group: Any, subscriber_id: int, ids: list[int]
) -> set[tuple[int, str]]:
    """What this subscriber was told about these calls. With a run's cache that knows the
    group's subscribers (``cache["members"][group]``, set by run_digest), read for all of
    them at the group's first digest: nothing else in the run writes a member's
    announcements before that member's own digest is built and sent."""
    members = (cache or {}).get("members", {}).get(group)
    if cache is None or not members or subscriber_id not in members or not ids:
        return announced_reasons(session=session, subscriber_id=subscriber_id, call_ids=ids)
    if ("told", group) not in cache:
        told: dict[int, set[tuple[int, str]]] = {m: set() for m in members}
        member_ids = sorted(members)
        for start in range(0, len(member_ids), 500):
            rows = session.connection().execute(
                _TOLD_MANY,
                {"subscriber_ids": member_ids[start : start + 500], "call_ids": list(ids)},
            )
            for member, call_id, reason in rows:
                told[member].add((call_id, reason))
        cache[("told", group)] = told
    return cache[("told", group)][subscriber_id]


def announced_reasons(
    *, session: Session, subscriber_id: int, call_ids: list[int]
) -> set[tuple[int, str]]:
    if not call_ids:
        return set()
    rows = session.connection().execute(
        _TOLD, {"subscriber_id": subscriber_id, "call_ids": list(call_ids)}
    )
    return {(c, r) for c, r in rows}


def audience_name(config: Config, subscriber: SubscriberView) -> str:
    if subscriber.is_coordinator:
        return "alla förvaltningar"
    needs = config.needs
    if subscriber.department:
        audience = needs.audience(subscriber.department)
        return audience.name if audience else subscriber.department
    names = [(needs.audience(t).name if needs.audience(t) else t) for t in subscriber.topics]
    return ", ".join(names) if names else subscriber.name


REASON_FIELDS = {
    "title": "i titeln",
    "summary": "i sammanfattningen",
    "description": "i beskrivningen",
    "keywords": "i nyckelorden",
    "programme": "i programmet",
    "identifier": "i utlysningens beteckning",
    "conditions": "i villkoren",
}


def match_places(reasons: Any, fallback: str) -> tuple[str, ...]:
    """ "Klimat, i titeln" per (need, field) of a tag's reasons, never the rule's terms. Reads
    the reasons defensively (they are JSON written by matching/ and may gain fields)."""
    out: dict[str, None] = {}
    for reason in reasons if isinstance(reasons, list) else []:
        if not isinstance(reason, dict):
            continue
        need = str(reason.get("need") or fallback).strip()
        place = REASON_FIELDS.get(str(reason.get("field") or ""))
        if place:
            out[place if need == fallback else f"{need}, {place}"] = None
        else:
            out[need] = None
    return tuple(list(out)[:MAX_TERMS])


def _matches(config: Config, tags: list[Tag], keys: set[str] | None) -> tuple[Match, ...]:
    out = []
    for tag in tags:
        if keys is not None and tag.key not in keys and tag.kind != "own":
            continue
        audience = config.needs.audience(tag.key)
        name = audience.name if audience else tag.key
        name = OWN_WORDS_NAME if tag.kind == "own" else name
        terms: dict[str, None] = {}
        for reason in tag.reasons if isinstance(tag.reasons, list) else []:
            if isinstance(reason, dict) and reason.get("term"):
                terms[str(reason["term"])] = None
        out.append(
            Match(
                key=tag.key,
                name=name,
                kind=tag.kind,
                terms=tuple(list(terms)[:MAX_TERMS]),
                places=match_places(tag.reasons, name),
            )
        )
    return tuple(out)


def current_status(call: Call, now: datetime) -> str:
    """The call's status as of ``now``: a forthcoming call whose opening day has come is open
    (the stored status is derived at the last crawl, which may be before it opened)."""
    if call.status == "forthcoming" and call.opens_at is not None and call.opens_at <= now:
        return "open"
    return call.status


def _budget_text(call: Call) -> str:
    if call.budget is not None:
        return _format_money(call.budget, call.currency)
    return (call.budget_text or "").strip()


def _value_text(field_name: str, value: Any, tz, currency: str | None = None) -> str:
    if value in (None, [], ""):
        return "–"
    if field_name == "deadlines":
        values = value if isinstance(value, list) else [value]
        parts = []
        for item in values:
            try:
                parts.append(format_deadline(datetime.fromisoformat(str(item)), tz))
            except ValueError:
                parts.append(str(item))
        return ", ".join(parts)
    if field_name == "status":
        return STATUS_SV.get(str(value), str(value))
    if field_name == "budget":
        try:
            return format_money(float(value), currency)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


CHANGE_LABEL = {"deadlines": "Sista ansökningsdag", "status": "Status", "budget": "Budget"}


# Codes in config/programmes.py that name a funder, not a programme: shown as "Finansiär".
FUNDER_CODES = frozenset({"VINNOVA", "RVG", "LST", "OTHER"})


def _funder(config: Config, call: Call) -> str | None:
    """Who gives the money: the EU for the EU portal's programmes, else the source (the
    Swedish funder whose page it is: "Länsstyrelsen Västra Götaland", "Vinnova")."""
    from config.programmes import PROGRAMMES

    programme = PROGRAMMES.get(call.programme or "")
    if programme is not None and programme.sedia_id:
        return "EU"
    try:
        return config.source(call.source).name
    except KeyError:
        return programme_name(call.programme) if call.programme else None


def _programme(call: Call) -> str | None:
    if not call.programme or call.programme in FUNDER_CODES:
        return None
    return programme_name(call.programme)


def make_entry(
    *,
    config: Config,
    call: Call,
    now: datetime,
    tags: list[Tag] = (),
    keys: set[str] | None = None,
    mentions: list[Call] = (),
    notes: tuple[str, ...] = (),
    decisions: tuple[str, ...] = (),
) -> Entry:
    """One call as a digest (or web preview) entry."""
    from notifications.facts import call_facts, first_sentences

    settings = config.settings
    tz = settings.tz
    deadline = call.next_deadline if call.next_deadline and call.next_deadline >= now else None
    extra = call.extra if isinstance(call.extra, dict) else {}
    conditions = extra.get("conditions") if isinstance(extra.get("conditions"), str) else None
    return Entry(
        call_id=call.id,
        title=call.title,
        url=_safe_url(call.url),
        programme=_programme(call),
        status=current_status(call, now),
        deadline=deadline,
        deadline_text=_format_deadline(deadline, tz) if deadline else "",
        days_left=days_left(deadline, now, tz) if deadline else None,
        opens_at=call.opens_at,
        opens_text=_format_date(call.opens_at, tz) if call.opens_at else "",
        budget_text=_budget_text(call),
        matches=_matches(config, list(tags), keys),
        mentions=tuple(Link(m.title, _safe_url(m.url)) for m in mentions),
        notes=notes,
        funder=_funder(config, call),
        summary=first_sentences(call.summary or call.description),
        facts=call_facts([call.summary, call.description, conditions]),
        page_url=f"{settings.public_url}/utlysning/{call.id}"
        if settings.public_url and call.id is not None
        else None,
        decisions=decisions,
    )


def _threshold(days: int, thresholds: list[int]) -> int | None:
    """The smallest threshold the deadline is within (days ≤ threshold)."""
    within = [t for t in thresholds if days <= t]
    return min(within) if within else None


def _links(
    config: Config, subscriber: SubscriberView, now: datetime
) -> tuple[str | None, str | None, str]:
    """The unsubscribe and preferences links, their tokens stamped with the digest's ``now``
    (so a digest built twice at the same ``now`` is the same), and the mailto fallback."""
    from notifications.tokens import make_token

    settings = config.settings
    coordinator = settings.digest.coordinator_email
    mailto = f"mailto:{coordinator}?subject=" + quote(f"Avregistrera {subscriber.email}", safe="")
    if not (settings.public_url and settings.secret_key):
        return None, None, mailto
    unsubscribe = make_token(
        settings.secret_key,
        purpose="unsubscribe",
        subscriber_id=subscriber.id,
        version=subscriber.token_version,
        now=now,
    )
    prefs = make_token(
        settings.secret_key,
        purpose="prefs",
        subscriber_id=subscriber.id,
        version=subscriber.token_version,
        now=now,
    )
    base = settings.public_url
    return f"{base}/avregistrera/{unsubscribe}", f"{base}/prenumeration/{prefs}", mailto


def make_subject(config: Config, *, week: int, count: int, audience: str) -> str:
    """The subject from ``digest.subject``. "{count} nya utlysningar" is made Swedish for one
    ("1 ny utlysning"); a mail with no new call says what it carries instead of "0 nya"."""
    template = config.settings.digest.subject
    default = "Bevaka v. {week}: {count} nya utlysningar för {audience}"
    if count == 1:
        template = template.replace("{count} nya utlysningar", "{count} ny utlysning")
    elif count == 0:
        template = template.replace("{count} nya utlysningar", "veckans utlysningar")
    try:
        return template.format(week=week, count=count, audience=audience)
    except (KeyError, IndexError, ValueError):
        return default.format(week=week, count=count, audience=audience)


# --- the digest -------------------------------------------------------------------------


def _relevant_calls(
    session: Session, subscriber: SubscriberView
) -> tuple[list[Call], dict[int, list[Tag]]]:
    tag_query = select(Tag)
    if not subscriber.is_coordinator:
        if not subscriber.keys:
            return [], {}
        tag_query = tag_query.where(col(Tag.key).in_(sorted(subscriber.keys)))
    tags: dict[int, list[Tag]] = {}
    for tag in session.exec(tag_query.order_by(col(Tag.score).desc(), col(Tag.key))):
        tags.setdefault(tag.call_id, []).append(tag)
    if not tags:
        return [], {}
    calls = session.exec(
        select(Call)
        .where(col(Call.id).in_(list(tags)), col(Call.status) != "closed")
        .order_by(col(Call.next_deadline).is_(None), col(Call.next_deadline), col(Call.id))
    ).all()
    return list(calls), tags


def digest_group(sub: SubscriberView) -> str | tuple[Any, ...]:
    """Subscribers with the same group get the same calls: the coordinator all of them, a
    representative those tagged with their förvaltning or topics (and found by their own
    words)."""
    if sub.is_coordinator:
        return "*"
    group: tuple[Any, ...] = tuple(sorted(sub.keys))
    if sub.own_words:
        group += (("own", *sorted(sub.own_words)),)
    return group


OWN_WORDS_KEY = "egna-sokord"
OWN_WORDS_NAME = "Dina egna sökord"
_OWN_FIELDS = ("title", "summary", "description")


def _own_word_calls(
    session: Session, sub: SubscriberView, calls: list[Call], tags: dict[int, list[Tag]]
) -> list[Call]:
    """The calls the subscriber's own words find (any word, in title, summary or
    description), each with a Tag (not stored) whose reasons say which word matched where,
    as the matcher's reasons do. Returns ``calls`` with the new ones, by deadline."""
    from storage.search import search_condition

    if sub.is_coordinator or not sub.own_words:
        return calls
    found: dict[int, Call] = {c.id: c for c in calls}
    words: dict[int, list[str]] = {}
    for word in sub.own_words:
        condition = search_condition(session, word)
        if condition is None:
            continue
        query = select(Call).where(condition, col(Call.status) != "closed")
        for call in session.exec(query):
            found.setdefault(call.id, call)
            words.setdefault(call.id, []).append(word)
    for call_id, matched in words.items():
        call = found[call_id]
        reasons = []
        for word in matched:
            for field_name in _OWN_FIELDS:
                text = (getattr(call, field_name) or "").casefold()
                if re.search(rf"\b{re.escape(word.casefold())}", text):
                    reasons.append({"need": word, "term": word, "field": field_name})
        tags.setdefault(call_id, []).append(
            Tag(call_id=call_id, key=OWN_WORDS_KEY, kind="own", score=0.0, reasons=reasons)
        )
    return sorted(
        found.values(),
        key=lambda c: (
            c.next_deadline is None,
            c.next_deadline or datetime.max.replace(tzinfo=UTC),
            c.id,
        ),
    )


@dataclass
class Pending:
    """What this subscriber has not been told about one call yet."""

    call: Call
    is_new: bool  # never told "new" (open or undated calls)
    opened: bool  # told as forthcoming, now open: "har öppnat"
    forthcoming: bool  # forthcoming and not told so
    deadline_reason: str | None  # "deadline:14:2027-03-15" when a threshold is due
    changes: list[CallChange]

    def reasons(self) -> list[str]:
        out = []
        if self.forthcoming:
            out.append("forthcoming")
        if self.is_new:
            out.append("new")
        if self.deadline_reason:
            out.append(self.deadline_reason)
        out.extend(f"change:{ch.id}" for ch in self.changes)
        return out


@dataclass
class DigestInput:
    """What the section builders share: one subscriber's calls and what it was told."""

    session: Session
    config: Config
    sub: SubscriberView
    now: datetime
    cache: dict[Any, Any] | None
    group: Any
    keys: set[str] | None
    calls: list[Call]  # kind "call", not closed, tagged for the subscriber
    news: list[Call]  # kind "news", tagged, mentioning none of the calls
    tags: dict[int, list[Tag]]
    mentions: dict[int, list[Call]]
    pending: dict[int, Pending]
    decisions: dict[int, tuple[str, ...]]
    shown: set[int] = field(default_factory=set)

    def entry(self, call: Call, notes: tuple[str, ...] = ()) -> Entry:
        key = ("entry", self.group, call.id, notes)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            return cached
        entry = make_entry(
            config=self.config,
            call=call,
            now=self.now,
            tags=self.tags.get(call.id, []),
            keys=self.keys,
            # a page that is shown as its own entry is not repeated as a mention
            mentions=[m for m in self.mentions.get(call.id, []) if m.id not in self.entry_ids],
            notes=notes,
            decisions=self.decisions.get(call.id, ()),
        )
        if self.cache is not None:
            self.cache[key] = entry
        return entry

    @property
    def entry_ids(self) -> set[int]:
        return {c.id for c in self.calls} | {c.id for c in self.news}


def _prepare(
    session: Session,
    config: Config,
    sub: SubscriberView,
    now: datetime,
    cache: dict[Any, Any] | None,
) -> DigestInput:
    """Read the subscriber's calls, what it was told and what changed (once per group with
    a run's cache)."""
    group = digest_group(sub)
    if cache is not None and cache.get("group") != group:
        # Keep one group's calls and entries at a time (run_digest visits subscribers
        # group by group): the cache then costs one group's memory, not the whole run's.
        kept = {
            k: v
            for k, v in cache.items()
            if k in ("sources", "members", "decisions")
            or (isinstance(k, tuple) and k[0] == "week's decisions")
        }
        cache.clear()
        cache.update(kept, group=group)
    if cache is not None and ("calls", group) in cache:
        calls, news, tags, mentions = cache[("calls", group)]
    else:
        everything, tags = _relevant_calls(session, sub)
        everything = _own_word_calls(session, sub, everything, tags)
        # Rows first seen after "now" do not exist yet for an --as-of run.
        everything = [c for c in everything if c.first_seen_at is None or c.first_seen_at <= now]
        calls = [c for c in everything if c.kind == "call"]
        call_ids = {c.id for c in calls}
        news_items = [c for c in everything if c.kind == "news"]
        mentions = mentions_of(session=session, call_ids=[c.id for c in calls])
        mentioning = {m.id for ms in mentions.values() for m in ms}
        # A news item that mentions a call here is shown under it; one that mentions none
        # of them (an announcement of its own) is shown as an entry.
        news = [c for c in news_items if c.id not in mentioning and c.id not in call_ids]
        if cache is not None:
            cache[("calls", group)] = (calls, news, tags, mentions)
    everyone = calls + news
    ids = [c.id for c in everyone]
    told = _told(session, cache, group, sub.id, ids)
    changes = _pending_changes(session, cache, group, sub, ids, told, now)
    settings = config.settings
    window_end = now + timedelta(days=settings.digest.deadline_window_days)
    thresholds = sorted(set(settings.digest.deadline_thresholds_days))
    tz = settings.tz
    pending: dict[int, Pending] = {}
    for call in everyone:
        forthcoming = current_status(call, now) == "forthcoming"
        is_new = not forthcoming and (call.id, "new") not in told
        deadline_reason = None
        nd = call.next_deadline
        if not forthcoming and nd is not None and now <= nd <= window_end:
            threshold = _threshold(days_left(nd, now, tz), thresholds)
            if threshold is not None:
                reason = f"deadline:{threshold}:{nd.astimezone(tz).date().isoformat()}"
                if (call.id, reason) not in told:
                    deadline_reason = reason
        pending[call.id] = Pending(
            call=call,
            is_new=is_new,
            opened=is_new and (call.id, "forthcoming") in told,
            forthcoming=forthcoming and (call.id, "forthcoming") not in told,
            deadline_reason=deadline_reason,
            changes=changes.get(call.id, []),
        )
    return DigestInput(
        session=session,
        config=config,
        sub=sub,
        now=now,
        cache=cache,
        group=group,
        keys=None if sub.is_coordinator else sub.keys,
        calls=calls,
        news=news,
        tags=tags,
        mentions=mentions,
        pending=pending,
        decisions=_decision_texts(session, config, cache, sub, ids, now),
    )


def _pending_changes(
    session: Session,
    cache: dict[Any, Any] | None,
    group: Any,
    sub: SubscriberView,
    ids: list[int],
    told: set[tuple[int, str]],
    now: datetime,
) -> dict[int, list[CallChange]]:
    """The changes of these calls since the subscriber subscribed, not yet told."""
    changes: dict[int, list[CallChange]] = {}
    if not ids:
        return changes
    if cache is not None and ("changes", group) in cache:
        group_changes = cache[("changes", group)]
    else:
        group_changes = _changes_until(session, ids, now)
        if cache is not None:
            cache[("changes", group)] = group_changes
    created = sub.created_at
    if created is None:
        created = _subscriber_created(session, sub.id)
    for change in group_changes:
        if created is not None and change.changed_at < created:
            continue  # changed before the subscriber subscribed
        if (change.call_id, f"change:{change.id}") not in told:
            changes.setdefault(change.call_id, []).append(change)
    return changes


def decision_label(status: str, reason: str | None) -> str:
    """What a förvaltning's decision reads as in the digest and on the pages."""
    from followup.decisions import REASONS, status_label

    label = status_label(status)
    return f"{label} – {REASONS.get(reason, reason).lower()}" if reason else label


def _decision_texts(
    session: Session,
    config: Config,
    cache: dict[Any, Any] | None,
    sub: SubscriberView,
    ids: list[int],
    now: datetime,
) -> dict[int, tuple[str, ...]]:
    """Per call, the current decisions the subscriber sees on the entry: the coordinator
    every förvaltning's, a representative their own förvaltning's."""
    from followup.decisions import current_decisions

    if not ids:
        return {}
    if cache is not None and "decisions" in cache:
        rows = cache["decisions"]
    else:
        rows = current_decisions(session=session, until=now + timedelta(microseconds=1))
        if cache is not None:
            cache["decisions"] = rows
    names = {d.key: d.name for d in config.needs.departments}
    tz = config.settings.tz
    wanted = set(ids)
    out: dict[int, list[str]] = {}
    for row in rows:
        if row.call_id not in wanted:
            continue
        if not sub.is_coordinator and row.department != sub.department:
            continue
        out.setdefault(row.call_id, []).append(
            f"{names.get(row.department, row.department)}: "
            f"{decision_label(row.status, row.reason)} ({_format_date(row.created_at, tz)})"
        )
    return {k: tuple(v) for k, v in out.items()}


def _place(data: DigestInput, section: Section, call: Call, notes: tuple[str, ...] = ()) -> None:
    """Show the call in ``section`` and record every reason it was pending for."""
    data.shown.add(call.id)
    section.entries.append(data.entry(call, notes))
    section.announcements.extend(
        (call.id, r) for r in dict.fromkeys(data.pending[call.id].reasons())
    )


def _change_notes(data: DigestInput, pending: Pending) -> tuple[str, ...]:
    tz = data.config.settings.tz
    currency = pending.call.currency
    return tuple(
        f"{CHANGE_LABEL.get(ch.field, ch.field)}: {_value_text(ch.field, ch.old_value, tz, currency)}"
        f" → {_value_text(ch.field, ch.new_value, tz, currency)}"
        for ch in pending.changes
    )


def new_section(data: DigestInput) -> Section:
    """Nya utlysningar: open or undated calls not told yet ("har öppnat" when the call was
    told as forthcoming before)."""
    section = Section("new", "Nya utlysningar")
    for call in data.calls:
        pending = data.pending[call.id]
        if call.id in data.shown or not pending.is_new:
            continue
        _place(data, section, call, ("Har öppnat för ansökningar.",) if pending.opened else ())
    return section


def deadline_section(data: DigestInput) -> Section:
    """Sista ansökningsdag närmar sig: a threshold of ``digest.deadline_thresholds_days``."""
    section = Section("deadline", "Sista ansökningsdag närmar sig")
    for call in data.calls:
        if call.id not in data.shown and data.pending[call.id].deadline_reason:
            _place(data, section, call)
    return section


def changed_section(data: DigestInput) -> Section:
    """Ändrade: deadline, status or budget changed since the subscriber was told."""
    section = Section("changed", "Ändrade")
    for call in data.calls:
        pending = data.pending[call.id]
        if call.id not in data.shown and pending.changes and not pending.is_new:
            _place(data, section, call, _change_notes(data, pending))
    return section


def upcoming_section(data: DigestInput) -> Section:
    """Kommande: forthcoming calls, told once, by opening date."""
    section = Section("upcoming", "Kommande")
    calls = [c for c in data.calls if c.id not in data.shown and data.pending[c.id].forthcoming]
    calls.sort(key=lambda c: (c.opens_at is None, c.opens_at or data.now, c.id or 0))
    for call in calls:
        _place(data, section, call)
    return section


def news_section(data: DigestInput) -> Section:
    """Nyheter: tagged news items that announce something of their own (they mention none
    of the calls above), told once."""
    section = Section("news", "Nyheter från finansiärerna")
    for call in data.news:
        pending = data.pending[call.id]
        if call.id not in data.shown and (pending.is_new or pending.forthcoming):
            _place(data, section, call)
    return section


def decisions_section(data: DigestInput) -> Section:
    """Veckans beslut: the decisions recorded in the last seven days (the coordinator: every
    förvaltning's; a representative: their own förvaltning's), each told once."""
    from followup.decisions import decisions_between

    section = Section(
        "decisions",
        "Veckans beslut",
        intro="Det här har förvaltningarna registrerat om utlysningarna den senaste veckan.",
    )
    if not data.sub.is_coordinator and not data.sub.department:
        return section
    department = None if data.sub.is_coordinator else data.sub.department
    key = ("week's decisions", department)
    if data.cache is not None and key in data.cache:
        rows, titles = data.cache[key]
    else:
        rows = decisions_between(
            session=data.session,
            start=data.now - timedelta(days=7),
            end=data.now,
            department=department,
        )
        ids = sorted({r.call_id for r in rows})
        titles = (
            {c.id: c.title for c in data.session.exec(select(Call).where(col(Call.id).in_(ids)))}
            if ids
            else {}
        )
        if data.cache is not None:
            data.cache[key] = (rows, titles)
    if not rows:
        return section
    told = announced_reasons(
        session=data.session, subscriber_id=data.sub.id, call_ids=sorted({r.call_id for r in rows})
    )
    names = {d.key: d.name for d in data.config.needs.departments}
    tz = data.config.settings.tz
    for row in rows:
        reason = f"decision:{row.id}"
        if (row.call_id, reason) in told:
            continue
        section.lines.append(
            f"{titles.get(row.call_id, f'#{row.call_id}')} – "
            f"{names.get(row.department, row.department)}: "
            f"{decision_label(row.status, row.reason)} ({row.actor}, "
            f"{_format_date(row.created_at, tz)})"
        )
        section.announcements.append((row.call_id, reason))
    return section


def _merge_extra(data: DigestInput, extra: Section, sections: list[Section]) -> Section:
    """An extra section's entries for calls already shown become notes on the entry shown
    (a call appears once per digest); its announcements are kept."""
    kept = []
    moved = {e.call_id for e in extra.entries if e.call_id is not None and e.call_id in data.shown}
    for entry in extra.entries:
        if entry.call_id is None or entry.call_id not in data.shown:
            kept.append(entry)
            if entry.call_id is not None:
                data.shown.add(entry.call_id)
            continue
        for section in sections:
            for i, shown in enumerate(section.entries):
                if shown.call_id == entry.call_id:
                    notes = shown.notes + tuple(n for n in entry.notes if n not in shown.notes)
                    section.entries[i] = replace(shown, notes=notes)
                    # recorded with the entry that carries the note
                    section.announcements.extend(
                        a for a in extra.announcements if a[0] == entry.call_id
                    )
    extra.announcements = [a for a in extra.announcements if a[0] not in moved]
    extra.entries = kept
    return extra


def _sources(data: DigestInput) -> Section:
    if data.cache is None:
        return _sources_section(data.session, data.config)
    if "sources" not in data.cache:
        data.cache["sources"] = _sources_section(data.session, data.config)
    cached = data.cache["sources"]
    return Section(cached.key, cached.title, intro=cached.intro, sources=list(cached.sources))


SECTION_BUILDERS: tuple[Callable[[DigestInput], Section], ...] = (
    new_section,
    deadline_section,
    changed_section,
    upcoming_section,
    news_section,
)


def _call_tokens(
    config: Config, sub: SubscriberView, sections: list[Section], now: datetime
) -> dict[int, str]:
    from notifications.tokens import make_call_token

    settings = config.settings
    if not (settings.public_url and settings.secret_key):
        return {}
    return {
        entry.call_id: make_call_token(
            settings.secret_key,
            purpose="act",
            subscriber_id=sub.id,
            version=sub.token_version,
            call_id=entry.call_id,
            now=now,
        )
        for section in sections
        for entry in section.entries
        if entry.call_id is not None
    }


def build_digest(
    *,
    session: Session,
    config: Config,
    subscriber: Subscriber | SubscriberView,
    now: datetime,
    cache: dict[Any, Any] | None = None,
) -> Digest | None:
    """This week's digest for one subscriber, or None when there is nothing to say (and
    ``digest.send_empty`` is off). Reads only; see the module docstring.

    ``cache``: an empty dict shared by the digests of one run (same ``config`` and ``now``,
    see notifications.ledger): the calls and tags of a set of keys, their mentions, the
    entries and the coordinator's source lines are then read and built once per run
    instead of once per subscriber. What was told to whom is still read per subscriber."""
    sub = (
        subscriber
        if isinstance(subscriber, SubscriberView)
        else view(session=session, subscriber=subscriber)
    )
    settings = config.settings
    data = _prepare(session, config, sub, now, cache)
    sections = [build(data) for build in SECTION_BUILDERS]
    for hook in EXTRA_SECTIONS:
        extra = hook(session, config, sub, now)
        if extra is not None:
            sections.append(_merge_extra(data, extra, sections))
    sections.append(decisions_section(data))
    if sub.is_coordinator:
        sections.append(_sources(data))
    new_count = len(sections[0].entries)
    sections = [s for s in sections if not s.is_empty]
    empty = not sections
    if empty and not settings.digest.send_empty:
        return None
    tz = settings.tz
    year, week = week_label(now, tz)
    audience = audience_name(config, sub)
    unsubscribe_url, prefs_url, mailto = _links(config, sub, now)
    return Digest(
        subscriber=sub,
        audience=audience,
        now=now,
        year=year,
        week=week,
        week_key=week_key(now, tz),
        sections=sections,
        subject=make_subject(config, week=week, count=new_count, audience=audience),
        new_count=new_count,
        unsubscribe_url=unsubscribe_url,
        unsubscribe_mailto=mailto,
        prefs_url=prefs_url,
        public_url=settings.public_url,
        coordinator_email=settings.digest.coordinator_email,
        empty=empty,
        call_tokens=_call_tokens(config, sub, sections, now),
    )


def _changes_until(session: Session, call_ids: list[int], now: datetime) -> list[CallChange]:
    """The deadline, status and budget changes of these calls up to ``now``, oldest first."""
    return list(
        session.exec(
            select(CallChange)
            .where(
                col(CallChange.call_id).in_(call_ids),
                col(CallChange.field).in_(CHANGE_FIELDS),
                col(CallChange.changed_at) <= now,
            )
            .order_by(col(CallChange.changed_at), col(CallChange.id))
        )
    )


def _subscriber_created(session: Session, subscriber_id: int) -> datetime | None:
    return session.exec(select(Subscriber.created_at).where(Subscriber.id == subscriber_id)).first()


def _sources_section(session: Session, config: Config) -> Section:
    tz = config.settings.tz
    section = Section(
        "sources",
        "Källornas status",
        intro="Källor vars senaste körning misslyckades eller inte hittade något.",
    )
    for source in config.sources.sources:
        if not source.enabled:
            continue
        health = source_health(session=session, source=source.key)
        if health.last_run is None or health.outcome not in ("failed", "empty"):
            continue
        section.sources.append(
            SourceLine(
                key=source.key,
                name=source.name,
                outcome=health.outcome,
                consecutive_failures=health.consecutive_failures,
                last_success_text=format_date(health.last_success, tz)
                if health.last_success
                else "aldrig",
                error=(health.last_run.error or "")[:300] or None,
            )
        )
    return section
