"""Sending mail with aiosmtplib, and the outbox folder used when no SMTP host is set.

``send_messages(smtp_settings, messages)`` sends over a few connections (``concurrency``),
several messages per connection (``messages_per_connection``), retrying temporary failures
(4xx replies, dropped or refused connections, timeouts) with exponential backoff up to
``max_attempts``; a 5xx reply is a permanent failure for that message (or for the refused
recipients). It returns one :class:`SendResult` per message, in order, and never raises for
a delivery problem. A message is an ``EmailMessage`` or a :class:`Mail` (bytes already in
wire form with their envelope, as the digest run builds them; sent with ``sendmail`` as is).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
import re
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import aiosmtplib

from config.schema import SmtpSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    """A message already in its wire form, with its envelope: ``data`` is the whole message
    (headers and body, CRLF line ends, 7-bit ASCII), sent as is with SMTP ``DATA``.
    Built by ``notifications.render.build_mail``. ``message`` is set instead of ``data``
    when the message could not be written directly (e.g. an address that needs SMTPUTF8):
    it is then sent and written like any EmailMessage."""

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    data: bytes | None = None
    message: EmailMessage | None = None

    def as_message(self) -> EmailMessage:
        """The message as an EmailMessage (parsed from ``data``)."""
        if self.message is not None:
            return self.message
        return email.message_from_bytes(self.data or b"", policy=email.policy.default)  # type: ignore[return-value]


AnyMessage = EmailMessage | Mail


class RunDeadline:
    """When a sending run must stop. ``expire()`` (from any thread) ends it: the messages not
    yet sent are settled as temporary failures ("deadline") and the one in flight is
    abandoned. :meth:`after` makes one that expires by itself after ``seconds`` (the
    configured ``digest.run_deadline_seconds``); tests call ``expire()`` at the moment they
    choose, so nothing waits on the clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expired = False
        self._callbacks: list[Callable[[], None]] = []
        self._timer: threading.Timer | None = None

    @classmethod
    def after(cls, seconds: float) -> RunDeadline:
        deadline = cls()
        deadline._timer = threading.Timer(seconds, deadline.expire)
        deadline._timer.daemon = True
        deadline._timer.start()
        return deadline

    @property
    def expired(self) -> bool:
        return self._expired

    def expire(self) -> None:
        with self._lock:
            if self._expired:
                return
            self._expired = True
            callbacks = list(self._callbacks)
        for callback in callbacks:
            with contextlib.suppress(RuntimeError):  # e.g. an event loop that has ended
                callback()

    def on_expire(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the deadline passes (at once if it has)."""
        with self._lock:
            if not self._expired:
                self._callbacks.append(callback)
                return
        with contextlib.suppress(RuntimeError):
            callback()

    def cancel(self) -> None:
        """Stop the timer (the run is over)."""
        if self._timer is not None:
            self._timer.cancel()


DEADLINE_ERROR = "not sent: the run's deadline (digest.run_deadline_seconds) passed"


@dataclass
class SendResult:
    message_id: str
    recipients: list[str]
    ok: bool = False
    permanent: bool = False  # a 5xx: do not retry
    code: int | None = None
    error: str | None = None
    attempts: int = 0
    refused: dict[str, str] = field(default_factory=dict)  # recipient → "550 reason"

    @property
    def status(self) -> str:
        return "sent" if self.ok else ("failed" if self.permanent else "temporary")


def _recipients(message: AnyMessage) -> list[str]:
    from email.utils import getaddresses

    if isinstance(message, Mail):
        return list(message.recipients)
    values = [str(v) for k in ("To", "Cc", "Bcc") for v in message.get_all(k, [])]
    return [addr for _, addr in getaddresses(values) if addr]


def _tls_kwargs(settings: SmtpSettings, tls_context: ssl.SSLContext | None) -> dict:
    kwargs: dict = {}
    if settings.security == "tls":
        kwargs["use_tls"] = True
        kwargs["start_tls"] = False
    elif settings.security == "starttls":
        kwargs["use_tls"] = False
        kwargs["start_tls"] = True
    else:
        kwargs["use_tls"] = False
        kwargs["start_tls"] = False
    if tls_context is not None and settings.security != "none":
        kwargs["tls_context"] = tls_context
    return kwargs


def _is_temporary(exc: BaseException) -> bool:
    return isinstance(
        exc,
        (
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPTimeoutError,
            ConnectionError,
            TimeoutError,
            OSError,
        ),
    )


def _message_id(message: AnyMessage) -> str:
    if isinstance(message, Mail):
        return message.message_id
    return str(message.get("Message-ID", ""))


async def _send_one(client: aiosmtplib.SMTP, message: AnyMessage):
    if isinstance(message, Mail):
        if message.data is None:
            return await client.send_message(message.as_message())
        return await client.sendmail(message.sender, list(message.recipients), message.data)
    return await client.send_message(message)


class _Feed:
    """The messages of one sending run, in order: all known at the start (send_messages) or
    handed over one by one from another thread while earlier ones are sent (send_feed)."""

    def __init__(self) -> None:
        self.messages: list[AnyMessage] = []
        self.results: list[SendResult] = []
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self._lock = threading.Lock()

    def _append(self, message: AnyMessage) -> int:
        result = SendResult(message_id=_message_id(message), recipients=_recipients(message))
        with self._lock:
            self.messages.append(message)
            self.results.append(result)
            return len(self.messages) - 1

    def add(self, message: AnyMessage) -> int:
        """In the event loop's thread."""
        index = self._append(message)
        self.queue.put_nowait(index)
        return index

    def submit(self, message: AnyMessage) -> int:
        """From another thread: queue ``message`` for sending; returns its index. After the
        run has ended (its deadline passed) the message is not sent and never settled."""
        index = self._append(message)
        with contextlib.suppress(RuntimeError):  # the loop has already ended
            self.loop.call_soon_threadsafe(self.queue.put_nowait, index)
        return index

    def close(self) -> None:
        """From another thread: no more messages (the ones submitted are still sent)."""
        self.loop.call_soon_threadsafe(self.closed.set)

    def abandon(self) -> None:
        """From another thread: no more messages, and the ones not yet started are not sent
        (a message being sent is finished and settled)."""

        def drop_waiting() -> None:
            while not self.queue.empty():
                self.queue.get_nowait()
                self.queue.task_done()
            self.closed.set()

        self.loop.call_soon_threadsafe(drop_waiting)


async def send_messages_async(
    smtp_settings: SmtpSettings,
    messages: Sequence[AnyMessage],
    *,
    tls_context: ssl.SSLContext | None = None,
    on_result: Callable[[int, SendResult], None] | None = None,
    deadline: RunDeadline | None = None,
) -> list[SendResult]:
    """The async form of :func:`send_messages`. ``on_result(index, result)`` is called as
    soon as each message is settled (sent, failed permanently, or out of attempts)."""
    if not smtp_settings.host:
        raise ValueError("no SMTP host configured (use write_outbox instead)")
    feed = _Feed()
    for message in messages:
        feed.add(message)
    feed.closed.set()
    return await _send_feed(
        smtp_settings,
        feed,
        workers=max(1, min(smtp_settings.concurrency, len(messages))),
        tls_context=tls_context,
        on_result=on_result,
        deadline=deadline,
    )


async def _send_feed(
    smtp_settings: SmtpSettings,
    feed: _Feed,
    *,
    workers: int,
    tls_context: ssl.SSLContext | None,
    on_result: Callable[[int, SendResult], None] | None,
    deadline: RunDeadline | None = None,
) -> list[SendResult]:
    """Send the feed's messages until it is closed and every message is settled, or until
    ``deadline`` passes: then the message in flight is abandoned (its connection closed)
    and every message not yet settled is settled as a temporary failure."""
    messages, results, queue = feed.messages, feed.results, feed.queue
    delay_tasks: set[asyncio.Task] = set()
    login_failed: list[str] = []  # set once the server refuses our credentials
    settled: set[int] = set()
    expired = asyncio.Event()
    if deadline is not None:
        loop = asyncio.get_running_loop()
        deadline.on_expire(lambda: loop.call_soon_threadsafe(expired.set))

    def settle(index: int) -> None:
        settled.add(index)
        if on_result is not None:
            try:
                on_result(index, results[index])
            except Exception:  # a ledger problem must not stop other sends
                log.exception("on_result failed for message %s", results[index].message_id)

    async def requeue_later(index: int, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(index)
        queue.task_done()  # the original get() of this index

    def requeue(index: int, delay: float) -> None:
        """Send it again after ``delay`` seconds (its task_done is deferred until then)."""
        task = asyncio.create_task(requeue_later(index, delay))
        delay_tasks.add(task)
        task.add_done_callback(delay_tasks.discard)

    def temporary(index: int, code: int | None, error: str) -> bool:
        """Record a temporary failure; True when it was requeued (task_done deferred)."""
        result = results[index]
        result.code, result.error = code, error
        if result.attempts >= smtp_settings.max_attempts:
            settle(index)
            return False
        requeue(index, smtp_settings.retry_backoff_seconds * (2 ** (result.attempts - 1)))
        return True

    async def worker() -> None:
        client: aiosmtplib.SMTP | None = None
        sent_on_connection = 0
        try:
            while True:
                index = await queue.get()
                deferred = False
                result = results[index]
                if login_failed:
                    result.error = login_failed[0]
                    settle(index)
                    queue.task_done()
                    continue
                result.attempts += 1
                # a connection that has carried messages: if the server closed it in the
                # meantime, that is no attempt of this message's
                reused = client is not None and client.is_connected and sent_on_connection > 0
                try:
                    if client is None or not client.is_connected:
                        client = aiosmtplib.SMTP(
                            hostname=smtp_settings.host,
                            port=smtp_settings.port,
                            timeout=smtp_settings.timeout_seconds,
                            **_tls_kwargs(smtp_settings, tls_context),
                        )
                        await client.connect()
                        if smtp_settings.username:
                            await client.login(smtp_settings.username, smtp_settings.password or "")
                        sent_on_connection = 0
                    refused, _reply = await _send_one(client, messages[index])
                    sent_on_connection += 1
                    result.ok = True
                    result.code, result.error = None, None
                    result.refused = {k: f"{v.code} {v.message}" for k, v in refused.items()}
                    settle(index)
                    if sent_on_connection >= smtp_settings.messages_per_connection:
                        await _quit(client)
                        client = None
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    codes = [r.code for r in exc.recipients]
                    text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
                    result.refused = {r.recipient: f"{r.code} {r.message}" for r in exc.recipients}
                    if codes and all(c >= 500 for c in codes):
                        result.permanent, result.code, result.error = True, max(codes), text
                        settle(index)
                    else:
                        deferred = temporary(index, min(codes) if codes else None, text)
                    client = await _reset_or_drop(client)
                except aiosmtplib.SMTPAuthenticationError as exc:
                    # A wrong password is a configuration problem, not the message's: leave it
                    # (and every message after it) unsent but retryable, and stop trying.
                    login_failed.append(f"SMTP authentication failed: {exc.code} {exc.message}")
                    result.code, result.error = exc.code, login_failed[0]
                    settle(index)
                    client = await _drop(client)
                except aiosmtplib.SMTPResponseException as exc:
                    error = f"{exc.code} {exc.message}"
                    if 500 <= exc.code < 600:
                        result.permanent, result.code, result.error = True, exc.code, error
                        settle(index)
                        client = await _reset_or_drop(client)
                    else:
                        deferred = temporary(index, exc.code, error)
                        client = await _reset_or_drop(client)
                except Exception as exc:  # classify, never raise out of a worker
                    error = f"{exc.__class__.__name__}: {exc}"
                    client = await _drop(client)
                    if reused and isinstance(
                        exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError)
                    ):
                        # The server dropped a connection it had used (after its own number
                        # of messages): send again on a new one at once, without using up
                        # an attempt. Bounded: every such retry follows a message sent.
                        result.attempts -= 1
                        result.code, result.error = None, error
                        requeue(index, 0)
                        deferred = True
                    elif _is_temporary(exc):
                        deferred = temporary(index, None, error)
                    else:
                        result.permanent, result.error = True, error
                        settle(index)
                finally:
                    if not deferred:
                        queue.task_done()
        finally:
            if client is not None:
                if expired.is_set():  # abandoned: a silent server would not answer QUIT
                    client.close()
                else:
                    await _quit(client)

    async def all_settled() -> None:
        await feed.closed.wait()
        await queue.join()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    done = asyncio.create_task(all_settled())
    stop = asyncio.create_task(expired.wait())
    try:
        await asyncio.wait({done, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        expired_now = not done.done()
        if expired_now:
            expired.set()
        for task in (done, stop, *tasks):
            task.cancel()
        await asyncio.gather(done, stop, *tasks, return_exceptions=True)
        for task in list(delay_tasks):
            task.cancel()
    if expired_now:
        for index, result in enumerate(list(results)):
            if index not in settled:
                result.ok, result.permanent, result.error = False, False, DEADLINE_ERROR
                settle(index)
    return results


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit()
    except Exception:  # the connection is being thrown away anyway
        client.close()


async def _drop(client: aiosmtplib.SMTP | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()
    return None


async def _reset_or_drop(client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP | None:
    """After a refused transaction: RSET and keep the connection, or drop it."""
    if client is None or not client.is_connected:
        return None
    try:
        await client.rset()
        return client
    except Exception:
        return await _drop(client)


def send_messages(
    smtp_settings: SmtpSettings,
    messages: Sequence[AnyMessage],
    *,
    tls_context: ssl.SSLContext | None = None,
    on_result: Callable[[int, SendResult], None] | None = None,
) -> list[SendResult]:
    """Send ``messages`` (each EmailMessage or Mail carries its own From/To/Message-ID); one
    SendResult per message, in order. Works whether or not an event loop is running in
    this thread (it then runs in a helper thread)."""
    if not messages:
        return []
    coro_factory = lambda: send_messages_async(  # noqa: E731
        smtp_settings, messages, tls_context=tls_context, on_result=on_result
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(coro_factory())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="bevaka-smtp")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def send_feed(
    smtp_settings: SmtpSettings,
    produce: Callable[[Callable[[AnyMessage], int]], None],
    *,
    tls_context: ssl.SSLContext | None = None,
    on_result: Callable[[int, SendResult], None] | None = None,
    deadline: RunDeadline | None = None,
) -> list[SendResult]:
    """Send messages while they are being made: ``produce(submit)`` runs in this thread and
    calls ``submit(message) -> index`` for each message, which is sent at once by a helper
    thread's event loop (as :func:`send_messages` would, ``on_result`` called there) while
    ``produce`` makes the next. Returns one SendResult per submitted message, in order,
    once ``produce`` has returned (or raised: then after the submitted messages are
    settled, the exception is raised again) and every submitted message is settled."""
    if not smtp_settings.host:
        raise ValueError("no SMTP host configured (use write_outbox instead)")
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> list[SendResult]:
        feed = _Feed()
        box["feed"] = feed
        started.set()
        return await _send_feed(
            smtp_settings,
            feed,
            workers=max(1, smtp_settings.concurrency),
            tls_context=tls_context,
            on_result=on_result,
            deadline=deadline,
        )

    def run() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc
        finally:
            started.set()

    thread = threading.Thread(target=run, name="bevaka-smtp")
    thread.start()
    started.wait()
    feed: _Feed | None = box.get("feed")
    try:
        if feed is not None:
            produce(feed.submit)
    except Exception:
        raise  # the messages already handed over are still sent (see finally)
    except BaseException:  # interrupted: send no more than the message in flight
        if feed is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                feed.abandon()
        raise
    finally:
        if feed is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                feed.close()
        thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def outbox_name(message: AnyMessage) -> str:
    """A safe file stem: ``2026-W48_anna.berg_at_lidkoping.se_5f2c…``."""
    message_id = _message_id(message).strip("<>")
    to = ",".join(_recipients(message)).replace("@", "_at_")
    stem = f"{to}_{message_id.split('@')[0]}"
    return _UNSAFE_NAME.sub("_", stem)[:150].strip("._") or "message"


def write_outbox(directory: str | Path, message: AnyMessage, *, stem: str | None = None) -> Path:
    """Write ``<stem>.eml`` (the whole message) and, when it has an HTML part, ``<stem>.html``
    into ``directory`` (created if needed). Returns the .eml path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    name = _UNSAFE_NAME.sub("_", stem)[:150] if stem else outbox_name(message)
    eml = folder / f"{name}.eml"
    if isinstance(message, Mail) and message.data is not None:
        eml.write_bytes(message.data)
    else:
        if isinstance(message, Mail):
            message = message.as_message()
        eml.write_bytes(message.as_bytes(policy=SMTP_POLICY))
    if isinstance(message, Mail):
        message = message.as_message()
    html_part = message.get_body(preferencelist=("html",))
    if html_part is not None:
        html = html_part.get_content().replace("\r\n", "\n")  # parsed from wire form
        (folder / f"{name}.html").write_text(html, encoding="utf-8")
    return eml
