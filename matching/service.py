"""Tag stored calls: the matching stage of the pipeline.

:func:`run_match` re-tags the calls whose tags are stale — never matched, changed since
(``Call.content_hash``), or matched with other rules (``MatchState.rules_hash``) — and
writes only its own rows (``tag``, ``match_state``). With ``dry_run`` it computes what
would change against the stored tags and writes nothing. The caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from config.schema import NeedsFile
from matching.engine import CompiledNeeds, compile_needs, match_call, rules_hash
from storage.models import Call, MatchState, Tag

BATCH = 500

# The columns the matcher reads (rows, not ORM objects: nothing to track or flush).
_COLUMNS = (
    Call.id,
    Call.title,
    Call.summary,
    Call.description,
    Call.keywords,
    Call.programme,
    Call.identifier,
    Call.language,
    Call.regions,
    Call.url,
    Call.kind,
    Call.content_hash,
)

_compiled: dict[str, CompiledNeeds] = {}


def compiled_for(needs: NeedsFile) -> CompiledNeeds:
    """Compile once per ruleset (the scheduler calls run_match after every crawl)."""
    key = rules_hash(needs)
    cached = _compiled.get(key)
    if cached is not None:
        return cached
    compiled = compile_needs(needs)
    _compiled.clear()
    _compiled[key] = compiled
    return compiled


@dataclass
class CallTagChange:
    call_id: int
    title: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass
class MatchReport:
    rules_hash: str
    dry_run: bool
    checked: int = 0  # calls matched in this run
    up_to_date: int = 0  # calls skipped: same rules, same content
    tagged: int = 0  # checked calls with at least one tag
    updated: int = 0  # kept tags whose score or reasons changed
    changes: list[CallTagChange] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(len(c.added) for c in self.changes)

    @property
    def removed(self) -> int:
        return sum(len(c.removed) for c in self.changes)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["added"] = self.added
        data["removed"] = self.removed
        return data


def _stale_ids(session: Session, rules: str, all_calls: bool) -> tuple[list[int], int]:
    states = {
        call_id: (rules_hash, content_hash)
        for call_id, rules_hash, content_hash in session.exec(
            select(MatchState.call_id, MatchState.rules_hash, MatchState.content_hash)
        )
    }
    stale: list[int] = []
    fresh = 0
    for call_id, content_hash in session.exec(
        select(Call.id, Call.content_hash).order_by(col(Call.id))
    ):
        state = states.get(call_id)
        if all_calls or state is None or state != (rules, content_hash):
            stale.append(call_id)
        else:
            fresh += 1
    return stale, fresh


def run_match(
    *,
    session: Session,
    needs: NeedsFile,
    now: datetime,
    all_calls: bool = False,
    dry_run: bool = False,
) -> MatchReport:
    """Tag new and changed calls (every call with ``all_calls`` or after a rules change).

    Closed calls and news items are tagged too. With ``dry_run`` nothing is written and
    the report lists the tags each call would gain and lose."""
    compiled = compiled_for(needs)
    report = MatchReport(rules_hash=compiled.rules_hash, dry_run=dry_run)
    stale, report.up_to_date = _stale_ids(session, compiled.rules_hash, all_calls)
    for start in range(0, len(stale), BATCH):
        ids = stale[start : start + BATCH]
        rows = session.exec(select(*_COLUMNS).where(col(Call.id).in_(ids)).order_by(col(Call.id)))
        tags: dict[int, dict[str, Tag]] = {i: {} for i in ids}
        for tag in session.exec(select(Tag).where(col(Tag.call_id).in_(ids))):
            tags[tag.call_id][tag.key] = tag
        states = {
            s.call_id: s
            for s in session.exec(select(MatchState).where(col(MatchState.call_id).in_(ids)))
        }
        for row in rows:
            results = {r.key: r for r in match_call(compiled, row)}
            stored = tags[row.id]
            report.checked += 1
            report.tagged += bool(results)
            added = sorted(set(results) - set(stored))
            removed = sorted(set(stored) - set(results))
            if added or removed:
                report.changes.append(CallTagChange(row.id, row.title, added, removed))
            for key in set(results) & set(stored):
                tag, result = stored[key], results[key]
                if tag.score != result.score or tag.reasons != result.reasons:
                    report.updated += 1
                    if not dry_run:
                        tag.kind, tag.score, tag.reasons = result.kind, result.score, result.reasons
                        session.add(tag)
            if dry_run:
                continue
            for key in removed:
                session.delete(stored[key])
            for key in added:
                result = results[key]
                session.add(
                    Tag(
                        call_id=row.id,
                        key=key,
                        kind=result.kind,
                        score=result.score,
                        reasons=result.reasons,
                        created_at=now,
                    )
                )
            state = states.get(row.id)
            if state is None:
                state = MatchState(call_id=row.id, rules_hash="", matched_at=now)
            state.rules_hash = compiled.rules_hash
            state.content_hash = row.content_hash
            state.matched_at = now
            session.add(state)
        if not dry_run:
            session.flush()
    return report
