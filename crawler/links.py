"""Cross-source links: a news item or a Swedish page that names an EU topic or call
identifier (``HORIZON-CL5-2027-01-03``, ``ERASMUS-EDU-2027-PEX-COVE``, ``CERV-2027-…``) or
links to a portal topic page is linked to that call (``storage.repo.link_calls``), so the
digest can show one entry "also mentioned by SKR".

Both orders of arrival work: :func:`link_mentions` looks for identifiers in the calls just
stored (the EU topic may already be there), and looks for earlier calls mentioning the
topics that just arrived.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from config.programmes import PROGRAMMES
from storage.models import Call
from storage.repo import link_calls

#: programme prefixes of identifiers on the EU portal (HORIZON, ERASMUS, CERV, LIFE, ...)
EU_PREFIXES: tuple[str, ...] = tuple(
    sorted((p.code for p in PROGRAMMES.values() if p.sedia_id), key=len, reverse=True)
)

# An identifier: a known prefix in capitals, then dash-separated parts, one of them a year.
IDENTIFIER_RE = re.compile(
    r"(?<![A-Za-z0-9_-])(?:" + "|".join(re.escape(p) for p in EU_PREFIXES) + r")"
    r"(?:-[A-Za-z0-9]+)*?-20\d\d(?:-[A-Za-z0-9]+)*(?![A-Za-z0-9_åäöÅÄÖéü])"
)
TOPIC_URL_RE = re.compile(
    r"(?:topic-details|topicDetails)/([A-Za-z0-9][A-Za-z0-9_-]{2,200})", re.IGNORECASE
)
MAX_TARGETS_PER_MENTION = 50
MAX_TEXT = 200_000
CHUNK = 500  # identifiers per IN (...) query


def find_identifiers(text: str | None) -> set[str]:
    """EU topic/call identifiers named in a text or linked through portal topic URLs."""
    if not text:
        return set()
    text = text[:MAX_TEXT]
    # every identifier holds "-20" (its year); most texts have none, and looking for it is
    # far cheaper than the pattern
    found = {m.group(0) for m in IDENTIFIER_RE.finditer(text)} if "-20" in text else set()
    for m in TOPIC_URL_RE.finditer(text):
        found.add(m.group(1).removesuffix(".json"))
    return found


class _Row(NamedTuple):
    """The columns linking reads of a call (no ORM object: a crawl may link thousands)."""

    id: int
    source: str
    identifier: str | None
    call_identifier: str | None
    title: str
    summary: str | None
    description: str | None
    url: str
    extra: dict | None


_COLUMNS = (
    col(Call.id),
    col(Call.source),
    col(Call.identifier),
    col(Call.call_identifier),
    col(Call.title),
    col(Call.summary),
    col(Call.description),
    col(Call.url),
    col(Call.extra),
)


def _mention_text(call: _Row) -> str:
    return _mention_text_of(call.title, call.summary, call.description, call.url, call.extra)


def _mention_text_of(
    title: str | None,
    summary: str | None,
    description: str | None,
    url: str | None,
    extra: dict | None,
) -> str:
    links = (extra or {}).get("links") or []
    parts = [title, summary, description, url]
    if isinstance(links, list):
        parts.extend(str(link) for link in links[:500])
    return "\n".join(p for p in parts if p)


def _targets_by_key(session: Session, keys: set[str]) -> dict[str, list[_Row]]:
    """For each lower-cased identifier, the first :data:`MAX_TARGETS_PER_MENTION` calls (by id)
    whose identifier or call identifier equals it, in one query per chunk of keys."""
    found: dict[str, list[_Row]] = {key: [] for key in keys}
    ordered = sorted(keys)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        query = (
            select(*_COLUMNS)
            .where(
                or_(
                    func.lower(col(Call.identifier)).in_(chunk),
                    func.lower(col(Call.call_identifier)).in_(chunk),
                )
            )
            .order_by(col(Call.id))
        )
        for call in map(_Row._make, session.exec(query).all()):
            for key in {(call.identifier or "").lower(), (call.call_identifier or "").lower()}:
                bucket = found.get(key)
                if bucket is not None and len(bucket) < MAX_TARGETS_PER_MENTION:
                    bucket.append(call)
    return found


def _link_from_all(session: Session, calls: list[_Row], now: datetime) -> int:
    """Link each call to the calls whose identifiers it names (in the calls' order)."""
    named: list[tuple[_Row, list[str]]] = []
    for call in calls:
        own = {(call.identifier or "").lower(), (call.call_identifier or "").lower()}
        identifiers = [
            i for i in sorted(find_identifiers(_mention_text(call))) if i.lower() not in own
        ]
        if identifiers:
            named.append((call, identifiers))
    if not named:
        return 0
    targets = _targets_by_key(session, {i.lower() for _, ids in named for i in ids})
    made = 0
    for call, identifiers in named:
        for identifier in identifiers:
            for target in targets[identifier.lower()]:
                if target.id == call.id or target.source == call.source:
                    continue
                if link_calls(
                    session=session,
                    from_call_id=call.id,
                    to_call_id=target.id,
                    reason=f"mentions {identifier}",
                    now=now,
                ):
                    made += 1
    return made


def _link_to_all(session: Session, topics: list[_Row], now: datetime) -> int:
    """Link the calls of other sources that name one of the topics to it.

    The mention texts of the other sources' calls are read once (columns only, no ORM
    objects) and their identifiers intersected with the topics', instead of one ``LIKE``
    scan of the whole table per topic."""
    made = 0
    by_source: dict[str, list[_Row]] = {}
    for topic in topics:
        by_source.setdefault(topic.source, []).append(topic)
    for source, group in by_source.items():
        wanted = {
            identifier.lower()
            for topic in group
            for identifier in (topic.identifier, topic.call_identifier)
            if identifier
        }
        mentioned_by: dict[str, list[int]] = {}
        rows = session.exec(
            select(
                col(Call.id),
                col(Call.title),
                col(Call.summary),
                col(Call.description),
                col(Call.url),
                col(Call.extra),
            )
            .where(Call.source != source)
            .order_by(col(Call.id))
        ).all()
        for call_id, title, summary, description, url, extra in rows:
            text = _mention_text_of(title, summary, description, url, extra)
            for key in {i.lower() for i in find_identifiers(text)} & wanted:
                mentioned_by.setdefault(key, []).append(call_id)
        del rows
        if not mentioned_by:
            continue
        for topic in group:
            for identifier in {topic.identifier, topic.call_identifier} - {None, ""}:
                for candidate_id in mentioned_by.get(identifier.lower(), ()):
                    if link_calls(
                        session=session,
                        from_call_id=candidate_id,
                        to_call_id=topic.id,
                        reason=f"mentions {identifier}",
                        now=now,
                    ):
                        made += 1
    return made


def _load(session: Session, ids: Iterable[int], known: dict[int, _Row]) -> list[_Row]:
    """The calls with these ids, in the given order (duplicates and missing ids dropped);
    ``known`` holds (and receives) the ones read already."""
    wanted = list(dict.fromkeys(ids))
    missing = [i for i in wanted if i not in known]
    for start in range(0, len(missing), CHUNK):
        chunk = missing[start : start + CHUNK]
        for row in session.exec(select(*_COLUMNS).where(col(Call.id).in_(chunk))).all():
            known[row[0]] = _Row._make(row)
    return [known[i] for i in wanted if i in known]


def link_mentions(
    *,
    session: Session,
    call_ids: Iterable[int],
    new_topic_ids: Iterable[int] = (),
    now: datetime,
) -> int:
    """Link the calls just stored to the EU calls they name, and earlier calls to the topics
    that just arrived. Returns the number of new links."""
    known: dict[int, _Row] = {}
    calls = _load(session, call_ids, known)
    made = _link_from_all(session, calls, now)
    topics = [t for t in _load(session, new_topic_ids, known) if t.identifier or t.call_identifier]
    if topics:
        made += _link_to_all(session, topics, now)
    return made
