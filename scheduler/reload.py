"""Config reload for ``bevaka run``: on SIGHUP and before each job, the scheduler re-reads
settings.yaml, sources.yaml and needs.yaml when they changed. A file that does not validate
is refused: the scheduler keeps the last good configuration, logs every problem and mails
the coordinator once per broken version (docs/operations.md, "Changing the configuration").
Environment variables (secrets, DATABASE_URL) are read at start only.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from config.loader import FILES, Config, ConfigError, load_config, second_opinion_file
from scheduler.logs import event

log = logging.getLogger("bevaka.scheduler")


def fingerprint(directory: Path) -> str:
    """A hash of the three config files' contents (a missing file counts as empty), and of
    the second opinion's model file when needs.yaml switches it on (a retrained model)."""
    digest = hashlib.blake2b(digest_size=16)
    paths = [directory / name for name in FILES]
    model = second_opinion_file(directory)
    if model is not None:
        paths.append(model)
    for path in paths:
        digest.update(path.name.encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\0missing")
    return digest.hexdigest()


def refusal_alert(config: Config, problems: list[str], now: datetime) -> EmailMessage:
    """The coordinator's mail about a refused configuration (Swedish, like every alert)."""
    message = EmailMessage()
    message["Subject"] = "Bevaka: den ändrade konfigurationen avvisades"
    message["From"] = config.settings.smtp.sender
    message["To"] = config.settings.digest.coordinator_email
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="bevaka.local")
    message["Auto-Submitted"] = "auto-generated"
    lines = [
        f"Filerna i {config.directory} ändrades men innehåller fel, så Bevaka fortsätter med "
        "den senaste fungerande konfigurationen.",
        "",
        *problems,
        "",
        "Rätta felen (kontrollera med: bevaka config check); ändringen läses in före nästa körning.",
    ]
    message.set_content("\n".join(lines) + "\n\n-- \nBevaka\n")
    return message


class ConfigWatcher:
    """The configuration in force, re-read when its files change.

    ``alert(config, problems, now)`` is called once per refused version of the files (by
    default it mails the coordinator with the last good configuration's settings)."""

    def __init__(
        self,
        config: Config,
        *,
        alert: Callable[[Config, list[str], datetime], None] | None = None,
    ) -> None:
        self.config = config
        self.directory = Path(config.directory)
        self._seen = fingerprint(self.directory)
        self._alert = alert or _mail_coordinator
        self._lock = threading.Lock()

    def check(self, reason: str, now: datetime) -> Config | None:
        """The new configuration when the files changed and validate (it is then in force),
        else None (unchanged, or refused: the last good one stays)."""
        with self._lock:
            current = fingerprint(self.directory)
            if current == self._seen:
                return None
            self._seen = current
            try:
                fresh = load_config(self.directory)
            except ConfigError as exc:
                problems = [str(p) for p in exc.problems]
                event(
                    log,
                    "config.refused",
                    logging.ERROR,
                    reason=reason,
                    problems=len(problems),
                    first=problems[0] if problems else "",
                )
                try:
                    self._alert(self.config, problems, now)
                except Exception as alert_error:  # noqa: BLE001 - the service goes on
                    event(log, "config.alert_failed", logging.ERROR, error=str(alert_error))
                return None
            self.config = fresh
            event(log, "config.reloaded", reason=reason, directory=str(self.directory))
            return fresh


def _mail_coordinator(config: Config, problems: list[str], now: datetime) -> None:
    from scheduler.alerts import deliver

    deliver(config, [refusal_alert(config, problems, now)])
