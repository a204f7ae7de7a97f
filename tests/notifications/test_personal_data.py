"""`bevaka subscribers export EMAIL` and `forget EMAIL` (docs/operations.md, "Personal
data"): the export holds everything stored about the address; after forgetting, no row of
any table and no outbox file names it, while the ledger keeps its weeks and counts."""

from __future__ import annotations

import json

from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select

from followup.decisions import DecisionInput, record_decision
from notifications.example import EXAMPLE_NOW as NOW
from notifications.ledger import run_digest
from storage.models import Announcement, Delivery, Subscriber

ANNA = "anna.berg@lidkoping.se"


def _every_value(engine) -> str:
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(row))
            for table in SQLModel.metadata.sorted_tables
            for row in conn.execute(sa_select(table))
        )


def test_export_then_forget_an_address(bevaka, engine, session, world, make_config, tmp_path):
    outbox = tmp_path / "var" / "outbox"  # the CLI's outbox (settings: var/outbox, cwd tmp_path)
    report = run_digest(config=make_config(outbox_dir=str(outbox)), engine=engine, now=NOW)
    assert ANNA in report.written
    record_decision(
        session=session,
        call_id=world["erasmus"],
        department="utbildning",
        data=DecisionInput(status="pursuing", note="Vi söker"),
        actor=ANNA,
        now=NOW,
    )
    session.commit()
    anna_files = [p for p in outbox.iterdir() if "anna.berg_at_lidkoping.se" in p.name]
    others = sorted(p for p in outbox.iterdir() if p not in anna_files)
    assert anna_files and others

    exported = json.loads(
        bevaka("subscribers", "export", "Anna.Berg@lidkoping.se", check=True).stdout
    )
    assert exported["subscriber"]["email"] == ANNA and exported["subscriber"]["name"]
    assert exported["topics"]
    assert [d["week"] for d in exported["deliveries"]] == ["2026-W48"]
    assert exported["announcements"] and exported["decisions"][0]["note"] == "Vi söker"

    told_before = session.exec(
        select(Announcement).where(Announcement.subscriber_id == world["anna"])
    ).all()
    version_before = session.get(Subscriber, world["anna"]).token_version
    done = bevaka("subscribers", "forget", ANNA, check=True)
    assert f"forgot {ANNA}" in done.stdout and "1 decisions" in done.stdout

    session.expire_all()
    assert (
        ANNA not in _every_value(engine).lower() and "anna berg" not in _every_value(engine).lower()
    )
    forgotten = session.get(Subscriber, world["anna"])
    assert forgotten.email.endswith("@forgotten.invalid") and not forgotten.active
    assert forgotten.token_version == version_before + 1  # the mailed links are dead
    # the ledger keeps its week and what was announced, without the address
    assert (
        len(session.exec(select(Delivery).where(Delivery.subscriber_id == world["anna"])).all())
        == 1
    )
    assert len(
        session.exec(select(Announcement).where(Announcement.subscriber_id == world["anna"])).all()
    ) == len(told_before)
    assert not any(p.exists() for p in anna_files)
    assert sorted(outbox.iterdir()) == others

    missing = bevaka("subscribers", "export", ANNA)
    assert missing.returncode == 2 and "no subscriber" in missing.stderr
