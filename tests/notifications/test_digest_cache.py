"""build_digest(cache=...): a run shares calls, tags and entries between subscribers, yet each
subscriber's digest is exactly what it would be without the cache (what was told to whom
stays per subscriber)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from notifications.digest import build_digest, digest_group
from notifications.example import EXAMPLE_NOW as NOW
from notifications.example import example_needs
from notifications.ledger import run_digest
from notifications.subscribers import add_subscriber, list_subscribers, view
from storage.models import Announcement


@pytest.mark.parametrize("members", [False, True], ids=["alone", "members"])
def test_shared_cache_gives_each_subscriber_the_same_digest(
    engine, session, world, make_config, members
):
    config = make_config()
    # Anna is told this week; a colleague with the same förvaltning joins afterwards.
    run_digest(config=config, engine=engine, now=NOW, subscriber_email="anna.berg@lidkoping.se")
    later = NOW + timedelta(days=7)
    add_subscriber(
        session=session,
        needs=example_needs(),
        email="erik.lund@lidkoping.se",
        name="Erik Lund",
        department="utbildning",
        topics=["klimat-och-miljo"],  # Anna's förvaltning and topic: the same group
        now=NOW,
    )
    session.commit()
    assert session.exec(
        select(Announcement).where(Announcement.subscriber_id == world["anna"])
    ).all()

    subscribers = [view(session=session, subscriber=s) for s in list_subscribers(session=session)]
    assert len(subscribers) == 3
    cache: dict = {}
    if members:  # as run_digest does: "told" is then read once per group
        cache["members"] = {}
        for s in subscribers:
            cache["members"].setdefault(digest_group(s), set()).add(s.id)
        assert sorted(map(len, cache["members"].values())) == [1, 2]  # Anna and Erik share
    shared = {
        s.email: build_digest(session=session, config=config, subscriber=s, now=later, cache=cache)
        for s in subscribers
    }
    alone = {
        s.email: build_digest(session=session, config=config, subscriber=s, now=later)
        for s in subscribers
    }
    assert shared == alone
    assert any(key[0] == "calls" for key in cache if isinstance(key, tuple))
    assert any(key[0] == "told" for key in cache if isinstance(key, tuple)) == members
    erik = shared["erik.lund@lidkoping.se"]
    anna = shared["anna.berg@lidkoping.se"]
    # Same förvaltning, same cached calls, but only Erik still gets them as new.
    assert erik is not None and erik.new_count >= 1
    assert anna is None or anna.new_count < erik.new_count
    assert shared["international@lidkoping.se"] is not None
