"""The ledger without a mail server: outbox, preview, dry run, empty weeks, the extension hook,
and the subscriber repository."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

import pytest
from sqlmodel import select

from notifications import digest as digest_module
from notifications.digest import Section, build_digest
from notifications.example import EXAMPLE_NOW as NOW
from notifications.example import example_needs
from notifications.ledger import run_digest
from notifications.subscribers import (
    SubscriberError,
    add_subscriber,
    list_subscribers,
    remove_subscriber,
    topics_of,
    update_subscriber,
)
from storage.models import Announcement, Delivery, Subscriber


def test_no_smtp_host_writes_the_outbox_once(engine, session, world, make_config, tmp_path):
    config = make_config()
    report = run_digest(config=config, engine=engine, now=NOW)
    outbox = tmp_path / "outbox"
    assert report.mode == "outbox" and len(report.written) == 2
    emls = sorted(outbox.glob("*.eml"))
    assert [p.name for p in emls] == [
        "2026-W48_anna.berg_at_lidkoping.se.eml",
        "2026-W48_international_at_lidkoping.se.eml",
    ]
    assert (
        (outbox / "2026-W48_anna.berg_at_lidkoping.se.html")
        .read_text()
        .startswith("<!DOCTYPE html>")
    )
    message = email.message_from_bytes(emls[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Bevaka v. 48: 2 nya utlysningar för Utbildningsförvaltningen"
    rows = session.exec(select(Delivery)).all()
    assert sorted(r.status for r in rows) == ["written", "written"]
    assert {r.message_id for r in rows} == {
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Message-ID"]
        for p in emls
    }
    told = session.exec(
        select(Announcement).where(Announcement.subscriber_id == world["anna"])
    ).all()
    assert {(a.call_id, a.reason) for a in told} >= {
        (world["erasmus"], "new"),
        (world["life"], "new"),
        (world["interreg"], "forthcoming"),
        (world["cities"], "deadline:14:2026-12-03"),
    }
    again = run_digest(config=config, engine=engine, now=NOW + timedelta(days=1))
    assert again.written == [] and sorted(again.already) == sorted(report.written)
    assert len(list(outbox.glob("*.eml"))) == 2


def test_preview_and_dry_run_record_nothing(engine, session, world, make_config, tmp_path):
    config = make_config()
    preview = run_digest(
        config=config,
        engine=engine,
        now=NOW,
        preview_dir=tmp_path / "preview",
        subscriber_email="anna.berg@lidkoping.se",
    )
    assert preview.previewed == ["anna.berg@lidkoping.se"]
    assert sorted(p.suffix for p in (tmp_path / "preview").iterdir()) == [".eml", ".html", ".txt"]
    dry = run_digest(config=config, engine=engine, now=NOW, send=False)
    assert sorted(dry.would_send) == ["anna.berg@lidkoping.se", "international@lidkoping.se"]
    assert session.exec(select(Delivery)).all() == []
    assert (
        session.exec(select(Announcement).where(Announcement.delivery_id.is_not(None))).all() == []
    )
    run_digest(config=config, engine=engine, now=NOW, subscriber_email="anna.berg@lidkoping.se")
    dry = run_digest(config=config, engine=engine, now=NOW, send=False)
    assert dry.already == ["anna.berg@lidkoping.se"]
    assert dry.would_send == ["international@lidkoping.se"]


def test_empty_week_sends_nothing_unless_configured(engine, session, world, make_config):
    sub = add_subscriber(
        session=session,
        needs=example_needs(),
        email="kultur@lidkoping.se",
        name="Kultur",
        department="kommunledning",  # nothing tagged with it
        now=NOW,
    )
    session.commit()
    assert build_digest(session=session, config=make_config(), subscriber=sub, now=NOW) is None
    report = run_digest(config=make_config(), engine=engine, now=NOW, subscriber_email=sub.email)
    assert report.empty == [sub.email] and report.written == []

    config = make_config(send_empty=True)
    digest = build_digest(session=session, config=config, subscriber=sub, now=NOW)
    assert digest is not None and digest.empty and digest.sections == []
    report = run_digest(config=config, engine=engine, now=NOW, subscriber_email=sub.email)
    assert report.written == [sub.email]
    html = next(p for p in report.files if p.suffix == ".html").read_text()
    assert "Inga nya utlysningar den här veckan." in html


def test_extra_section_hook_and_its_announcements(engine, session, world, make_config):
    calls_seen = []

    def reminders(session_, config_, subscriber, now):
        calls_seen.append(subscriber.email)
        if subscriber.is_coordinator:
            return None
        return Section(
            "reminders",
            "Påminnelser",
            lines=["Beslut om <Erasmus+> behövs"],
            announcements=[(world["erasmus"], "reminder:14")],
        )

    digest_module.EXTRA_SECTIONS.append(reminders)
    try:
        report = run_digest(config=make_config(), engine=engine, now=NOW)
    finally:
        digest_module.EXTRA_SECTIONS.remove(reminders)
    assert sorted(calls_seen) == ["anna.berg@lidkoping.se", "international@lidkoping.se"]
    html = next(p for p in report.files if "anna" in p.name and p.suffix == ".html").read_text()
    assert "<h2" in html and "Påminnelser" in html and "Beslut om &lt;Erasmus+&gt; behövs" in html
    reminder = session.exec(select(Announcement).where(Announcement.reason == "reminder:14")).all()
    assert [(r.subscriber_id, r.call_id) for r in reminder] == [(world["anna"], world["erasmus"])]


def test_inactive_subscribers_get_nothing(engine, session, world, make_config):
    update_subscriber(
        session=session, needs=example_needs(), email="anna.berg@lidkoping.se", active=False
    )
    session.commit()
    report = run_digest(config=make_config(), engine=engine, now=NOW)
    assert report.written == ["international@lidkoping.se"]


def test_subscriber_repository_validates(session):
    needs = example_needs()
    sub = add_subscriber(
        session=session,
        needs=needs,
        email="Per.Olsson@Lidkoping.SE",
        name="Per Olsson",
        department="utbildning",
        topics=["digitalisering", "klimat-och-miljo"],
        now=NOW,
    )
    assert sub.email == "Per.Olsson@lidkoping.se"
    assert topics_of(session=session, subscriber_id=sub.id) == [
        "digitalisering",
        "klimat-och-miljo",
    ]
    for kwargs, message in (
        ({"email": "not an address"}, "invalid email address"),
        ({"email": "a@b.se", "department": "nope"}, "unknown förvaltning 'nope'"),
        ({"email": "a@b.se", "topics": ["utbildning"]}, "unknown topic 'utbildning'"),
        ({"email": "a@b.se", "role": "boss"}, "unknown role"),
        ({"email": "per.olsson@lidkoping.se"}, "already a subscriber"),
    ):
        with pytest.raises(SubscriberError, match=message):
            add_subscriber(session=session, needs=needs, name="X", now=NOW, **kwargs)
    update_subscriber(
        session=session, needs=needs, email=sub.email, topics=["digitalisering"], department=""
    )
    assert topics_of(session=session, subscriber_id=sub.id) == ["digitalisering"]
    assert session.get(Subscriber, sub.id).department is None
    assert remove_subscriber(session=session, email=sub.email)
    assert list_subscribers(session=session) == []
    assert not remove_subscriber(session=session, email=sub.email)


def test_a_concurrent_run_that_claimed_the_week_first_wins(engine, session, world, make_config):
    """Another run inserts Anna's row for the week while this one builds her digest."""
    from storage.db import session_scope

    def other_run_claims(session_, config_, subscriber, now):
        if subscriber.email == "anna.berg@lidkoping.se":
            with session_scope(engine) as other:
                other.add(
                    Delivery(
                        subscriber_id=subscriber.id,
                        week="2026-W48",
                        status="pending",
                        message_id="<other-run@lidkoping.se>",
                        created_at=now,
                    )
                )
        return None

    digest_module.EXTRA_SECTIONS.append(other_run_claims)
    try:
        report = run_digest(config=make_config(), engine=engine, now=NOW)
    finally:
        digest_module.EXTRA_SECTIONS.remove(other_run_claims)
    assert report.elsewhere == ["anna.berg@lidkoping.se"]  # the other run sends it
    assert report.written == ["international@lidkoping.se"]
    session.expire_all()
    rows = {d.subscriber_id: d for d in session.exec(select(Delivery)).all()}
    assert rows[world["anna"]].message_id == "<other-run@lidkoping.se>"
    assert rows[world["anna"]].status == "pending"


