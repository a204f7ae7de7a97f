"""One scheduler per database: a lease row that the holder renews and a crashed holder
cannot keep (it expires after ``schedule.lock_lease_seconds``)."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.models import Lease

SCHEDULER_LOCK = "scheduler"


class LockHeld(Exception):
    """Another live process holds the lease."""

    def __init__(self, lease: Lease):
        self.lease = lease
        super().__init__(
            f"another Bevaka scheduler is running ({lease.owner}); its lease runs until "
            f"{lease.expires_at:%Y-%m-%d %H:%M:%S} UTC"
        )


def owner_id() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


_HOLDER = re.compile(r"^(?P<host>\S+) pid (?P<pid>\d+)(?: |$)")


def holder_is_gone(owner: str | None) -> bool:
    """True when ``owner`` (as made by :func:`owner_id`, perhaps with more after it) names a
    process of this host that does not exist any more."""
    import psutil

    match = _HOLDER.match(owner or "")
    if match is None or match["host"] != socket.gethostname():
        return False
    try:
        return psutil.Process(int(match["pid"])).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


@dataclass
class LeaseLock:
    engine: Engine
    name: str
    owner: str
    lease_seconds: int

    def acquire(self, now: datetime) -> None:
        """Take the lease, or raise LockHeld naming the holder."""
        expires = now + timedelta(seconds=self.lease_seconds)
        with Session(self.engine) as session:
            session.add(
                Lease(name=self.name, owner=self.owner, acquired_at=now, expires_at=expires)
            )
            try:
                session.commit()
                return
            except IntegrityError:
                session.rollback()
            # Someone has (or had) it: take it over only if it expired, is ours, or is held
            # by a process of this host that no longer exists (killed: no need to wait).
            current = session.get(Lease, self.name)
            dead = current.owner if current is not None and holder_is_gone(current.owner) else None
            taken = session.execute(
                update(Lease)
                .where(Lease.name == self.name)
                .where(
                    (Lease.expires_at < now) | (Lease.owner == self.owner) | (Lease.owner == dead)
                )
                .values(owner=self.owner, acquired_at=now, expires_at=expires)
            )
            session.commit()
            if taken.rowcount == 1:
                return
            holder = session.get(Lease, self.name)
            if holder is None:  # released between our two statements: try once more
                return self.acquire(now)
            raise LockHeld(holder)

    def renew(self, now: datetime) -> bool:
        """Extend the lease; False when it was lost (another process took it over)."""
        with Session(self.engine) as session:
            result = session.execute(
                update(Lease)
                .where(Lease.name == self.name, Lease.owner == self.owner)
                .values(expires_at=now + timedelta(seconds=self.lease_seconds))
            )
            session.commit()
            return result.rowcount == 1

    def release(self) -> None:
        with Session(self.engine) as session:
            session.execute(delete(Lease).where(Lease.name == self.name, Lease.owner == self.owner))
            session.commit()


@contextmanager
def holding(lock: LeaseLock, *, now: datetime | None = None) -> Iterator[None]:
    """Hold ``lock`` for the duration of the block, renewing it every third of its lease
    from a helper thread; raises LockHeld (before the block) when another holder has it."""
    lock.acquire(now or datetime.now(UTC))
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(max(1.0, lock.lease_seconds / 3)):
            lock.renew(datetime.now(UTC))

    renewer = threading.Thread(target=renew, name=f"lease-{lock.name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        lock.release()
