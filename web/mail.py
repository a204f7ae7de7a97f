"""The sign-up mail: a Swedish text + HTML message carrying the signed link, sent over SMTP
(notifications.sender) or written to the outbox folder when no SMTP host is configured."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING

from notifications.render import build_message, sender_domain
from notifications.sender import send_messages_async, write_outbox

if TYPE_CHECKING:
    from web.app import WebState

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


async def send_signup_link(st: WebState, *, to: str, link: str) -> None:
    """Mail the sign-up link to ``to``; raises MailError when it could not be sent."""
    message = signup_message(st, to=to, link=link)
    smtp = st.settings.smtp
    if not smtp.host:
        try:
            await asyncio.to_thread(write_outbox, st.settings.digest.outbox_dir, message)
        except OSError as exc:
            raise MailError(f"cannot write the outbox: {exc}") from exc
        return
    settings = smtp.model_copy(update={"max_attempts": min(smtp.max_attempts, WEB_SMTP_ATTEMPTS)})
    results = await send_messages_async(settings, [message])
    if not results or not results[0].ok:
        error = results[0].error if results else "no result"
        raise MailError(f"sign-up mail not sent: {error}")
