"""Free-text search over calls (migration 0003), for the overview's search and the
subscribers' own words. The full-text document of a call, as PostgreSQL indexes it and as
the search queries it, is the Swedish and the English ``tsvector`` of title, summary and
description (the index is used only when the query uses this very expression); SQLite has
the FTS5 table ``call_search``."""

import re

from sqlalchemy import literal_column
from sqlalchemy import text as sa_text
from sqlmodel import Session, col, select

from storage.models import Call

_TEXT = "coalesce(title, '') || ' ' || coalesce(summary, '') || ' ' || coalesce(description, '')"
PG_DOCUMENT = (
    f"to_tsvector('swedish'::regconfig, {_TEXT}) || to_tsvector('english'::regconfig, {_TEXT})"
)


_WORD = re.compile(r"\w+", re.UNICODE)
MAX_SEARCH_WORDS = 12


def search_words(text: str) -> list[str]:
    """The words of a search (letters and digits; everything else separates them)."""
    return _WORD.findall(text)[:MAX_SEARCH_WORDS]


def search_condition(session: Session, text: str):
    """A WHERE clause for calls whose title, summary or description has every word of
    ``text``: SQLite's FTS5 index (``call_search``, prefix match per word) or PostgreSQL's
    full-text search in Swedish and English (migration 0003). None when no words."""
    words = search_words(text)
    if not words:
        return None
    if session.get_bind().dialect.name == "postgresql":
        # every word, stemmed in either language and as a prefix; the words are letters
        # and digits only, so nothing in them is tsquery syntax
        query = " & ".join(f"{w}:*" for w in words)
        return sa_text(
            f"({PG_DOCUMENT}) @@ (to_tsquery('swedish'::regconfig, :search_query) || "
            "to_tsquery('english'::regconfig, :search_query))"
        ).bindparams(search_query=query)
    # FTS5: each word a quoted string with a prefix star ("klimat"* matches klimatanpassning)
    match = " ".join('"' + w.replace('"', '""') + '"*' for w in words)
    matching = (
        select(literal_column("rowid"))
        .select_from(sa_text("call_search"))
        .where(sa_text("call_search MATCH :search_match").bindparams(search_match=match))
    )
    return col(Call.id).in_(matching)
