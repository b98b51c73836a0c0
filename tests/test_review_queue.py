"""The review queue's service on SQLite and PostgreSQL: claims, leases, decisions, rights, audit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text

from oversight.errors import OversightError
from oversight.review import ReviewConfig, ReviewService
from oversight.settings import PROJECT_DIR
from oversight.store import Store, enqueue_review, get_review
from oversight.store.tables import AuditEntry, Reviewer, ReviewDecision, ReviewItem
from tests.review_seed import ALWAYS, payload, seed


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    s = make_store()
    s.migrate()
    return s


def service(store: Store, **config: Any) -> ReviewService:
    return ReviewService(store, ReviewConfig(**config), PROJECT_DIR)


def people(svc: ReviewService) -> tuple[Any, Any, Any]:
    ana, _ = svc.add_user("ana", "reviewer")
    bo, _ = svc.add_user("bo", "reviewer")
    root, _ = svc.add_user("root", "admin")
    return ana, bo, root


def snapshot(store: Store) -> tuple[Any, ...]:
    """Everything a refused action must leave alone."""
    with store.session() as session:
        items = [(r.id, r.status, r.claimed_by, r.lease_expires_at, r.decision_json, r.reviewer)
                 for r in session.scalars(select(ReviewItem).order_by(ReviewItem.id))]
        decisions = session.scalar(select(func.count()).select_from(ReviewDecision))
        audit = session.scalar(select(func.count()).select_from(AuditEntry))
    return items, decisions, audit


def test_claims_follow_priority_then_age_and_respect_filters_and_opt_outs(store: Store) -> None:
    svc = service(store)
    ana, bo, root = people(svc)
    low = seed(store, 2, run_id="r1")
    urgent = seed(store, 1, run_id="r2", harmful=0.7)
    privacy = seed(store, 1, run_id="r3", harmful=0.05, reasons=[ALWAYS])
    rows = svc.list_items()
    assert [r.id for r in rows][:1] == urgent and rows[0].priority == 70
    assert {r.category for r in rows} == {"safety", "privacy"}
    assert rows[0].reason_kinds == ["judge-unsure"]
    assert [r.id for r in svc.list_items(reason="always-human")] == privacy
    assert svc.claim_next(ana, run_id="r1").id == low[0]
    svc.opt_out(bo, ["safety"])
    got = svc.claim_next(bo)
    assert got is not None and got.id == low[1] and got.category == "privacy"
    view = svc.claim_next(root)
    assert view.id == urgent[0] and view.principles[0].id == "privacy" and "Check:" in view.principles[0].rubric
    assert svc.claim_next(root).id == privacy[0] and svc.claim_next(root) is None


def test_expired_lease_returns_the_item_and_the_old_holder_is_refused(store: Store) -> None:
    svc = service(store, lease_minutes=0.01)  # 0.6 s
    ana, bo, _ = people(svc)
    [item] = seed(store, 1)
    assert svc.claim_next(ana).id == item
    with pytest.raises(OversightError, match="held by ana"):
        svc.claim(bo, item)
    assert svc.claim_next(bo) is None
    time.sleep(0.8)
    before = snapshot(store)
    with pytest.raises(OversightError, match="expired"):
        svc.decide(ana, item, {"action": "accept"})
    assert snapshot(store) == before
    assert svc.list_items()[0].claimed_by is None
    assert svc.claim_next(bo).id == item
    with pytest.raises(OversightError, match="do not hold review item .* held by bo"):
        svc.decide(ana, item, {"action": "accept"})
    assert svc.decide(bo, item, {"action": "accept"}).status == "decided"


def test_bad_input_is_refused_with_a_clear_error_and_changes_nothing(store: Store) -> None:
    svc = service(store)
    ana, bo, root = people(svc)
    [item, other] = seed(store, 2)
    svc.claim(ana, item)
    svc.claim(bo, other)
    before = snapshot(store)
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: svc.decide(ana, 999, {"action": "accept"}), "no review item 999"),
        (lambda: svc.claim(ana, 999), "no review item 999"),
        (lambda: svc.decide(ana, other, {"action": "accept"}), "do not hold review item"),
        (lambda: svc.release(ana, other), "do not hold review item"),
        (lambda: svc.decide(ana, item, {"action": "shrug"}), "malformed decision: action"),
        (lambda: svc.decide(ana, item, ["accept"]), "must be a mapping"),
        (lambda: svc.decide(ana, item, {"action": "choose", "candidate": 7}), "candidate index 0..1"),
        (lambda: svc.decide(ana, item, {"action": "edit", "text": "  "}), "needs the final response"),
        (lambda: svc.decide(ana, item, {"action": "revise"}), "needs a note"),
        (lambda: svc.decide(ana, item, {"action": "accept", "ranking": [1, 1]}), "distinct candidate"),
        (lambda: svc.decide(ana, item, {"action": "choose", "candidate": 1, "ranking": [0, 1]}), "puts candidate 0 first"),
        (lambda: svc.decide(ana, item, {"action": "accept", "violations": {"0": ["nope"]}}), "no principle 'nope'"),
        (lambda: svc.decide(ana, item, {"action": "accept", "extra": 1}), "malformed decision: extra"),
        (lambda: svc.authenticate(None), "token is needed"),
        (lambda: svc.authenticate("ovr_0123_wrong"), "not valid"),
        (lambda: svc.authenticate("garbage"), "not valid"),
        (lambda: svc.reassign(ana, item, "bo"), "needs an admin"),
        (lambda: svc.unclaim(ana, other), "needs an admin"),
        (lambda: svc.audit(ana), "needs an admin"),
        (lambda: svc.add_user("eve", "admin", actor=ana), "needs an admin"),
        (lambda: svc.reassign(root, item, "nobody"), "no active reviewer"),
        (lambda: svc.decide(root, other, {"action": "unsure"}), "as an admin, decide it"),
        (lambda: svc.decide(root, other, {"action": "accept"}), "do not hold review item .* held by bo"),
    ]
    for call, message in cases:
        with pytest.raises(OversightError, match=message):
            call()
        assert snapshot(store) == before, message
    assert [u.name for u in svc.users()] == ["ana", "bo", "root"]


def test_tokens_are_hashed_and_disabling_stops_them(store: Store) -> None:
    svc = service(store)
    ana, token = svc.add_user("ana", "reviewer")
    assert svc.authenticate(token).name == "ana"
    with store.session() as session:
        row = session.scalars(select(Reviewer)).one()
        assert token not in row.token_hash and row.token_hash.startswith("scrypt$")
    fresh = svc.new_token("ana")
    with pytest.raises(OversightError, match="not valid"):
        svc.authenticate(token)
    svc.set_user("ana", active=False)
    with pytest.raises(OversightError, match="not valid"):
        svc.authenticate(fresh)
    with pytest.raises(OversightError, match="exists already"):
        svc.add_user("ana", "admin")


def test_unsure_goes_to_an_admin_who_decides(store: Store) -> None:
    svc = service(store)
    ana, bo, root = people(svc)
    [item] = seed(store, 1)
    svc.claim(ana, item)
    assert svc.decide(ana, item, {"action": "unsure", "note": "not sure this is medical advice"}).status == "admin"
    assert svc.claim_next(bo) is None
    view = svc.claim_next(root)
    assert view.id == item and view.decisions[0].decision["note"] == "not sure this is medical advice"
    done = svc.decide(root, item, {"action": "refuse", "text": "I can't advise on that dose.", "note": "risky"})
    assert done.status == "decided" and done.decision["text"] == "I can't advise on that dose."


def test_double_review_agreement_disagreement_and_kappa(store: Store) -> None:
    svc = service(store, double_review_fraction=1.0)
    ana, bo, root = people(svc)
    items = seed(store, 3)
    choices = [({"action": "choose", "candidate": 1, "violations": {"0": ["privacy"]}},
                {"action": "accept", "violations": {"0": ["privacy"]}}),
               ({"action": "choose", "candidate": 0}, {"action": "refuse"}),
               ({"action": "edit", "text": "Better.", "violations": {"1": ["uncertainty"]}},
                {"action": "edit", "text": "Best.", "violations": {"0": ["privacy"]}})]
    for item, (first, second) in zip(items, choices):
        svc.claim(ana, item)
        view = svc.decide(ana, item, first)
        assert view.status == "pending" and view.reviews_done == 1 and view.decision is None
        assert [d.reviewer for d in svc.show(bo, item).decisions] == []  # bo cannot see ana's
        with pytest.raises(OversightError, match="already decided"):
            svc.claim(ana, item)
        if item == items[0]:  # an admin handing it back to ana does not let her decide twice
            svc.reassign(root, item, "ana")
            with pytest.raises(OversightError, match="already decided"):
                svc.decide(ana, item, first)
            svc.unclaim(root, item)
        svc.claim(bo, item)
        svc.decide(bo, item, second)
    statuses = [get_review(store, i).status for i in items]
    assert statuses == ["decided", "admin", "decided"]
    assert get_review(store, items[0]).decision_json["action"] == "accept"
    stats = svc.stats()
    assert stats.double_reviewed == 3 and stats.agreement_rate == pytest.approx(2 / 3)
    assert stats.kappa_choice is not None and stats.kappa_choice < 1
    assert stats.kappa_principles["privacy"] is not None
    with pytest.raises(OversightError, match="waits for an admin; ana is a reviewer"):
        svc.reassign(root, items[1], "ana")
    assert svc.claim_next(root).id == items[1] and len(svc.show(root, items[1]).decisions) == 2
    assert svc.decide(root, items[1], {"action": "refuse"}).status == "decided"
    over = {o.reason: o for o in svc.stats().overturned}["judge-unsure"]
    assert (over.decided, over.overturned) == (3, 2)


def test_deadline_refuses_marks_and_counts(store: Store) -> None:
    svc = service(store, default_deadline_hours=1.0, deadline_hours={"privacy": 0.0001})
    ana, _, _ = people(svc)
    [safety_item] = seed(store, 1, run_id="r1", harmful=0.8)
    [privacy_item] = seed(store, 1, run_id="r2", harmful=0.05, reasons=[ALWAYS])
    time.sleep(0.5)
    stats = svc.stats()
    assert stats.timed_out == 1 and stats.by_status["decided"] == 1
    late = get_review(store, privacy_item)
    assert late.status == "decided" and late.timed_out and late.decision_json["action"] == "refuse"
    assert late.decision_json["reviewer"] == "deadline" and get_review(store, safety_item).status == "pending"
    assert svc.list_items(status="decided")[0].timed_out
    assert svc.audit(svc.add_user("boss", "admin")[0], item_id=privacy_item)[0].action == "deadline"


def test_release_skip_reassign_and_the_append_only_audit(store: Store) -> None:
    svc = service(store)
    ana, bo, root = people(svc)
    [a, b] = seed(store, 2)
    assert svc.claim_next(ana).id == a
    assert svc.skip(ana, a).id == b
    svc.release(ana, b)
    svc.reassign(root, a, "bo")
    with pytest.raises(OversightError, match="held by bo"):
        svc.claim(ana, a)
    svc.unclaim(root, a)
    assert svc.claim(ana, a).claimed_by == "ana"
    log = svc.audit(root)
    assert [e.action for e in reversed(log)][-6:] == ["claim", "skip", "claim", "release", "reassign",
                                                      "admin-release"][-5:] + ["claim"]
    assert log[1].actor == "root" and log[1].before["claimed_by"] == "bo" and log[1].after["claimed_by"] is None
    for statement in ("UPDATE review_audit SET actor = 'x'", "DELETE FROM review_audit"):
        with pytest.raises(Exception, match="append-only"), store.connect() as conn:
            conn.execute(text(statement))
    assert len(svc.audit(root)) == len(log)


def test_items_are_keyed_by_thread_and_round(store: Store) -> None:
    seed(store, 0)
    first = payload("q")
    one = enqueue_review(store, "r1:p0", "r1", "p0", "why", first["reasons"], first)
    assert enqueue_review(store, "r1:p0", "r1", "p0", "why", first["reasons"], first) == one  # node re-run
    again = payload("q")
    again["candidates"].append({"index": 2, "round": 2, "text": "third try", "source": "reviser"})
    two = enqueue_review(store, "r1:p0", "r1", "p0", "why", again["reasons"], again)
    explicit = enqueue_review(store, "r1:p0", "r1", "p0", "why", [], {}, round=5, priority=3)
    assert len({one, two, explicit}) == 3
    assert [get_review(store, i).round for i in (one, two, explicit)] == [0, 1, 5]
    assert enqueue_review(store, "r1:p0", "r1", "p0", "why", [], {}, round=1) == two
