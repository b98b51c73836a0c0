"""Leases: a named claim that one holder keeps for a while, in the store.

One module serves every "only one at a time" rule of the project: one process
per run id, one worker per graph thread (a rerun and a reviewer's resume never
continue the same thread at once), one retraining job at a time. Because the
claim lives in the store it holds across processes on SQLite and across
machines on PostgreSQL.

A lease expires unless renewed, so a holder that was killed (kill -9, a lost
machine) blocks nobody for longer than its time to live. `hold` renews in a
background thread while the work runs. Expiry is judged by the acquiring
process's clock (UTC); keep machine clocks in sync (NTP) when sharing a store.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from oversight.errors import OversightError
from oversight.store.db import Store
from oversight.store.tables import Lease, utcnow

DEFAULT_TTL_S = 120.0
# Renew well before expiry: a renewal that is a little late must still land in time.
RENEW_FRACTION = 1 / 3
NAME_LIMIT = 255


class LeaseHeld(OversightError):
    """Someone else holds the lease; the message says who and until when."""

    def __init__(self, name: str, holder: str, expires_at: datetime, what: str | None = None) -> None:
        subject = what or f"lease {name!r}"
        super().__init__(f"{subject} is held by {holder} until {expires_at:%Y-%m-%d %H:%M:%S} UTC")
        self.name, self.holder, self.expires_at = name, holder, expires_at


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime

    @property
    def expired(self) -> bool:
        return self.expires_at <= utcnow()


def default_holder() -> str:
    """host:pid:random, so a holder names the process that took the lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _check_name(name: str) -> None:
    if not name or len(name) > NAME_LIMIT:
        raise OversightError(f"lease name must be 1-{NAME_LIMIT} characters (received {len(name)})")


def try_acquire(store: Store, name: str, holder: str, ttl_s: float = DEFAULT_TTL_S) -> LeaseInfo | None:
    """Take the lease if it is free, expired or already ours; None if someone else holds it.

    The take is one conditional UPDATE (or an INSERT for a new name), so of two
    processes racing for a free lease exactly one wins on SQLite and PostgreSQL.
    """
    _check_name(name)
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    with store.session() as session:
        taken = session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.expires_at <= now) | (Lease.holder == holder))
            .values(holder=holder, acquired_at=now, expires_at=expires)).rowcount
        if taken:
            return LeaseInfo(name, holder, now, expires)
    try:
        with store.session() as session:
            session.execute(insert(Lease).values(name=name, holder=holder, acquired_at=now,
                                                 expires_at=expires))
        return LeaseInfo(name, holder, now, expires)
    except IntegrityError:
        return None  # it exists and is someone else's (the UPDATE above found it live)


def acquire(store: Store, name: str, holder: str, ttl_s: float = DEFAULT_TTL_S,
            what: str | None = None) -> LeaseInfo:
    """Take the lease or raise `LeaseHeld` naming the current holder."""
    got = try_acquire(store, name, holder, ttl_s)
    if got is not None:
        return got
    current = get_lease(store, name)
    if current is None:  # released between our attempts: one more try
        got = try_acquire(store, name, holder, ttl_s)
        if got is not None:
            return got
        current = get_lease(store, name)
    assert current is not None
    raise LeaseHeld(name, current.holder, current.expires_at, what)


def renew(store: Store, name: str, holder: str, ttl_s: float = DEFAULT_TTL_S) -> bool:
    """Push the expiry out; False if the lease is no longer ours (it expired and was taken)."""
    with store.session() as session:
        return bool(session.execute(
            update(Lease).where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=utcnow() + timedelta(seconds=ttl_s))).rowcount)


def release(store: Store, name: str, holder: str) -> bool:
    """Give the lease up; only its holder can. True if it was ours."""
    with store.session() as session:
        return bool(session.execute(
            delete(Lease).where(Lease.name == name, Lease.holder == holder)).rowcount)


def get_lease(store: Store, name: str) -> LeaseInfo | None:
    with store.session() as session:
        row = session.get(Lease, name)
        return None if row is None else LeaseInfo(row.name, row.holder, row.acquired_at, row.expires_at)


def live_leases(store: Store, prefix: str = "") -> list[LeaseInfo]:
    """Unexpired leases whose name starts with `prefix`, for status pages."""
    with store.session() as session:
        rows = session.scalars(select(Lease).where(
            Lease.name.startswith(prefix), Lease.expires_at > utcnow()).order_by(Lease.name))
        return [LeaseInfo(r.name, r.holder, r.acquired_at, r.expires_at) for r in rows]


@contextmanager
def hold(store: Store, name: str, holder: str | None = None, ttl_s: float = DEFAULT_TTL_S,
         what: str | None = None) -> Iterator[LeaseInfo]:
    """Hold a lease for the duration of a block, renewing it in the background.

    Raises `LeaseHeld` at once if another holder has it. The lease is released
    when the block ends, also on an exception; a killed process leaves it to expire.
    """
    holder = holder or default_holder()
    info = acquire(store, name, holder, ttl_s, what)
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(ttl_s * RENEW_FRACTION):
            try:
                if not renew(store, name, holder, ttl_s):
                    return
            except Exception:  # noqa: BLE001 - a failed renewal is retried next tick
                continue

    renewer = threading.Thread(target=keep_alive, name=f"lease:{name}", daemon=True)
    renewer.start()
    try:
        yield info
    finally:
        stop.set()
        renewer.join(timeout=5)
        release(store, name, holder)
