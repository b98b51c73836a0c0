"""`store.claims.claim_next`: one lease and one audit row per claim, every filter, on SQLite and PostgreSQL.

On PostgreSQL the claim is one statement (store/claim_statement.py); on SQLite an ORM
transaction. Both must pick the same item and write the same rows, so every test here
runs on both backends, and one checks that PostgreSQL really does it in one statement.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from oversight.review import ReviewConfig, Reviewer, ReviewService
from oversight.settings import PROJECT_DIR
from oversight.store import Store
from oversight.store.audit import snapshot
from oversight.store.claims import Claimed, claim_next
from oversight.store.reviewers import create_reviewer, update_reviewer
from oversight.store.tables import AuditEntry, ReviewDecision, ReviewItem, utcnow
from tests.review_seed import seed

HOUR = timedelta(hours=1)


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    s = make_store()
    s.migrate()
    return s


def shape(store: Store, item_id: int, **values: Any) -> None:
    """Set queue fields (priority, category, status, lease, ...) of one item directly."""
    with store.session() as session:
        session.execute(update(ReviewItem).where(ReviewItem.id == item_id).values(**values))


def rows_of(store: Store, item_id: int) -> tuple[dict[str, Any], list[AuditEntry]]:
    with store.session() as session:
        row = session.get(ReviewItem, item_id)
        assert row is not None
        audits = list(session.scalars(select(AuditEntry).where(AuditEntry.item_id == item_id)
                                      .order_by(AuditEntry.id)))
        session.expunge_all()
        return snapshot(row), audits


def claim_ids(store: Store, who: str, **filters: Any) -> int | None:
    claimed = claim_next(store, who, HOUR, **filters)
    return None if claimed is None else claimed.item.id


def test_a_claim_writes_one_lease_and_one_audit_row_as_snapshot_writes_them(store: Store) -> None:
    a, b = seed(store, 2)
    # b held by someone whose lease ran out (a whole second: isoformat leaves out the fraction)
    lapsed = (utcnow() - timedelta(minutes=5)).replace(microsecond=0)
    shape(store, b, priority=90, category="privacy", claimed_by="old", claimed_at=lapsed - HOUR,
          lease_expires_at=lapsed)
    before, _ = rows_of(store, b)
    with store.session() as session:
        audits_before = session.scalar(select(func.count()).select_from(AuditEntry))
    claimed = claim_next(store, "ana", HOUR, category="privacy", run_id="r1")
    assert isinstance(claimed, Claimed) and claimed.item.id == b
    assert claimed.item.claimed_by == "ana" and claimed.item.category == "privacy"
    assert claimed.constitution_name == "default" and claimed.decisions == []
    after, audits = rows_of(store, b)
    assert after["claimed_by"] == "ana"
    assert claimed.item.lease_expires_at is not None and claimed.item.claimed_at is not None
    assert claimed.item.lease_expires_at - claimed.item.claimed_at == HOUR
    assert before["lease_expires_at"] == lapsed.isoformat() and "." not in before["lease_expires_at"]
    [entry] = audits
    assert (entry.actor, entry.action, entry.detail) == ("ana", "claim", "next category=privacy run=r1")
    assert entry.before_json == before and entry.after_json == after
    assert entry.at == claimed.item.claimed_at
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audits_before + 1
        held = session.scalars(select(ReviewItem.id).where(ReviewItem.claimed_by.is_not(None))).all()
    assert held == [b]  # a untouched
    assert rows_of(store, a)[1] == []


def test_claims_honour_status_order_priority_age_and_every_filter(store: Store) -> None:
    items = seed(store, 8)
    categories = ["safety", "privacy", None, "safety", "privacy", "safety", "honesty", "safety"]
    for item, category, priority in zip(items, categories, [10, 50, 50, 30, 20, 10, 10, 5]):
        shape(store, item, category=category, priority=priority)
    shape(store, items[7], status="admin")
    other = seed(store, 1, run_id="r2")[0]
    shape(store, other, priority=99, category="safety")
    # a live lease is never taken; a run-out one counts as free
    shape(store, items[1], claimed_by="bo", claimed_at=utcnow(), lease_expires_at=utcnow() + HOUR)
    shape(store, items[5], priority=40, claimed_by="bo", claimed_at=utcnow() - HOUR,
          lease_expires_at=utcnow() - timedelta(seconds=1))

    assert claim_ids(store, "ana", statuses=("admin", "pending")) == items[7]  # status order first
    assert claim_ids(store, "ana", run_id="r1") == items[2]  # priority 50 (items[1] is held)
    assert claim_ids(store, "ana", run_id="r1", skip_categories=["safety"]) == items[4]  # privacy, 20
    assert claim_ids(store, "ana", category="safety", exclude_ids=[other]) == items[5]  # lapsed 40 > 30
    assert claim_ids(store, "ana", category="safety", run_id="r1") == items[3]
    assert claim_ids(store, "ana", category="honesty", exclude_ids=[items[6]]) is None
    assert claim_ids(store, "ana", exclude_ids=[items[6]]) == other  # no filter: r2's priority 99
    assert claim_ids(store, "ana") == items[0]  # 10, older than items[6]
    assert claim_ids(store, "ana") == items[6]
    assert claim_ids(store, "ana") is None  # everything left is held


def test_items_the_reviewer_decided_are_skipped_and_others_decisions_come_with_the_claim(store: Store) -> None:
    first, second = seed(store, 2)
    shape(store, first, priority=50)
    with store.session() as session:
        session.add(ReviewDecision(item_id=first, reviewer="ana", role="reviewer", decision_json={"action": "accept"},
                                   decided_at=utcnow()))
    assert claim_ids(store, "ana") == second  # ana decided the more urgent one already
    claimed = claim_next(store, "bo", HOUR)
    assert claimed is not None and claimed.item.id == first
    assert [(d.reviewer, d.decision_json) for d in claimed.decisions] == [("ana", {"action": "accept"})]
    assert claimed.decisions[0].decided_at.tzinfo is not None


def test_stored_opt_outs_are_read_at_the_claim_and_the_given_list_stands_in_without_an_account(store: Store) -> None:
    safety, privacy = seed(store, 2)
    shape(store, safety, category="safety", priority=50)
    shape(store, privacy, category="privacy", priority=10)
    create_reviewer(store, "ana", "reviewer")
    update_reviewer(store, "ana", opted_out=["safety"])
    # the account's list (safety) wins over a stale given one (privacy)
    assert claim_ids(store, "ana", skip_categories=["privacy"], stored_opt_outs=True) == privacy
    # no account named "ghost": the given list applies
    assert claim_ids(store, "ghost", skip_categories=["safety"], stored_opt_outs=True) is None
    assert claim_ids(store, "ghost", stored_opt_outs=True) == safety


def test_on_postgresql_a_claim_through_the_service_is_one_statement(make_store: Callable[[], Store]) -> None:
    store = make_store()
    if store.is_sqlite:
        pytest.skip("the one-statement claim is PostgreSQL's")
    store.migrate()
    seed(store, 3)
    service = ReviewService(store, ReviewConfig(), PROJECT_DIR)
    me = Reviewer(id=0, name="ana", role="reviewer")
    service.sweep()  # due at the first claim; later ones within SWEEP_EVERY_S skip it
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        first, second = service.claim_next(me), service.claim_next(me)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert first is not None and second is not None and first.id != second.id
    assert first.principles and first.claimed_by == "ana"  # the view came with the claim
    assert len(statements) == 2 and all(s.lstrip().startswith("WITH") for s in statements)


def test_lease_times_are_utc_and_the_lease_is_the_configured_length(store: Store) -> None:
    [item] = seed(store, 1)
    t0 = datetime.now(timezone.utc)
    claimed = claim_next(store, "ana", timedelta(minutes=7))
    assert claimed is not None and claimed.item.id == item
    assert claimed.item.claimed_at is not None and claimed.item.claimed_at >= t0 - timedelta(seconds=1)
    assert claimed.item.lease_expires_at == claimed.item.claimed_at + timedelta(minutes=7)
    assert claim_next(store, "bo", HOUR) is None