def test_settling_skips_announcements_already_recorded(engine, session, world, make_config):
    """A settle adds each (call, reason) once even when another run recorded some of them
    meanwhile (the unique (subscriber, call, reason) row is skipped, not an error)."""
    from notifications.ledger import _Job, _settle
    from notifications.render import digest_mail

    config = make_config()
    anna = session.get(Subscriber, world["anna"])
    digest = build_digest(session=session, config=config, subscriber=anna, now=NOW)
    told = digest.announcements
    assert len(told) >= 4
    delivery = Delivery(
        subscriber_id=anna.id,
        week="2026-W48",
        message_id="<t@lidkoping.se>",
        created_at=NOW,
        claimed_by="this run",
    )
    session.add(delivery)
    session.add(
        Announcement(subscriber_id=anna.id, call_id=told[0][0], reason=told[0][1], created_at=NOW)
    )
    session.commit()
    before = {
        (r.call_id, r.reason)
        for r in session.exec(select(Announcement).where(Announcement.subscriber_id == anna.id))
    }
    assert told[0] in before and not before & set(told[1:])
    job = _Job(delivery.id, digest, digest_mail(digest, settings=config.settings, message_id="<t>"))
    _settle(engine, job, owner="this run", status="sent", now=NOW, attempts=1)
    # a second settle (the claim is gone) adds nothing
    _settle(engine, job, owner="this run", status="sent", now=NOW, attempts=1)
    session.expire_all()
    rows = session.exec(select(Announcement).where(Announcement.subscriber_id == anna.id)).all()
    assert sorted((r.call_id, r.reason) for r in rows) == sorted(before | set(told))
    assert [r.delivery_id for r in rows if (r.call_id, r.reason) == told[0]] == [None]
    assert {r.delivery_id for r in rows if (r.call_id, r.reason) in told[1:]} == {delivery.id}
    settled = session.get(Delivery, delivery.id)
    # the second settle found the claim released: it changed nothing
    assert settled.status == "sent" and settled.attempts == 1 and settled.sent_at is not None
