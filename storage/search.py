"""The full-text document of a call, as PostgreSQL indexes it (migration 0003) and as the
overview's search queries it: the Swedish and the English ``tsvector`` of title, summary and
description. The index is used only when the query uses this very expression."""

_TEXT = "coalesce(title, '') || ' ' || coalesce(summary, '') || ' ' || coalesce(description, '')"
PG_DOCUMENT = (
    f"to_tsvector('swedish'::regconfig, {_TEXT}) || to_tsvector('english'::regconfig, {_TEXT})"
)
