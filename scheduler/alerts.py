"""Source-health alerts to the coordinator: one mail when a source starts failing (N failed
runs in a row, ``health.failure_threshold``) or turns empty, one more when it recovers —
never one per run. The ``Alert`` table remembers the open episode."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from config.loader import Config
from scheduler.logs import event
from storage.db import session_scope
from storage.models import Alert
from storage.repo import SourceHealth, source_health

log = logging.getLogger("bevaka.alerts")

OPEN_STATES = ("failing", "empty")


@dataclass(frozen=True)
class Transition:
    source: str
    name: str
    state: str  # failing | empty | recovered
    health: SourceHealth


def _open_state(session: Session, source: str) -> str | None:
    last = session.exec(
        select(Alert)
        .where(Alert.source == source)
        .order_by(col(Alert.created_at).desc(), col(Alert.id).desc())
    ).first()
    return last.state if last and last.state in OPEN_STATES else None


def health_transitions(*, session: Session, config: Config) -> list[Transition]:
    """The alerts due now, from the latest crawl runs and the alerts already sent."""
    threshold = config.settings.health.failure_threshold
    out: list[Transition] = []
    for source in config.sources.sources:
        if not source.enabled:
            continue
        health = source_health(session=session, source=source.key)
        if health.last_run is None:
            continue
        open_state = _open_state(session, source.key)
        outcome = health.last_run.outcome
        if (
            outcome == "failed"
            and health.consecutive_failures >= threshold
            and open_state != "failing"
        ):
            out.append(Transition(source.key, source.name, "failing", health))
        elif outcome == "empty" and open_state != "empty":
            out.append(Transition(source.key, source.name, "empty", health))
        elif outcome == "ok" and open_state:
            out.append(Transition(source.key, source.name, "recovered", health))
    return out


def _local(value: datetime | None, config: Config) -> str:
    from notifications.formatting import format_deadline

    return format_deadline(value, config.settings.tz) if value else "aldrig"


def build_alert(transition: Transition, *, config: Config, now: datetime) -> EmailMessage:
    from notifications.formatting import header_safe

    h = transition.health
    name = header_safe(transition.name)
    if transition.state == "failing":
        subject = f"Bevaka: källan {name} fungerar inte ({h.consecutive_failures} misslyckade körningar i rad)"
        lines = [
            f"Källan {transition.name} ({transition.source}) har misslyckats {h.consecutive_failures} gånger i rad.",
            f"Senaste fel: {h.last_run.error or 'okänt'}",
            f"Senast lyckade hämtning: {_local(h.last_success, config)}",
            "",
            "Kontrollera adressen och selektorerna med: bevaka sources check " + transition.source,
        ]
    elif transition.state == "empty":
        subject = f"Bevaka: källan {name} gav inga utlysningar"
        lines = [
            f"Källan {transition.name} ({transition.source}) svarade men gav inga utlysningar, fast den brukar göra det.",
            "Det kan betyda att webbplatsen har bytt utseende.",
            f"Senast lyckade hämtning: {_local(h.last_success, config)}",
            "",
            "Kontrollera selektorerna med: bevaka sources check " + transition.source,
        ]
    else:
        subject = f"Bevaka: källan {name} fungerar igen"
        lines = [
            f"Källan {transition.name} ({transition.source}) hämtades utan fel igen {_local(h.last_run.finished_at, config)}."
        ]
    message = EmailMessage()
    message["Subject"] = header_safe(subject)
    message["From"] = config.settings.smtp.sender
    message["To"] = config.settings.digest.coordinator_email
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="bevaka.local")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(lines) + "\n\n-- \nBevaka\n")
    return message


def deliver(config: Config, messages: list[EmailMessage]) -> list[bool]:
    """Send over SMTP when a host is configured, else write to the outbox; True per delivered."""
    from pathlib import Path

    from notifications.sender import send_messages, write_outbox

    if not messages:
        return []
    if config.settings.smtp.host:
        results = send_messages(config.settings.smtp, messages)
        return [r.ok for r in results]
    for message in messages:
        write_outbox(Path(config.settings.digest.outbox_dir), message)
    return [True] * len(messages)


def send_health_alerts(*, config: Config, engine: Engine, now: datetime) -> list[Transition]:
    """Send the alerts due now; each is recorded only once it has gone out."""
    with session_scope(engine) as session:
        transitions = health_transitions(session=session, config=config)
    sent: list[Transition] = []
    for transition in transitions:
        message = build_alert(transition, config=config, now=now)
        (ok,) = deliver(config, [message])
        if not ok:
            event(
                log, "alert.failed", logging.ERROR, source=transition.source, state=transition.state
            )
            continue
        with session_scope(engine) as session:
            session.add(
                Alert(
                    source=transition.source,
                    state=transition.state,
                    message_id=message["Message-ID"],
                    created_at=now,
                )
            )
        event(log, "alert.sent", source=transition.source, state=transition.state)
        sent.append(transition)
    return sent
