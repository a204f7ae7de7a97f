"""SMTP faults, each from a real aiosmtpd server (faults.SmtpFaultServer), then a re-run
against the server healed. For every fault:

* no subscriber gets two digests for the week (counted at the server over both runs);
* no subscriber is silently skipped: after the faulty run every subscriber is sent, or
  reported (failed / pending, with the server's reply) and has a ledger row saying so;
* permanent failures (5xx) reach the coordinator (a summary mail);
* the re-run completes the rest: every subscriber not refused for good ends with exactly
  one digest, the refused ones with none.
"""

from __future__ import annotations

import ssl
from datetime import timedelta

import pytest
from faults import SmtpFaults, SmtpFaultServer
from sqlmodel import Session, select

from notifications.example import EXAMPLE_NOW, example_config, seed_example
from notifications.ledger import run_digest
from storage.models import Delivery, Subscriber

pytestmark = pytest.mark.storage

NOW = EXAMPLE_NOW
ANNA = "anna.berg@lidkoping.se"
COORD = "international@lidkoping.se"
EXTRA = [f"mottagare{n}@lidkoping.se" for n in range(1, 5)]
EVERYONE = [ANNA, COORD, *EXTRA]
NOTICE = "kunde inte levereras"


@pytest.fixture
def world(engine):
    with Session(engine) as session:
        seed_example(session, NOW)
        for address in EXTRA:
            session.add(
                Subscriber(
                    email=address,
                    name=f"Mottagare {address[9]}",
                    role="coordinator",
                    created_at=NOW - timedelta(days=60),
                )
            )
        session.commit()


def _config(tmp_path, server: SmtpFaultServer, **smtp):
    settings = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        # generous: a client timeout is what only the hang test is about
        "timeout_seconds": 30.0,
        "max_attempts": 2,
        "retry_backoff_seconds": 0.0,
        "concurrency": 2,
        **smtp,
    }
    config = example_config(tmp_path, **settings)
    digest = config.settings.digest.model_copy(update={"outbox_dir": str(tmp_path / "outbox")})
    return type(config)(
        config.directory,
        config.settings.model_copy(update={"digest": digest}),
        config.sources,
        config.needs,
    )


def _ledger(engine) -> dict[str, Delivery]:
    with Session(engine) as session:
        subs = {s.id: s.email for s in session.exec(select(Subscriber)).all()}
        return {subs[d.subscriber_id]: d for d in session.exec(select(Delivery)).all()}


def _digests(server: SmtpFaultServer, address: str) -> list:
    return [m for m in server.to(address) if NOTICE not in str(m.message["Subject"])]


def _notices(server: SmtpFaultServer) -> list:
    return [m for m in server.to(COORD) if NOTICE in str(m.message["Subject"])]


def _check_nobody_skipped(report, engine) -> None:
    ledger = _ledger(engine)
    for address in EVERYONE:
        row = ledger.get(address)
        assert row is not None, f"{address} has no ledger row"
        if address in report.sent:
            assert row.status == "sent"
        elif address in report.failed:
            assert row.status == "failed" and row.error
        else:
            assert address in report.pending, f"{address} silently skipped: {report.as_json()}"
            assert row.status == "pending" and row.error and row.message_id
    assert report.ok == (set(report.sent) == set(EVERYONE))


def _check_at_most_once(server: SmtpFaultServer) -> None:
    for address in EVERYONE:
        got = _digests(server, address)
        assert len(got) <= 1, f"{address} got {len(got)} digests"


def _heal_and_rerun(engine, config, server, refused=(), tls_context=None):
    pending_ids = {a: d.message_id for a, d in _ledger(engine).items() if d.status == "pending"}
    server.faults = SmtpFaults()
    again = run_digest(
        config=config, engine=engine, now=NOW + timedelta(hours=1), tls_context=tls_context
    )
    assert again.ok, again.as_json()
    _check_at_most_once(server)
    for address in EVERYONE:
        expected = 0 if address in refused else 1
        assert len(_digests(server, address)) == expected, address
    for address, message_id in pending_ids.items():  # a resend keeps its Message-ID
        assert str(_digests(server, address)[0].message["Message-ID"]) == message_id
    assert {a: d.status for a, d in _ledger(engine).items()} == {
        a: ("failed" if a in refused else "sent") for a in EVERYONE
    }
    return again


def test_421_on_connect_is_retried(engine, world, tmp_path):
    with SmtpFaultServer(SmtpFaults(refuse_connections=1)) as server:
        config = _config(tmp_path, server, concurrency=1)
        report = run_digest(config=config, engine=engine, now=NOW)
        assert server.refused_connections == 1
        _check_nobody_skipped(report, engine)
        _check_at_most_once(server)
        assert sorted(report.sent) == sorted(EVERYONE)
        _heal_and_rerun(engine, config, server)


def test_421_on_every_connect_leaves_everyone_pending_then_rerun_sends(engine, world, tmp_path):
    with SmtpFaultServer(SmtpFaults(refuse_connections=10_000)) as server:
        config = _config(tmp_path, server)
        report = run_digest(config=config, engine=engine, now=NOW)
        assert sorted(report.pending) == sorted(EVERYONE) and not report.ok
        assert all("421" in error for error in report.pending.values()), report.pending
        assert server.messages == []
        _check_nobody_skipped(report, engine)
        _heal_and_rerun(engine, config, server)


