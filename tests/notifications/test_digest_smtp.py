"""Sending digests to a real aiosmtpd server and checking what it received."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from digest_smtp_server import SMTP_PASSWORD, SMTP_USER
from sqlmodel import select

from notifications.example import EXAMPLE_NOW as NOW
from notifications.example import EXAMPLE_SECRET_KEY
from notifications.ledger import run_digest
from notifications.tokens import read_token
from storage.models import Call, Delivery, Subscriber, Subscription, Tag

ANNA = "anna.berg@lidkoping.se"
COORD = "international@lidkoping.se"


def deliveries(session) -> dict[str, Delivery]:
    session.expire_all()
    rows = session.exec(select(Delivery, Subscriber).join(Subscriber)).all()
    return {s.email: d for d, s in rows}


def parts(received):
    msg = received.message
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    return msg, text, html


def test_digest_over_smtp_parts_headers_sections(engine, session, world, smtp, make_config):
    config = make_config(smtp)
    report = run_digest(config=config, engine=engine, now=NOW)

    assert sorted(report.sent) == [ANNA, COORD] and report.ok
    assert len(smtp.recorder.received) == 2
    [anna] = smtp.recorder.to(ANNA)
    msg, text, html = parts(anna)

    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "Bevaka v. 48: 2 nya utlysningar för Utbildningsförvaltningen"
    assert msg["From"] == "Bevaka <bevaka@lidkoping.se>"
    assert msg["To"] == "Anna Berg <anna.berg@lidkoping.se>"
    assert msg["Reply-To"] == "international@lidkoping.se"
    assert msg["Date"] == "Mon, 23 Nov 2026 06:00:00 +0000"
    assert msg["Message-ID"] == deliveries(session)[ANNA].message_id
    assert msg["Message-ID"].startswith("<bevaka.2026-W48.") and msg["Message-ID"].endswith(
        "@lidkoping.se>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = msg["List-Unsubscribe"]
    assert unsubscribe.startswith(
        "<https://bevaka.lidkoping.se/avregistrera/"
    ) and unsubscribe.endswith(">")
    token = unsubscribe[1:-1].rsplit("/", 1)[1]
    data = read_token(
        EXAMPLE_SECRET_KEY, token, purpose="unsubscribe", max_age_seconds=86400, now=NOW
    )
    assert data.subscriber_id == world["anna"]
    assert "https://bevaka.lidkoping.se/prenumeration/" in html and "Avregistrera dig" in html

    # Swedish dates, days left, money, sections, reasons, mentions; in both parts
    for body in (text, html.replace("&nbsp;", "\u00a0")):
        assert "20 januari 2027 kl. 17.00" in body
        assert "58 dagar kvar" in body
        assert "4\u00a0000\u00a0000\u00a0€" in body
        assert "Horisont Europa" in body
        assert "UHR: Nu kan skolor söka Erasmus+ för 2027" in body
        assert "28 januari 2027 kl. 14.00 → 18 februari 2027 kl. 14.00" in body
        assert "Ungdomsutbyten" not in body  # closed
        assert "Kultur &amp; samarbete" not in body and "Kreativa Europa" not in body  # not Anna's
        assert "Källornas status" not in body  # coordinator only
    for title in (
        "Nya utlysningar (2)",
        "Sista ansökningsdag närmar sig (1)",
        "Ändrade (1)",
        "Kommande (1)",
    ):
        assert title in text
        assert re.search(rf"<h2[^>]*>{re.escape(title)}</h2>", html)
    assert '<html lang="sv">' in html
    assert 'style="' in html  # CSS inlined
    # where each need matched, never the rule's terms
    assert "i titeln" in html and "i titeln" in text
    assert "skola*" not in html and "klimat*" not in text

    [coord] = smtp.recorder.to(COORD)
    _, ctext, chtml = parts(coord)
    assert coord.message["Subject"] == "Bevaka v. 48: 3 nya utlysningar för alla förvaltningar"
    assert "Källornas status" in chtml and "misslyckades 2 gånger i rad" in ctext
    assert 'Kreativa Europa: "Kultur &amp; samarbete" &lt;små projekt&gt;</a>' in chtml

    rows = deliveries(session)
    assert {e: r.status for e, r in rows.items()} == {ANNA: "sent", COORD: "sent"}


def test_hostile_titles_are_escaped_and_never_reach_a_header(
    engine, session, world, smtp, make_config
):
    now = NOW
    for i, title in enumerate(
        ["<script>alert(1)</script>", "Utlysning\r\nBcc: evil@example.com\r\n\r\nbody"]
    ):
        call = Call(
            source="eu_portal",
            external_id=f"hostile-{i}",
            url="javascript:alert(1)" if i == 0 else "https://example.org/x",
            title=title,
            status="open",
            first_seen_at=now - timedelta(days=1),
            last_seen_at=now,
            updated_at=now,
        )
        session.add(call)
        session.flush()
        session.add(
            Tag(
                call_id=call.id,
                key="utbildning",
                kind="department",
                reasons=[
                    {"need": "<b>skola</b>", "term": "skola", "field": "title", "snippet": "x"}
                ],
                created_at=now,
            )
        )
    session.commit()
    # a subject template that takes the audience name, to show header_safe on a data value
    run_digest(config=make_config(smtp), engine=engine, now=now, subscriber_email=ANNA)

    [anna] = smtp.recorder.to(ANNA)
    assert anna.rcpt_tos == [ANNA]
    msg, text, html = parts(anna)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;skola&lt;/b&gt;, i titeln" in html  # the need's name, escaped
    assert 'href="javascript' not in html and 'href="#"' in html
    assert "Bcc" not in msg and "evil@example.com" not in str(msg["To"])
    header_block = anna.raw.split(b"\r\n\r\n", 1)[0]
    assert b"evil@example.com" not in header_block
    assert all("\n" not in v and "\r" not in v for v in msg.values())
    assert "* Utlysning Bcc: evil@example.com body" in text  # one line in the text part


def test_send_twice_same_week_delivers_once(engine, session, world, smtp, make_config):
    config = make_config(smtp, smtp={"concurrency": 1})
    first = run_digest(config=config, engine=engine, now=NOW)
    assert smtp.recorder.connections == 1  # both messages over one connection
    second = run_digest(config=config, engine=engine, now=NOW + timedelta(hours=5))
    assert sorted(first.sent) == [ANNA, COORD]
    assert second.sent == [] and sorted(second.already) == [ANNA, COORD]
    assert len(smtp.recorder.to(ANNA)) == 1 and len(smtp.recorder.to(COORD)) == 1


def _more_subscribers(session, n: int) -> list[str]:
    emails = []
    for i in range(n):
        sub = Subscriber(
            email=f"rep{i}@lidkoping.se",
            name=f"Rep {i}",
            department="utbildning",
            created_at=NOW - timedelta(days=40),
        )
        session.add(sub)
        session.flush()
        session.add(Subscription(subscriber_id=sub.id, topic="klimat-och-miljo"))
        emails.append(sub.email)
    session.commit()
    return emails


def test_dropped_connection_then_rerun_everyone_exactly_once(
    engine, session, world, smtp, make_config
):
    everyone = [ANNA, COORD, *_more_subscribers(session, 4)]
    smtp.recorder.budget = 2  # the server goes away after two messages
    config = make_config(smtp, smtp={"max_attempts": 2, "concurrency": 2})
    first = run_digest(config=config, engine=engine, now=NOW)
    assert len(first.sent) == 2 and len(first.pending) == 4 and not first.ok
    pending_ids = {e: d.message_id for e, d in deliveries(session).items() if d.status == "pending"}
    assert len(pending_ids) == 4 and all(pending_ids.values())

    smtp.recorder.budget = None  # back up
    second = run_digest(config=config, engine=engine, now=NOW + timedelta(minutes=30))
    assert sorted(second.sent) == sorted(pending_ids) and len(second.already) == 2
    for address in everyone:
        assert len(smtp.recorder.to(address)) == 1, address
    for address, message_id in pending_ids.items():  # the resend reused the stored Message-ID
        assert smtp.recorder.to(address)[0].message["Message-ID"] == message_id
    assert {d.status for d in deliveries(session).values()} == {"sent"}


def test_connection_dropped_every_two_messages_is_retried(
    engine, session, world, smtp, make_config
):
    everyone = [ANNA, COORD, *_more_subscribers(session, 5)]
    smtp.recorder.drop_every = 2
    report = run_digest(config=make_config(smtp, smtp={"concurrency": 1}), engine=engine, now=NOW)
    assert sorted(report.sent) == sorted(everyone) and report.ok
    assert sorted(r.rcpt_tos[0] for r in smtp.recorder.received) == sorted(everyone)
    assert smtp.recorder.connections >= 4  # several connections, several messages each


def test_a_connection_the_server_closed_after_use_costs_no_attempt(
    engine, session, world, smtp, make_config
):
    """A server that closes each connection after two messages: the message tried on the
    closed connection goes out on a new one, even with a single attempt allowed (however
    fast the client notices the close)."""
    everyone = [ANNA, COORD, *_more_subscribers(session, 5)]
    smtp.recorder.drop_every = 2
    config = make_config(smtp, smtp={"concurrency": 1, "max_attempts": 1})
    report = run_digest(config=config, engine=engine, now=NOW)
    assert sorted(report.sent) == sorted(everyone) and report.ok
    for address in everyone:
        assert len(smtp.recorder.to(address)) == 1, address


def test_permanent_failure_is_recorded_and_the_coordinator_told(
    engine, session, world, smtp, make_config
):
    smtp.recorder.reject[ANNA] = "550 5.1.1 <anna.berg@lidkoping.se>: Recipient address rejected"
    config = make_config(smtp)
    report = run_digest(config=config, engine=engine, now=NOW)
    assert list(report.failed) == [ANNA] and "550" in report.failed[ANNA]
    assert report.coordinator_notified
    row = deliveries(session)[ANNA]
    assert row.status == "failed" and "550" in row.error
    to_coord = smtp.recorder.to(COORD)
    assert len(to_coord) == 2  # the digest and the failure summary
    summary = next(r for r in to_coord if "kunde inte levereras" in r.message["Subject"])
    assert ANNA in summary.message.get_content() and "550" in summary.message.get_content()

    again = run_digest(config=config, engine=engine, now=NOW + timedelta(hours=1))
    assert again.sent == [] and again.failed == {} and len(smtp.recorder.received) == 2


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_login(engine, session, world, smtp_factory, make_config, security):
    server = smtp_factory(security, auth=True)
    config = make_config(server, smtp={"username": SMTP_USER, "password": SMTP_PASSWORD})
    report = run_digest(config=config, engine=engine, now=NOW, tls_context=server.client_tls)
    assert sorted(report.sent) == [ANNA, COORD]
    assert [(r.tls, r.login) for r in server.recorder.received] == [(True, SMTP_USER)] * 2
    _, text, _ = parts(server.recorder.to(ANNA)[0])
    assert "3 december 2026 kl. 17.00" in text


def test_next_week_tells_new_calls_once_and_the_next_threshold(
    engine, session, world, smtp, make_config
):
    config = make_config(smtp)
    run_digest(config=config, engine=engine, now=NOW, subscriber_email=ANNA)
    next_week = NOW + timedelta(days=7)  # 30 November: 3 days before the cities deadline
    run_digest(config=config, engine=engine, now=next_week, subscriber_email=ANNA)
    first, second = smtp.recorder.to(ANNA)
    _, text2, _ = parts(second)
    assert (
        second.message["Subject"]
        == "Bevaka v. 49: veckans utlysningar för Utbildningsförvaltningen"
    )
    assert "Nya utlysningar" not in text2 and "Ändrade" not in text2 and "Kommande" not in text2
    assert "Sista ansökningsdag närmar sig (1)" in text2 and "3 dagar kvar" in text2
    assert "Klimatneutrala och smarta städer" in text2
    # a third week has nothing left to say: no mail
    report = run_digest(
        config=config, engine=engine, now=NOW + timedelta(days=14), subscriber_email=ANNA
    )
    assert report.empty == [ANNA] and len(smtp.recorder.to(ANNA)) == 2


def test_temporary_4xx_is_retried_with_send_messages(smtp, make_config):
    from notifications.render import build_message
    from notifications.sender import send_messages

    settings = make_config(smtp).settings
    smtp.recorder.greylist = {"a@lidkoping.se", "b@lidkoping.se"}
    messages = [
        build_message(
            settings=settings,
            to_name=None,
            to_email=address,
            subject="Källa misslyckas",
            text="hej\n",
            html=None,
            message_id=f"<{i}@lidkoping.se>",
            date=NOW,
        )
        for i, address in enumerate(["a@lidkoping.se", "b@lidkoping.se", "c@lidkoping.se"])
    ]
    results = send_messages(settings.smtp, messages)
    assert [(r.ok, r.attempts) for r in results] == [(True, 2), (True, 2), (True, 1)]
    assert sorted(smtp.recorder.greylisted) == ["a@lidkoping.se", "b@lidkoping.se"]
    assert sorted(r.rcpt_tos[0] for r in smtp.recorder.received) == [
        "a@lidkoping.se",
        "b@lidkoping.se",
        "c@lidkoping.se",
    ]
    # out of attempts: stays a temporary failure, reported, not raised
    smtp.recorder.greylist = {"d@lidkoping.se"}
    one = settings.smtp.model_copy(update={"max_attempts": 1})
    retry = build_message(
        settings=settings,
        to_name=None,
        to_email="d@lidkoping.se",
        subject="x",
        text="x\n",
        html=None,
        message_id="<d@lidkoping.se>",
        date=NOW,
    )
    [result] = send_messages(one, [retry])
    assert not result.ok and not result.permanent and result.code == 451


def test_send_feed_sends_while_producing_and_what_was_handed_over_when_it_fails(smtp, make_config):
    from notifications.render import build_mail
    from notifications.sender import send_feed

    settings = make_config(smtp).settings
    settled: list[tuple[int, bool]] = []

    def mail(i: int):
        return build_mail(
            settings=settings,
            to_name=f"Person {i}",
            to_email=f"p{i}@lidkoping.se",
            subject=f"Brev {i}",
            text="hej\n",
            html="<p>hej</p>\n",
            message_id=f"<{i}@lidkoping.se>",
            date=NOW,
        )

    def produce(submit):
        assert [submit(mail(i)) for i in range(3)] == [0, 1, 2]

    results = send_feed(settings.smtp, produce, on_result=lambda i, r: settled.append((i, r.ok)))
    assert [r.ok for r in results] == [True] * 3 and sorted(settled) == [
        (0, True),
        (1, True),
        (2, True),
    ]
    assert smtp.recorder.connections == 1  # one connection carried the three

    def failing(submit):
        submit(mail(3))
        submit(mail(4))
        raise ValueError("building the next digest failed")

    with pytest.raises(ValueError, match="next digest"):
        send_feed(settings.smtp, failing, on_result=lambda i, r: settled.append((i + 3, r.ok)))
    assert sorted(r.rcpt_tos[0] for r in smtp.recorder.received) == [
        f"p{i}@lidkoping.se" for i in range(5)
    ]
    assert sorted(settled)[3:] == [(3, True), (4, True)]
