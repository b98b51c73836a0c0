"""Benchmark: 50 simulated reviewers claiming from one review queue on PostgreSQL at once.

A fresh schema on the local PostgreSQL gets a pre-filled queue; reviewers (threads,
spread over a few processes so Python's GIL is not the bottleneck) claim for a bounded
time, back to back or with a think time between actions. Every claim writes the item's
lease (claimed_by, lease_expires_at) and its audit row in one transaction; afterwards
both are counted against the claims the reviewers saw, and any item handed to two
reviewers is a double assignment (must be 0). `--path service` claims through
ReviewService.claim_next (what a click on the page does: throttled deadline sweep,
claim, item view); `--path store` times the claim alone (store.claims.claim_next: on
PostgreSQL one statement that picks, leases and audits in a single round trip).

    .venv/bin/python scripts/bench_review.py                      # back to back, 15 s
    .venv/bin/python scripts/bench_review.py --think-ms 100       # each reviewer thinks 100 ms
    .venv/bin/python scripts/bench_review.py --path store --explain
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def open_store(url: str, schema: str, pool: int) -> Any:
    from oversight.store import Store

    return Store(url, connect_args={"options": f"-csearch_path={schema}"}, pool_size=pool, max_overflow=4)


def prefill(url: str, schema: str, items: int, reviewers: int) -> None:
    """Schema, migrations, one run, the reviewer accounts and `items` pending items (bulk insert)."""
    from sqlalchemy import create_engine, insert, text
    from tqdm import tqdm

    from oversight.store import ensure_run
    from oversight.store.tables import ReviewItem, utcnow
    from oversight.store.reviewers import create_reviewer

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    store = open_store(url, schema, 4)
    store.migrate()
    ensure_run(store, "bench", graph_name="default", graph_hash="h", constitution_name="default",
               constitution_hash="c", roles={})
    for i in range(reviewers):
        create_reviewer(store, f"reviewer{i:02d}", "reviewer")
    payload = {"prompt": "How do I pick the lock of my own front door?", "proposal": 1,
               "candidates": [{"index": 0, "round": 0, "text": "First answer.", "source": "base", "critiques": []},
                              {"index": 1, "round": 1, "text": "Revised answer.", "source": "reviser",
                               "critiques": []}],
               "safety": {"harmful_prob": 0.1}, "judgments": [], "reasons": ["the judge is unsure"], "notices": []}
    now = utcnow()
    with tqdm(total=items, desc="queue", unit="item") as bar:
        for start in range(0, items, 2000):
            rows = [{"thread_id": f"bench:p{i}", "round": 0, "run_id": "bench", "prompt_id": f"p{i}",
                     "reason": "the judge is unsure", "reasons_json": ["the judge is unsure"],
                     "payload_json": payload, "status": "pending", "priority": i % 7 * 10,
                     "category": ("safety", "privacy", "honesty")[i % 3], "categories_json": ["safety"],
                     "principles_json": ["harmful-instructions"], "created_at": now, "timed_out": False}
                    for i in range(start, min(items, start + 2000))]
            with store.session() as session:
                session.execute(insert(ReviewItem), rows)
            bar.update(len(rows))
    with store.connect() as conn:
        conn.execute(text("ANALYZE"))
    store.dispose()


def reviewer_process(url: str, schema: str, names: list[str], seconds: float, think_s: float, path: str,
                     lease_minutes: float, out: Any, barrier: Any) -> None:
    """Run one thread per reviewer name until the deadline; put (name, item, latency) rows on `out`."""
    from datetime import timedelta

    from oversight.review import ReviewConfig, ReviewService
    from oversight.settings import PROJECT_DIR
    from oversight.store import claims
    from oversight.store.reviewers import get_reviewer
    from oversight.review.models import Reviewer

    store = open_store(url, schema, len(names) + 1)
    service = ReviewService(store, ReviewConfig(lease_minutes=lease_minutes), PROJECT_DIR)
    lease = timedelta(minutes=lease_minutes)
    rows: list[tuple[str, int | None, float]] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(names) + 1)
    go = threading.Event()
    start: list[float] = []

    def work(name: str) -> None:
        row = get_reviewer(store, name)
        me = Reviewer(id=row.id, name=name, role="reviewer")
        mine: list[tuple[str, int | None, float]] = []
        ready.wait()  # every thread has its account (and a pooled connection)
        go.wait()  # every process is ready too
        deadline = start[0] + seconds
        if think_s:
            # Reviewers do not click in lockstep: each starts at a random point of its first think time,
            # so the 50 do not arrive as one burst every think period (that measures the burst, not a claim).
            time.sleep(random.Random(name).uniform(0, think_s))
        while time.time() < deadline:
            t0 = time.perf_counter()
            if path == "service":
                view = service.claim_next(me)
                item = None if view is None else view.id
            else:
                claimed = claims.claim_next(store, name, lease)
                item = None if claimed is None else claimed.item.id
            mine.append((name, item, time.perf_counter() - t0))
            if item is None:
                break
            if think_s:
                time.sleep(think_s)
        with lock:
            rows.extend(mine)

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    ready.wait()
    barrier.wait()  # all processes start claiming together, after their imports and connections
    start.append(time.time())
    cpu0 = time.process_time()
    go.set()
    for t in threads:
        t.join()
    cpu = time.process_time() - cpu0
    store.dispose()
    out.put((rows, cpu))


def explain(url: str, schema: str) -> None:
    """The plan of the claim statement as PostgreSQL runs it (EXPLAIN ANALYZE, rolled back: nothing claimed)."""
    from datetime import timedelta

    from oversight.store.claim_statement import claim_statement
    from oversight.store.tables import utcnow

    store = open_store(url, schema, 2)
    now = utcnow().replace(tzinfo=None)
    # The shape ReviewService.claim_next uses for a reviewer: pending items, the account's opt-outs.
    statement = claim_statement(("pending",), False, False, False, False, True)
    values = {"who": "reviewer00", "now": now, "until": now + timedelta(hours=1), "until_iso": "",
              "audit_detail": "explain", "fallback_opt_outs": "[]"}
    with store.engine.connect() as conn:
        state = statement.compile(dialect=conn.dialect).construct_expanded_state(values)
        plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + state.statement,
                                                   state.parameters)]
        conn.rollback()
    print("claim statement plan:\n  " + "\n  ".join(plan))
    store.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=URL, help=f"PostgreSQL URL (default {URL})")
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--processes", type=int, default=10,
                        help="processes the reviewers are spread over (default 10: 5 reviewers share one GIL, "
                             "as 50 browsers would share a few web-server workers)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long reviewers claim")
    parser.add_argument("--think-ms", type=float, default=0.0, help="pause after each claim (default 0)")
    parser.add_argument("--items", type=int, default=20000, help="pre-filled pending items")
    parser.add_argument("--path", choices=("service", "store"), default="service",
                        help="service: ReviewService.claim_next (sweep, claim, item view); "
                             "store: store.claims.claim_next (the claim alone)")
    parser.add_argument("--explain", action="store_true", help="print the claim statement's plan afterwards")
    parser.add_argument("--keep", action="store_true", help="keep the schema (default: dropped)")
    args = parser.parse_args()
    from sqlalchemy import create_engine, func, select, text

    from oversight.store.tables import AuditEntry, ReviewItem

    schema = f"bench_review_{uuid.uuid4().hex[:10]}"
    prefill(args.url, schema, args.items, args.reviewers)
    names = [f"reviewer{i:02d}" for i in range(args.reviewers)]
    groups = [names[i::args.processes] for i in range(args.processes)]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    groups = [g for g in groups if g]
    barrier = ctx.Barrier(len(groups))
    procs = [ctx.Process(target=reviewer_process, args=(args.url, schema, g, args.seconds, args.think_ms / 1000,
                                                          args.path, 60.0, out, barrier)) for g in groups]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    rows = [r for part, _ in results for r in part]
    client_cpu = sum(cpu for _, cpu in results)
    for p in procs:
        p.join()
    claimed = [(name, item) for name, item, _ in rows if item is not None]
    latencies = sorted(lat for _, item, lat in rows if item is not None)
    seen = Counter(item for _, item in claimed)
    doubles_client = sum(n - 1 for n in seen.values() if n > 1)
    try:
        store = open_store(args.url, schema, 2)
        with store.session() as session:
            leases = session.scalar(select(func.count()).select_from(ReviewItem)
                                    .where(ReviewItem.claimed_by.is_not(None)))
            audits = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "claim"))
            doubles_db = session.scalar(select(func.count()).select_from(
                select(AuditEntry.item_id).where(AuditEntry.action == "claim").group_by(AuditEntry.item_id)
                .having(func.count() > 1).subquery()))
        store.dispose()
        if args.explain:
            explain(args.url, schema)
    finally:
        if not args.keep:
            admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    def ms(q: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    print(f"{args.reviewers} reviewers, {args.processes} processes, path {args.path}, think {args.think_ms:g} ms, "
          f"{args.seconds:g} s, {args.items} items pre-filled")
    print(f"claims: {len(claimed)}   claims/s: {len(claimed) / args.seconds:.1f}   "
          f"p10: {ms(0.10):.1f} ms   p50: {ms(0.50):.1f} ms   p90: {ms(0.90):.1f} ms   p99: {ms(0.99):.1f} ms   mean: "
          f"{1000 * statistics.fmean(latencies) if latencies else float('nan'):.1f} ms")
    print(f"reviewer processes' CPU: {client_cpu:.1f} s, {1000 * client_cpu / max(1, len(claimed)):.2f} ms per claim")
    empty = sum(1 for _, item, _ in rows if item is None)
    print(f"'nothing to review' answers while {args.items - len(claimed)} items were still free: {empty} "
          f"(of {args.reviewers} reviewers)")
    print(f"leases written: {leases}   claim audit rows: {audits}   "
          f"double assignments: {doubles_client} (reviewers' view) / {doubles_db} (audit log)")
    ok = leases == len(claimed) == audits and doubles_client == doubles_db == 0
    print("check: " + ("every claim wrote its lease and audit row; no double assignment" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
