"""Structured logging: one line per event, ``key=value`` pairs, secrets never printed.

    2026-11-30T06:00:01+0000 INFO bevaka.scheduler event=job.start job=crawl run=7f3a...

Every record passes through :class:`RedactSecrets`, which replaces the SMTP password, the
signing key and any other registered secret with ``***`` wherever it appears.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

_SECRETS: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Values that must never reach a log line (ignored when empty or very short)."""
    for value in values:
        if value and len(value) >= 4:
            _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = record.getMessage()
            record.msg = redact(message)
            record.args = ()
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one structured event: ``event=NAME key=value ...``."""
    parts = [f"event={name}"] + [f"{k}={_quote(v)}" for k, v in fields.items() if v is not None]
    logger.log(level, " ".join(parts))


def setup_logging(level: str = "INFO", stream=None) -> None:
    """Configure the root logger once: one line per record, UTC timestamps, secrets redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"
    )
    import time

    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler is chatty at INFO about every job; keep its warnings.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
