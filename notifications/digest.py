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
:func:`already_announced` to show something once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    terms: tuple[str, ...]


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
    unsubscribe_url: str | None  # https link (one-click) when public_url and secret_key are set
    unsubscribe_mailto: str  # mailto: the coordinator otherwise
    prefs_url: str | None
    public_url: str | None
    coordinator_email: str
    empty: bool = False

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


def already_announced(*, session: Session, subscriber_id: int, call_id: int, reason: str) -> bool:
    return (
        session.exec(
            select(Announcement.id).where(
                Announcement.subscriber_id == subscriber_id,
                Announcement.call_id == call_id,
                Announcement.reason == reason,
            )
        ).first()
        is not None
    )


def audience_name(config: Config, subscriber: SubscriberView) -> str:
    if subscriber.is_coordinator:
        return "alla förvaltningar"
    needs = config.needs
    if subscriber.department:
        audience = needs.audience(subscriber.department)
        return audience.name if audience else subscriber.department
    names = [(needs.audience(t).name if needs.audience(t) else t) for t in subscriber.topics]
    return ", ".join(names) if names else subscriber.name


def _matches(config: Config, tags: list[Tag], keys: set[str] | None) -> tuple[Match, ...]:
    out = []
    for tag in tags:
        if keys is not None and tag.key not in keys:
            continue
        audience = config.needs.audience(tag.key)
        terms: dict[str, None] = {}
        for reason in tag.reasons or []:
            if isinstance(reason, dict) and reason.get("term"):
                terms[str(reason["term"])] = None
        out.append(
            Match(
                key=tag.key,
                name=audience.name if audience else tag.key,
                kind=tag.kind,
                terms=tuple(list(terms)[:MAX_TERMS]),
            )
        )
    return tuple(out)


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


def make_entry(
    *,
    config: Config,
    call: Call,
    now: datetime,
    tags: list[Tag] = (),
    keys: set[str] | None = None,
    mentions: list[Call] = (),
    notes: tuple[str, ...] = (),
) -> Entry:
    """One call as a digest (or web preview) entry."""
    tz = config.settings.tz
    deadline = call.next_deadline if call.next_deadline and call.next_deadline >= now else None
    return Entry(
        call_id=call.id,
        title=call.title,
        url=_safe_url(call.url),
        programme=programme_name(call.programme),
        status=call.status,
        deadline=deadline,
        deadline_text=_format_deadline(deadline, tz) if deadline else "",
        days_left=days_left(deadline, now, tz) if deadline else None,
        opens_at=call.opens_at,
        opens_text=_format_date(call.opens_at, tz) if call.opens_at else "",
        budget_text=_budget_text(call),
        matches=_matches(config, list(tags), keys),
        mentions=tuple(Link(m.title, _safe_url(m.url)) for m in mentions),
        notes=notes,
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
    template = config.settings.digest.subject
    try:
        return template.format(week=week, count=count, audience=audience)
    except (KeyError, IndexError, ValueError):
        return f"Bevaka v. {week}: {count} nya utlysningar för {audience}"


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
        .where(
            col(Call.id).in_(list(tags)),
            col(Call.status) != "closed",
            Call.kind == "call",
        )
        .order_by(col(Call.next_deadline).is_(None), col(Call.next_deadline), col(Call.id))
    ).all()
    return list(calls), tags


