"""The sign-up mail: a Swedish text + HTML message carrying the signed link, sent over SMTP
(notifications.sender) or written to the outbox folder when no SMTP host is configured."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from notifications.render import build_message, sender_domain
from notifications.sender import send_messages_async, write_outbox

if TYPE_CHECKING:
    from web.deps import WebState

log = logging.getLogger("bevaka.web")
SUBJECT = "Din länk till Bevaka"
# A person waits for the page: retry a temporary SMTP failure once, not four times.
WEB_SMTP_ATTEMPTS = 2


class MailError(RuntimeError):
    """The sign-up mail could not be delivered (or written to the outbox)."""


def signup_message(st: WebState, *, to: str, link: str) -> EmailMessage:
    env = st.templates.env
    context = {
        "link": link,
        "hours": st.settings.web.signup_link_max_age_hours,
        "email": to,
        "base_url": st.base_url,
    }
    return build_message(
        settings=st.settings,
        to_name=None,
        to_email=to,
        subject=SUBJECT,
        text=env.get_template("mail/signup.txt").render(context),
        html=env.get_template("mail/signup.html").render(context),
        message_id=make_msgid(idstring="bevaka-signup", domain=sender_domain(st.settings)),
        date=st.now(),
    )


@dataclass(frozen=True)
class Delivered:
    """How a mail left: ``sent`` over SMTP, or ``outbox`` (no SMTP host: written to a file)."""

    kind: str
    path: Path | None = None


def outbox_dir(st: WebState) -> Path:
    """``digest.outbox_dir``; a relative path is taken from the installation's folder (the
    config folder's parent, where ``var/`` lives), not from the process's working directory."""
    path = Path(st.settings.digest.outbox_dir)
    return path if path.is_absolute() else st.config.directory.parent / path


async def deliver(st: WebState, message: EmailMessage) -> Delivered:
    """Send ``message`` over SMTP, or write it to the outbox folder when no SMTP host is set
    (logged with the file's path); raises MailError when neither worked."""
    smtp = st.settings.smtp
    if not smtp.host:
        try:
            path = await asyncio.to_thread(write_outbox, outbox_dir(st), message)
        except OSError as exc:
            raise MailError(f"cannot write the outbox: {exc}") from exc
        log.warning(
            "no SMTP host configured: the mail to %s was written to %s", message["To"], path
        )
        return Delivered("outbox", Path(path))
    settings = smtp.model_copy(update={"max_attempts": min(smtp.max_attempts, WEB_SMTP_ATTEMPTS)})
    results = await send_messages_async(settings, [message])
    if not results or not results[0].ok:
        error = results[0].error if results else "no result"
        raise MailError(f"mail not sent: {error}")
    return Delivered("sent")


async def send_signup_link(st: WebState, *, to: str, link: str) -> Delivered:
    """Mail the sign-up link to ``to``; raises MailError when it could not be sent."""
    return await deliver(st, signup_message(st, to=to, link=link))


def share_message(
    st: WebState,
    *,
    to: str,
    sender_name: str,
    sender_email: str,
    entry,
    call_url: str,
    note: str,
) -> EmailMessage:
    """A colleague's forward of one call: its facts, the sender's note and the links."""
    env = st.templates.env
    context = {
        "entry": entry,
        "sender_name": sender_name,
        "sender_email": sender_email,
        "call_url": call_url,
        "note": note,
        "base_url": st.base_url,
    }
    return build_message(
        settings=st.settings,
        to_name=None,
        to_email=to,
        subject=f"{sender_name} tipsar om en utlysning: {entry.title}",
        text=env.get_template("mail/share.txt").render(context),
        html=env.get_template("mail/share.html").render(context),
        message_id=make_msgid(idstring="bevaka-share", domain=sender_domain(st.settings)),
        date=st.now(),
    )
