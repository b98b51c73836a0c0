"""Leases: one holder at a time, on SQLite and PostgreSQL, expiring when a holder dies."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from oversight.store import Store
from oversight.store.leases import LeaseHeld, acquire, get_lease, hold, release, renew, try_acquire


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    made = make_store()
    made.migrate()
    return made


def test_only_one_holder_and_release_frees(store: Store) -> None:
    assert try_acquire(store, "run:r1", "a") is not None
    assert try_acquire(store, "run:r1", "b") is None
    assert try_acquire(store, "run:r1", "a") is not None  # the holder may take it again
    with pytest.raises(LeaseHeld, match="held by a until"):
        acquire(store, "run:r1", "b")
    assert not release(store, "run:r1", "b")  # only the holder releases
    assert release(store, "run:r1", "a")
    assert try_acquire(store, "run:r1", "b") is not None


def test_expired_lease_can_be_taken_and_old_holder_cannot_renew(store: Store) -> None:
    assert try_acquire(store, "thread:t", "dead", ttl_s=0.05) is not None
    time.sleep(0.1)
    assert try_acquire(store, "thread:t", "alive") is not None
    assert not renew(store, "thread:t", "dead")
    assert get_lease(store, "thread:t").holder == "alive"  # type: ignore[union-attr]


def test_racing_threads_never_share_a_lease(store: Store) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        if try_acquire(store, "retrain", f"w{n}") is not None:
            winners.append(f"w{n}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_hold_renews_in_background_and_releases(store: Store) -> None:
    with hold(store, "job", "me", ttl_s=0.3) as info:
        time.sleep(0.5)  # longer than the ttl: the renewer must have pushed it out
        assert try_acquire(store, "job", "other") is None
        assert info.holder == "me"
    assert get_lease(store, "job") is None


def test_bad_name_is_a_user_error(store: Store) -> None:
    with pytest.raises(Exception, match="lease name must be"):
        try_acquire(store, "x" * 300, "me")