def digest_group(sub: SubscriberView) -> str | tuple[str, ...]:
    """Subscribers with the same group get the same calls: the coordinator all of them, a
    representative those tagged with their förvaltning or topics."""
    return "*" if sub.is_coordinator else tuple(sorted(sub.keys))


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
    tz = settings.tz
    dsettings = settings.digest
    keys = None if sub.is_coordinator else sub.keys
    group = digest_group(sub)
    if cache is not None and cache.get("group") != group:
        # Keep one group's calls and entries at a time (run_digest visits subscribers
        # group by group): the cache then costs one group's memory, not the whole run's.
        kept = {k: cache[k] for k in ("sources", "members") if k in cache}
        cache.clear()
        cache.update(kept, group=group)
    if cache is not None and ("calls", group) in cache:
        calls, tags, mentions = cache[("calls", group)]
    else:
        calls, tags = _relevant_calls(session, sub)
        # Rows first seen after "now" do not exist yet for an --as-of run.
        calls = [c for c in calls if c.first_seen_at is None or c.first_seen_at <= now]
        mentions = mentions_of(session=session, call_ids=[c.id for c in calls])
        if cache is not None:
            cache[("calls", group)] = (calls, tags, mentions)
    ids = [c.id for c in calls]
    told = _told(session, cache, group, sub.id, ids)

    changes: dict[int, list[CallChange]] = {}
    if ids:
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

    window_end = now + timedelta(days=dsettings.deadline_window_days)
    thresholds = sorted(set(dsettings.deadline_thresholds_days))

    new = Section("new", "Nya utlysningar")
    deadline = Section("deadline", "Sista ansökningsdag närmar sig")
    changed = Section("changed", "Ändrade")
    upcoming = Section("upcoming", "Kommande")

    for call in calls:
        reasons: list[str] = []
        target: Section | None = None
        notes: tuple[str, ...] = ()
        is_new = (call.id, "new") not in told
        if call.status == "forthcoming":
            if (call.id, "forthcoming") not in told:
                target = upcoming
                reasons.append("forthcoming")
        elif is_new:
            target = new
            reasons.append("new")
        # deadline thresholds (open calls with a deadline inside the window)
        nd = call.next_deadline
        if call.status != "forthcoming" and nd is not None and now <= nd <= window_end:
            left = days_left(nd, now, tz)
            threshold = _threshold(left, thresholds)
            if threshold is not None:
                reason = f"deadline:{threshold}:{nd.astimezone(tz).date().isoformat()}"
                if (call.id, reason) not in told:
                    reasons.append(reason)
                    target = target or deadline
        pending_changes = changes.get(call.id, [])
        if pending_changes:
            reasons.extend(f"change:{ch.id}" for ch in pending_changes)
            if not is_new:
                target = target or changed
                notes = tuple(
                    f"{CHANGE_LABEL.get(ch.field, ch.field)}: {_value_text(ch.field, ch.old_value, tz, call.currency)}"
                    f" → {_value_text(ch.field, ch.new_value, tz, call.currency)}"
                    for ch in pending_changes
                )
        if target is None:
            continue
        if call.status != "forthcoming" and is_new and target is not new:
            reasons.append("new")
        entry_key = ("entry", group, call.id, notes)
        entry = cache.get(entry_key) if cache is not None else None
        if entry is None:
            entry = make_entry(
                config=config,
                call=call,
                now=now,
                tags=tags.get(call.id, []),
                keys=keys,
                mentions=mentions.get(call.id, []),
                notes=notes,
            )
            if cache is not None:
                cache[entry_key] = entry
        target.entries.append(entry)
        target.announcements.extend((call.id, r) for r in dict.fromkeys(reasons))

    upcoming.entries.sort(key=lambda e: (e.opens_at is None, e.opens_at or now, e.call_id or 0))
    sections = [new, deadline, changed, upcoming]
    for hook in EXTRA_SECTIONS:
        extra = hook(session, config, sub, now)
        if extra is not None:
            sections.append(extra)
    if sub.is_coordinator:
        if cache is None:
            sections.append(_sources_section(session, config))
        else:
            if "sources" not in cache:
                cache["sources"] = _sources_section(session, config)
            cached = cache["sources"]
            sections.append(
                Section(cached.key, cached.title, intro=cached.intro, sources=list(cached.sources))
            )

    sections = [s for s in sections if not s.is_empty]
    empty = not sections
    if empty and not dsettings.send_empty:
        return None
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
        subject=make_subject(config, week=week, count=len(new.entries), audience=audience),
        new_count=len(new.entries),
        unsubscribe_url=unsubscribe_url,
        unsubscribe_mailto=mailto,
        prefs_url=prefs_url,
        public_url=settings.public_url,
        coordinator_email=dsettings.coordinator_email,
        empty=empty,
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
