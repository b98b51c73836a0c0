"""Many processes with many threads claiming at once never get the same item (SQLite and PostgreSQL).

On PostgreSQL every claim here is the one-statement claim (store/claim_statement.py).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from oversight.review import ReviewConfig, Reviewer, ReviewService
from oversight.settings import PROJECT_DIR
from oversight.store import Store
from oversight.store.tables import AuditEntry
from tests.review_seed import seed

PROCESSES, THREADS, ITEMS = 4, 8, 160


def claimer(url: str, connect_args: dict[str, Any], proc: int, start: Any, out: Any) -> None:
    """One process: THREADS reviewers claim until the queue is empty; reports (reviewer, item) pairs."""
    store = Store(url, connect_args=connect_args, pool_size=THREADS, max_overflow=0) \
        if not url.startswith("sqlite") else Store(url, connect_args=connect_args)
    service = ReviewService(store, ReviewConfig(lease_minutes=60), PROJECT_DIR)
    got: list[tuple[str, int]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(thread: int) -> None:
        me = Reviewer(id=0, name=f"p{proc}t{thread}", role="reviewer")
        start.wait()
        try:
            while (view := service.claim_next(me)) is not None:
                with lock:
                    got.append((me.name, view.id))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.dispose()
    out.put((got, errors))


def test_processes_and_threads_claiming_at_once_never_double_assign(make_store: Callable[[], Store]) -> None:
    store = make_store()
    store.migrate()
    items = seed(store, ITEMS)
    connect_args: dict[str, Any] = {}
    if not store.is_sqlite:
        with store.connect() as conn:
            connect_args = {"options": f"-csearch_path={conn.execute(text('SHOW search_path')).scalar()}"}
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    url = store.url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=claimer, args=(url, connect_args, p, start, out)) for p in range(PROCESSES)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [e for _, errs in results for e in errs]
    assert errors == []
    claims = [pair for got, _ in results for pair in got]
    counts = Counter(item for _, item in claims)
    assert [i for i, n in counts.items() if n > 1] == []  # no item went to two reviewers
    assert sorted(counts) == sorted(items)
    assert len({who for who, _ in claims}) > PROCESSES  # the work really was spread over threads
    with store.session() as session:  # one audit row per claim, naming the reviewer who got the item
        audits = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "claim")))
    assert len(audits) == ITEMS
    assert {(a.actor, a.item_id) for a in audits} == set(claims)
    assert all(a.before_json["claimed_by"] is None and a.after_json["claimed_by"] == a.actor for a in audits)
    holders = {view.id: view.claimed_by for view in ReviewService(store, ReviewConfig(), PROJECT_DIR).list_items(limit=1000)}
    assert holders == {item: who for who, item in claims}


@pytest.mark.parametrize("rounds", [3])
def test_expired_leases_are_reclaimed_once_each(make_store: Callable[[], Store], rounds: int) -> None:
    """Threads racing for items whose leases keep expiring: at every moment one holder per item."""
    import time

    store = make_store()
    store.migrate()
    items = seed(store, 6)
    service = ReviewService(store, ReviewConfig(lease_minutes=0.005), PROJECT_DIR)  # 0.3 s
    taken: list[tuple[int, str, float]] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        me = Reviewer(id=0, name=f"r{n}", role="reviewer")
        end = time.monotonic() + rounds * 0.35
        while time.monotonic() < end:
            view = service.claim_next(me)
            if view is not None:
                with lock:
                    taken.append((view.id, me.name, time.monotonic()))
            time.sleep(0.02)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_item: dict[int, list[Any]] = {}
    with store.session() as session:  # the claim times the leases were computed from
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.action == "claim")):
            per_item.setdefault(entry.item_id, []).append(entry.at)
    assert set(per_item) == set(items) and len(taken) == sum(len(v) for v in per_item.values())
    assert max(len(v) for v in per_item.values()) >= 2  # leases did expire and items came back
    lease = service.config.lease
    for stamps in per_item.values():
        stamps.sort()
        assert all(b - a >= lease for a, b in zip(stamps, stamps[1:]))  # never two live leases at once
