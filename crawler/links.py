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

from sqlalchemy import String, cast, func, or_
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


def find_identifiers(text: str | None) -> set[str]:
    """EU topic/call identifiers named in a text or linked through portal topic URLs."""
    if not text:
        return set()
    text = text[:MAX_TEXT]
    found = {m.group(0) for m in IDENTIFIER_RE.finditer(text)}
    for m in TOPIC_URL_RE.finditer(text):
        found.add(m.group(1).removesuffix(".json"))
    return found


def _mention_text(call: Call) -> str:
    links = (call.extra or {}).get("links") or []
    parts = [call.title, call.summary, call.description, call.url]
    if isinstance(links, list):
        parts.extend(str(link) for link in links[:500])
    return "\n".join(p for p in parts if p)


def _targets(session: Session, identifier: str, exclude_id: int | None) -> list[Call]:
    key = identifier.lower()
    query = (
        select(Call)
        .where(
            or_(
                func.lower(col(Call.identifier)) == key,
                func.lower(col(Call.call_identifier)) == key,
            )
        )
        .order_by(col(Call.id))
        .limit(MAX_TARGETS_PER_MENTION)
    )
    return [c for c in session.exec(query).all() if c.id != exclude_id]


def _link_from(session: Session, call: Call, now: datetime) -> int:
    made = 0
    own = {(call.identifier or "").lower(), (call.call_identifier or "").lower()}
    for identifier in sorted(find_identifiers(_mention_text(call))):
        if identifier.lower() in own:
            continue
        for target in _targets(session, identifier, call.id):
            if target.source == call.source:
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


def _link_to(session: Session, topic: Call, now: datetime) -> int:
    made = 0
    for identifier in {topic.identifier, topic.call_identifier} - {None, ""}:
        key = identifier.lower()
        pattern = f"%{key}%"
        candidates = session.exec(
            select(Call).where(
                Call.source != topic.source,
                or_(
                    func.lower(col(Call.title)).like(pattern),
                    func.lower(col(Call.summary)).like(pattern),
                    func.lower(col(Call.description)).like(pattern),
                    func.lower(col(Call.url)).like(pattern),
                    func.lower(cast(col(Call.extra), String)).like(pattern),
                ),
            )
        ).all()
        for candidate in candidates:
            named = {i.lower() for i in find_identifiers(_mention_text(candidate))}
            if key in named and link_calls(
                session=session,
                from_call_id=candidate.id,
                to_call_id=topic.id,
                reason=f"mentions {identifier}",
                now=now,
            ):
                made += 1
    return made


def link_mentions(
    *,
    session: Session,
    call_ids: Iterable[int],
    new_topic_ids: Iterable[int] = (),
    now: datetime,
) -> int:
    """Link the calls just stored to the EU calls they name, and earlier calls to the topics
    that just arrived. Returns the number of new links."""
    made = 0
    for call_id in dict.fromkeys(call_ids):
        call = session.get(Call, call_id)
        if call is not None:
            made += _link_from(session, call, now)
    for topic_id in dict.fromkeys(new_topic_ids):
        topic = session.get(Call, topic_id)
        if topic is not None and (topic.identifier or topic.call_identifier):
            made += _link_to(session, topic, now)
    return made