def test_451_on_one_recipient_stays_pending_then_rerun_sends(engine, world, tmp_path):
    victim = EXTRA[0]
    faults = SmtpFaults(rcpt_replies={victim: "451 4.7.1 greylisted, try again later"})
    with SmtpFaultServer(faults) as server:
        config = _config(tmp_path, server)
        report = run_digest(config=config, engine=engine, now=NOW)
        assert list(report.pending) == [victim] and "451" in report.pending[victim]
        assert sorted(report.sent) == sorted(set(EVERYONE) - {victim})
        assert len([r for r in server.refusals if r[0] == victim]) == 2  # max_attempts
        assert not report.coordinator_notified  # temporary: not the coordinator's business
        _check_nobody_skipped(report, engine)
        _check_at_most_once(server)
        _heal_and_rerun(engine, config, server)


def test_451_once_is_retried_within_the_run(engine, world, tmp_path):
    victim = EXTRA[1]
    faults = SmtpFaults(rcpt_replies={victim: "451 4.7.1 try again"}, rcpt_times=1)
    with SmtpFaultServer(faults) as server:
        report = run_digest(config=_config(tmp_path, server), engine=engine, now=NOW)
        assert sorted(report.sent) == sorted(EVERYONE) and report.ok
        _check_at_most_once(server)
        assert _ledger(engine)[victim].attempts == 2


def test_550_for_one_recipient_fails_it_tells_the_coordinator_and_sends_the_rest(
    engine, world, tmp_path
):
    victim = EXTRA[2]
    faults = SmtpFaults(rcpt_replies={victim: "550 5.1.1 <x>: Recipient address rejected"})
    with SmtpFaultServer(faults) as server:
        config = _config(tmp_path, server)
        report = run_digest(config=config, engine=engine, now=NOW)
        assert list(report.failed) == [victim] and "550" in report.failed[victim]
        assert sorted(report.sent) == sorted(set(EVERYONE) - {victim})
        assert len([r for r in server.refusals if r[0] == victim]) == 1  # never retried
        assert report.coordinator_notified
        (notice,) = _notices(server)
        body = notice.message.get_payload(decode=True).decode("utf-8")
        assert victim in body and "550" in body
        _check_nobody_skipped(report, engine)
        _check_at_most_once(server)
        _heal_and_rerun(engine, config, server, refused={victim})
        assert len(_notices(server)) == 1  # not told again on the re-run


def test_connection_dropped_after_two_messages(engine, world, tmp_path):
    with SmtpFaultServer(SmtpFaults(drop_after=2)) as server:
        config = _config(tmp_path, server, concurrency=1)
        report = run_digest(config=config, engine=engine, now=NOW)
        assert server.drops == 1
        assert sorted(report.sent) == sorted(EVERYONE)  # the dropped one went again
        _check_nobody_skipped(report, engine)
        _check_at_most_once(server)
        _heal_and_rerun(engine, config, server)


def test_server_that_stops_answering(engine, world, tmp_path):
    # the hang outlasts the client's timeout many times over; an answer comes well within it
    with SmtpFaultServer(SmtpFaults(hang_after=2, hang_limit=60)) as server:
        config = _config(tmp_path, server, concurrency=1, timeout_seconds=3.0)
        report = run_digest(config=config, engine=engine, now=NOW)
        assert server.hangs >= 1
        assert len(report.sent) == 2 and len(report.pending) == len(EVERYONE) - 2
        _check_nobody_skipped(report, engine)
        _check_at_most_once(server)
        _heal_and_rerun(engine, config, server)


def test_failed_starttls_sends_nothing_in_clear_then_rerun_sends(
    engine, world, tmp_path, tls_certs
):
    ca, cert = tls_certs
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    untrusting = ssl.create_default_context()  # does not know the test CA
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    with SmtpFaultServer(tls_context=server_ctx) as server:
        config = _config(tmp_path, server, security="starttls")
        report = run_digest(config=config, engine=engine, now=NOW, tls_context=untrusting)
        assert server.messages == []  # no fallback to plain text
        assert sorted(report.pending) == sorted(EVERYONE) and not report.ok
        assert all(
            "certificate" in e.lower() or "ssl" in e.lower() for e in report.pending.values()
        )
        _check_nobody_skipped(report, engine)
        _heal_and_rerun(engine, config, server, tls_context=trusting)


def test_starttls_not_offered_sends_nothing_in_clear(engine, world, tmp_path):
    with SmtpFaultServer() as server:  # no tls_context: the server offers no STARTTLS
        config = _config(tmp_path, server, security="starttls")
        report = run_digest(config=config, engine=engine, now=NOW)
        assert server.messages == []
        assert not report.ok and not report.sent
        _check_nobody_skipped(report, engine)


@pytest.mark.filterwarnings("ignore:Requiring AUTH")
def test_login_refused_then_fixed_rerun_sends_everyone(engine, world, tmp_path):
    from aiosmtpd.smtp import AuthResult

    allowed = {"ok": False}

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=allowed["ok"], handled=False if not allowed["ok"] else None)

    with SmtpFaultServer(
        authenticator=authenticator, auth_required=True, auth_require_tls=False
    ) as server:
        config = _config(tmp_path, server, username="bevaka", password="wrong-then-right")
        report = run_digest(config=config, engine=engine, now=NOW)
        assert not report.ok and not report.sent and server.messages == []
        _check_nobody_skipped(report, engine)
        allowed["ok"] = True
        _heal_and_rerun(engine, config, server)
