"""The PostgreSQL claim as ONE statement: pick, lease and audit row in a single round trip.

A claim used to be six round trips of ORM work (select, update, refresh, audit insert,
commit, plus the reads around it), and Python, not the database, was what limited the
queue under 50 reviewers. Here one statement does it all:

    best_N  per status, in the caller's order (a later one only if no earlier one found
            an item): the better of two probes, each `SELECT ... LIMIT 1 FOR UPDATE OF
            review_items SKIP LOCKED`: items nobody holds, items whose lease ran out
    picked  the one item found (or none)
    audit   INSERT its audit row, before/after exactly as `audit.snapshot` writes them
    UPDATE  its lease (claimed_by, claimed_at, lease_expires_at) RETURNING the row, its
            run's constitution name and whether anyone has decided it yet

so the item page needs no further query. It runs in autocommit mode: the statement is
its own transaction, so there is no BEGIN or COMMIT round trip either. Concurrent claims
each lock different rows (`SKIP LOCKED`); the locks hold until the statement commits,
and the UPDATE changes exactly the row picked, so an item can never go to two reviewers.
Every sub-statement sees the same snapshot, which is why the audit's "before" comes
from the locked row (`picked`) and the page's row from the UPDATE's RETURNING.
Statements are built once per filter shape (the statuses and which filters are given)
and cached; the values travel as bound parameters.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    Update,
    String,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
    update,
)

from oversight.store.tables import AuditEntry, ReviewDecision, Reviewer, ReviewItem, Run

ITEMS = ReviewItem.__table__
DECISIONS = ReviewDecision.__table__
ITEM_COLUMNS = tuple(c.name for c in ITEMS.c)


def _sql(text: str) -> Any:
    """A constant written into the SQL (JSON keys, formats) rather than sent as a parameter."""
    return literal_column(text)


def _iso_utc(column: Any) -> Any:
    """A naive UTC timestamp as Python's `datetime.isoformat()` of it in UTC writes it.

    `2026-11-29T10:00:00.250000+00:00`, without the fraction when it is zero; NULL stays NULL.
    """
    whole = func.to_char(column, _sql("""'YYYY-MM-DD"T"HH24:MI:SS'"""))
    fraction = func.to_char(column, _sql("""'YYYY-MM-DD"T"HH24:MI:SS.US'"""))
    return case((func.date_trunc(_sql("'second'"), column) == column, whole), else_=fraction).op("||")(
        _sql("'+00:00'"))


def _snapshot_json(picked: Any, claimed_by: Any, lease_expires_at: Any) -> Any:
    """`audit.snapshot` of the item as a JSON object: status, holder, lease, decision, reviewer."""
    return func.json_build_object(
        _sql("'status'"), picked.c.status, _sql("'claimed_by'"), claimed_by,
        _sql("'lease_expires_at'"), lease_expires_at, _sql("'decision'"), picked.c.decision_json,
        _sql("'reviewer'"), picked.c.reviewer, _sql("'timed_out'"), picked.c.timed_out)


def _category_filter(stored_opt_outs: bool, skip: bool) -> Any:
    """Skip the given categories, or the ones `who`'s account has opted out of as stored now.

    With `stored_opt_outs` the account's list wins and the given list (bound as
    `fallback_opt_outs`) only stands in when there is no account of that name.
    """
    category = ITEMS.c.category
    if not stored_opt_outs:
        return or_(category.is_(None), category.not_in(bindparam("skip", expanding=True))) if skip else None
    stored = select(Reviewer.opted_out_json).where(Reviewer.name == bindparam("who")).scalar_subquery()
    opted = func.json_array_elements_text(
        func.coalesce(stored, cast(bindparam("fallback_opt_outs", type_=JSON), JSON))).table_valued("value")
    # Uncorrelated, so PostgreSQL reads the list once ("hashed SubPlan") and the claim
    # keeps walking the queue index in order (a correlated anti-join made it sort everything).
    return or_(category.is_(None), category.not_in(select(opted.c.value)))


PICK_COLUMNS = (ITEMS.c.id, ITEMS.c.status, ITEMS.c.claimed_by, ITEMS.c.lease_expires_at, ITEMS.c.decision_json,
                ITEMS.c.reviewer, ITEMS.c.timed_out, ITEMS.c.priority, ITEMS.c.created_at)


def _best_free(status: str, conditions: list[Any], now: Any) -> Any:
    """The most urgent free item of one status, locked (`SKIP LOCKED`): the better of two probes.

    Never claimed (or released): the partial index `ix_review_items_claim_order` (only rows
    with claimed_by NULL) read in order, so the claims held at the head of the queue are
    not walked past on every claim. Lease run out: the lease index finds those few. Each
    probe locks at most one row; the one not taken is free again when the statement ends.
    """
    def probe(*free: Any) -> Any:
        return (select(*PICK_COLUMNS).where(ITEMS.c.status == status, *free, *conditions)
                .order_by(ITEMS.c.priority.desc(), ITEMS.c.created_at, ITEMS.c.id)
                .limit(_sql("1")).with_for_update(skip_locked=True, of=ITEMS).subquery())

    fresh = probe(ITEMS.c.claimed_by.is_(None))
    lapsed = probe(ITEMS.c.claimed_by.is_not(None), ITEMS.c.lease_expires_at <= now)
    both = union_all(select(fresh), select(lapsed)).subquery()
    return select(both).order_by(both.c.priority.desc(), both.c.created_at, both.c.id).limit(_sql("1"))


def _pick(statuses: tuple[str, ...], conditions: list[Any], now: Any) -> Any:
    """The claimed row's CTE: the first status (in the given order) that has a free item wins.

    A later status is only probed (and locked) when no earlier one found anything: its
    branch carries `NOT EXISTS (earlier)`, a one-time filter PostgreSQL checks first.
    """
    found: list[Any] = []
    for n, status in enumerate(statuses):
        best = _best_free(status, conditions, now)
        if found:
            best = select(best.subquery()).where(*(~exists(select(_sql("1")).select_from(f)) for f in found))
        found.append(best.cte(f"best_{n}"))
    if len(found) == 1:
        return found[0]
    return union_all(*(select(f) for f in found)).cte("picked")


@lru_cache(maxsize=64)
def claim_statement(statuses: tuple[str, ...], category: bool, run_id: bool, skip: bool, exclude: bool,
                    stored_opt_outs: bool) -> Update:
    """The claim for one filter shape; bind `who`, `now`, `until`, `until_iso`, `audit_detail` and filters.

    Filters bind `want_category`, `want_run_id`, `skip` (list) or `fallback_opt_outs`
    (list, with `stored_opt_outs`) and `exclude` (ids), as the flags say. No key may be
    an item column's name: an UPDATE takes such a parameter as one more SET value.
    """
    now, who = bindparam("now", type_=ReviewItem.lease_expires_at.type), bindparam("who", type_=String)
    conditions = [~exists().where(DECISIONS.c.item_id == ITEMS.c.id, DECISIONS.c.reviewer == who)]
    if category:
        conditions.append(ITEMS.c.category == bindparam("want_category"))
    if run_id:
        conditions.append(ITEMS.c.run_id == bindparam("want_run_id"))
    if (skipping := _category_filter(stored_opt_outs, skip)) is not None:
        conditions.append(skipping)
    if exclude:
        conditions.append(ITEMS.c.id.not_in(bindparam("exclude", expanding=True)))
    picked = _pick(statuses, conditions, now)
    until = bindparam("until", type_=ReviewItem.lease_expires_at.type)
    audit = (insert(AuditEntry.__table__).from_select(
        ["at", "actor", "action", "item_id", "before_json", "after_json", "detail"],
        select(now, who, _sql("'claim'"), picked.c.id,
               _snapshot_json(picked, picked.c.claimed_by, _iso_utc(picked.c.lease_expires_at)),
               _snapshot_json(picked, who, bindparam("until_iso", type_=String)),
               bindparam("audit_detail", type_=String)).select_from(picked))
             .cte("audit"))
    runs = Run.__table__
    return (update(ITEMS).where(ITEMS.c.id == picked.c.id)
            .values(claimed_by=who, claimed_at=now, lease_expires_at=until)
            .returning(*ITEMS.c,
                       select(runs.c.constitution_name).where(runs.c.id == ITEMS.c.run_id)
                       .scalar_subquery().label("constitution_name"),
                       exists().where(DECISIONS.c.item_id == ITEMS.c.id).label("has_decisions"))
            .add_cte(audit))
