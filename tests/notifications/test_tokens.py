"""Subscriber-link tokens are stamped with the caller's clock, never the machine's: the same
token made at the same ``now`` is byte-identical, and its age is judged at the reader's ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifications.tokens import TokenError, make_token, read_token

KEY = "a-test-key-that-is-only-used-in-this-file-0123456789"
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
DAY = 86400


def test_same_now_gives_the_same_token_and_another_now_another():
    one = make_token(KEY, purpose="prefs", subscriber_id=7, version=2, now=NOW)
    assert make_token(KEY, purpose="prefs", subscriber_id=7, version=2, now=NOW) == one
    later = make_token(
        KEY, purpose="prefs", subscriber_id=7, version=2, now=NOW + timedelta(seconds=1)
    )
    assert later != one


def test_age_is_judged_at_the_readers_now():
    token = make_token(KEY, purpose="prefs", subscriber_id=7, version=2, now=NOW)
    at_limit = NOW + timedelta(days=30)
    data = read_token(KEY, token, purpose="prefs", max_age_seconds=30 * DAY, now=at_limit)
    assert (data.subscriber_id, data.version, data.purpose) == (7, 2, "prefs")
    with pytest.raises(TokenError) as late:
        read_token(
            KEY,
            token,
            purpose="prefs",
            max_age_seconds=30 * DAY,
            now=at_limit + timedelta(seconds=1),
        )
    assert late.value.expired
    with pytest.raises(TokenError) as early:  # stamped in the reader's future
        read_token(KEY, token, purpose="prefs", max_age_seconds=DAY, now=NOW - timedelta(hours=1))
    assert early.value.expired
