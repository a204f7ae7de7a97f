""" "Mina egna sökord": a representative's own words select calls for her digest beside her
förvaltning and topics, with the same kind of explanation (the word and where it matched).
Runs on SQLite (FTS5) and PostgreSQL (full-text search)."""

from __future__ import annotations

from sqlmodel import select
from web_support import NOW, add_call, csrf_from, make_subscriber

from notifications.digest import build_digest
from storage.models import Subscriber


def test_own_words_are_saved_and_select_calls_with_an_explanation(
    client, session, web_config, seeded
):
    from web_support import SECRET

    from notifications.tokens import make_token

    anna = make_subscriber(
        session, web_config, "anna@lidkoping.se", name="Anna", department="utbildning"
    )
    path = f"/prenumeration/{make_token(SECRET, purpose='prefs', subscriber_id=anna.id, version=1)}"
    page = client.get(path)
    form = {
        "csrf_token": csrf_from(page.text),
        "name": "Anna",
        "department": "utbildning",
        "active": "1",
        "own_words": "Skyfall, dagvatten skyfall <b>",
    }
    assert client.post(path, data=form).status_code == 303
    session.expire_all()
    sub = session.exec(select(Subscriber).where(Subscriber.id == anna.id)).one()
    # lower case, each word once, one-letter words and markup left out
    assert sub.own_words == ["skyfall", "dagvatten"]
    assert 'value="skyfall dagvatten"' in client.get(path).text

    # a call no topic of hers tags, but her word is in its description
    add_call(
        session,
        external_id="LST-SKYFALL",
        title="Bidrag till klimatanpassning",
        description="Kommuner kan söka stöd för att förebygga skador vid skyfall.",
        source="lansstyrelsen_vg",
        status="open",
    )
    digest = build_digest(session=session, config=web_config, subscriber=sub, now=NOW)
    entries = {e.title: e for s in digest.sections for e in s.entries}
    assert "Skolutveckling i Europa" in entries  # her förvaltning's call still comes
    entry = entries["Bidrag till klimatanpassning"]
    [match] = entry.matches
    assert (match.name, match.places) == ("Dina egna sökord", ("skyfall, i beskrivningen",))
    # a colleague of the same förvaltning without own words does not get it
    eva = make_subscriber(
        session, web_config, "eva@lidkoping.se", name="Eva", department="utbildning"
    )
    other = build_digest(session=session, config=web_config, subscriber=eva, now=NOW)
    assert "Bidrag till klimatanpassning" not in {
        e.title for s in other.sections for e in s.entries
    }
