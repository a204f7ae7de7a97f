"""Helpers for the web tests (imported by the test modules and conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlmodel import Session

from config.loader import Config, load_config
from storage.models import Tag
from storage.records import CallData
from storage.repo import upsert_call

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
PUBLIC_URL = "https://bevaka.example.se"

NEEDS_YAML = """\
departments:
  - key: utbildning
    name: Utbildningsförvaltningen
    needs:
      - name: Skola
        any: [skola, school]
  - key: samhallsbyggnad
    name: Samhällsbyggnadsförvaltningen
    needs:
      - name: Bygg
        any: [bygg*]
topics:
  - key: klimat
    name: Klimat och miljö
    needs:
      - name: Klimat
        any: [klimat*, climate]
  - key: digitalisering
    name: Digitalisering
    needs:
      - name: Digitalt
        any: [digital*]
  - key: integration
    name: Integration
    needs:
      - name: Integration
        any: [integration]
"""


class Clock:
    """A settable "now" for the app."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: Any) -> None:
        self.now += timedelta(**kw)


def make_config(config_dir: Path, db_url: str, tmp_path: Path, **web: Any) -> Config:
    (config_dir / "needs.yaml").write_text(NEEDS_YAML, encoding="utf-8")
    # the shipped default is Lidköping's own domain; the tests also sign up Skara and Vara addresses
    web.setdefault("allowed_domains", ["lidkoping.se", "skara.se", "vara.se"])
    base = load_config(config_dir)
    settings = base.settings.with_environment(
        {"BEVAKA_SECRET_KEY": SECRET, "BEVAKA_PUBLIC_URL": PUBLIC_URL, "DATABASE_URL": db_url}
    )
    settings = settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"host": None}),
            "digest": settings.digest.model_copy(update={"outbox_dir": str(tmp_path / "outbox")}),
            "web": settings.web.model_copy(update=web),
        }
    )
    return Config(base.directory, settings, base.sources, base.needs)


def add_call(
    session: Session,
    *,
    external_id: str,
    title: str,
    deadlines: list[datetime] = (),
    opens_at: datetime | None = None,
    tags: dict[str, str] | None = None,
    now: datetime = NOW,
    **fields: Any,
):
    """Store a call through the real repository and tag it (key → kind)."""
    data = CallData(
        source=fields.pop("source", "eu_portal"),
        external_id=external_id,
        url=fields.pop("url", f"https://ec.europa.eu/topic/{external_id}"),
        title=title,
        deadlines=list(deadlines),
        opens_at=opens_at,
        **fields,
    )
    call = upsert_call(session=session, data=data, now=now).call
    for key, kind in (tags or {}).items():
        session.add(
            Tag(
                call_id=call.id,
                key=key,
                kind=kind,
                score=4.5,
                reasons=[
                    {
                        "need": "Klimat",
                        "term": "klimat*",
                        "field": "title",
                        "match": "Klimatanpassning",
                        "snippet": title[:60],
                        "weight": 3.0,
                    }
                ],
                created_at=now,
            )
        )
    session.commit()
    return call


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@dataclass
class SmtpSink:
    """Collects every message the real aiosmtpd server receives."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def mail_link(message: EmailMessage) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S+/prenumeration/\S+", text)
    assert match, text
    return match.group(0)


def outbox_messages(folder: Path) -> list[EmailMessage]:
    if not folder.exists():
        return []
    return [
        message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(folder.glob("*.eml"))
    ]


def make_subscriber(session: Session, config, email="anna.berg@lidkoping.se", **kw):
    """A subscriber added through the real repository (committed)."""
    from notifications.subscribers import add_subscriber

    sub = add_subscriber(
        session=session,
        needs=config.needs,
        email=email,
        name=kw.pop("name", "Anna Berg"),
        now=kw.pop("now", datetime(2027, 2, 1, tzinfo=UTC)),
        **kw,
    )
    session.commit()
    return sub
