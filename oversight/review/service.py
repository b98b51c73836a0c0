"""The review service: one object the CLI and the web page both call for every queue action.

`ReviewService(store, config, project_dir)` holds no per-user state; each method takes
the acting `Reviewer` (from `authenticate(token)`) and checks its rights. Every change
(claim, release, skip, reassign, decision, deadline) writes an audit row in the same
transaction. Applying decisions (resuming graph threads) is separate: `apply(resume)`
runs in `review apply` or a worker beside the server, never inside a web request.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from oversight.errors import OversightError
from oversight.review import decisions as rules
from oversight.review.apply import Resumer, apply_decided
from oversight.review.config import ReviewConfig
from oversight.review.models import (
    ApplyOutcome, AuditRecord, DecisionInput, ItemSummary, ItemView, PrincipleInfo, QueueStats, Reviewer,
)
from oversight.review.stats import queue_stats
from oversight.review.views import (
    build_view, constitution_for, constitution_named, full_view, intake, principle_info, reason_kind, summary,
)
from oversight.store import Store, get_review
from oversight.store import claims as store_claims
from oversight.store import reviewers as accounts
from oversight.store.audit import append_audit, read_audit
from oversight.store.queue import list_reviews
from oversight.store.records import ReviewRecord
from oversight.store.review_reads import decision_counts
from oversight.store.tables import utcnow

SWEEP_EVERY_S = 5.0
DEFAULT_REFUSAL_NOTE = "no reviewer decided before the deadline; the spec's refusal answers"


def _reviewer(row: Any) -> Reviewer:
    return Reviewer(id=row.id, name=row.name, role=row.role, opted_out=list(row.opted_out_json or []),
                    active=row.active, created_at=row.created_at)


class ReviewService:
    """Queue actions with rights checks; see each method for what it refuses and why."""

    def __init__(self, store: Store, config: ReviewConfig, project_dir: Path) -> None:
        self.store, self.config, self.project_dir = store, config, project_dir
        self._last_sweep = float("-inf")
        self._sweep_lock = threading.Lock()

    # ---- people ---------------------------------------------------------------------------

    def add_user(self, name: str, role: str, actor: Reviewer | None = None) -> tuple[Reviewer, str]:
        """Create an account; returns it and its token (shown once). `actor` None: the local CLI."""
        if actor is not None:
            self.require_admin(actor)
        row, token = accounts.create_reviewer(self.store, name, role)
        append_audit(self.store, actor.name if actor else "cli", "user-add", detail=f"{name} as {role}")
        return _reviewer(row), token

    def new_token(self, name: str, actor: Reviewer | None = None) -> str:
        """Replace someone's token (the old one stops working); admins or the local CLI."""
        if actor is not None:
            self.require_admin(actor)
        token = accounts.rotate_token(self.store, name)
        append_audit(self.store, actor.name if actor else "cli", "user-token", detail=name)
        return token

    def set_user(self, name: str, *, role: str | None = None, active: bool | None = None,
                 actor: Reviewer | None = None) -> Reviewer:
        """Change someone's role or disable them (admins or the local CLI)."""
        if actor is not None:
            self.require_admin(actor)
        row = accounts.update_reviewer(self.store, name, role=role, active=active)
        append_audit(self.store, actor.name if actor else "cli", "user-set",
                     detail=f"{name}: role={role} active={active}")
        return _reviewer(row)

    def users(self) -> list[Reviewer]:
        return [_reviewer(r) for r in accounts.list_reviewers(self.store)]

    def authenticate(self, token: str | None) -> Reviewer:
        """The active reviewer owning the token; OversightError for a missing or wrong one."""
        if not token:
            raise OversightError("a reviewer token is needed (--token, or a token file; "
                                 "an admin creates one with `review users add NAME`)")
        row = accounts.find_by_token(self.store, token.strip())
        if row is None:
            raise OversightError("that reviewer token is not valid (wrong, replaced or disabled)")
        return _reviewer(row)

    def opt_out(self, actor: Reviewer, categories: list[str]) -> Reviewer:
        """Set the categories `actor` will not be given (replaces the earlier list)."""
        row = accounts.update_reviewer(self.store, actor.name, opted_out=categories)
        append_audit(self.store, actor.name, "opt-out", detail=", ".join(sorted(set(categories))) or "none")
        return _reviewer(row)

    @staticmethod
    def require_admin(actor: Reviewer) -> None:
        if actor.role != "admin":
            raise OversightError(f"{actor.name} is a reviewer; this action needs an admin")

    # ---- the queue -------------------------------------------------------------------------

    def _statuses(self, actor: Reviewer) -> tuple[str, ...]:
        return ("admin", "pending") if actor.is_admin else ("pending",)

    def _item(self, item_id: int) -> ReviewRecord:
        item = get_review(self.store, item_id)
        if item is None:
            raise OversightError(f"no review item {item_id}")
        return item

    def sweep(self, *, force: bool = True) -> int:
        """Fill new items' categories and answer overdue ones with the refusal; returns items expired.

        Claims call it unforced: at most once per SWEEP_EVERY_S per service, to keep claims cheap.
        """
        now = time.monotonic()
        with self._sweep_lock:  # of many threads claiming at once, one sweeps when it is due
            if not force and now - self._last_sweep < SWEEP_EVERY_S:
                return 0
            self._last_sweep = now
        intake(self.store, self.project_dir)

        def refusal(item: ReviewRecord) -> dict[str, Any]:
            return {"action": "refuse", "reviewer": "deadline", "timed_out": True,
                    "review_item": item.id, "note": DEFAULT_REFUSAL_NOTE}

        return len(store_claims.expire_overdue(self.store, self.config.deadline, self.config.shortest_deadline,
                                               refusal))

    def list_items(self, *, status: str | None = "pending", category: str | None = None,
                   run_id: str | None = None, reason: str | None = None, min_age_s: float | None = None,
                   limit: int = 100) -> list[ItemSummary]:
        """Queue rows by priority then age; `reason` filters by kind (see views.REASON_KINDS)."""
        self.sweep()
        rows = list_reviews(self.store, status=status, category=category, run_id=run_id, limit=None)
        now = utcnow()
        if reason is not None:
            rows = [r for r in rows if reason in {reason_kind(s) for s in r.reasons_json}]
        if min_age_s is not None:
            rows = [r for r in rows if r.created_at and (now - r.created_at).total_seconds() >= min_age_s]
        rows = rows[:limit]
        done = decision_counts(self.store, [r.id for r in rows])
        return [summary(r, self.config, done.get(r.id, 0), now) for r in rows]

    def show(self, viewer: Reviewer, item_id: int) -> ItemView:
        """The full item (internal reasoning included); others' decisions only for admins."""
        return full_view(self.store, self._item(item_id), self.config, self.project_dir,
                         viewer.name, viewer.is_admin)

    def principles(self, item_id: int) -> list[PrincipleInfo]:
        """The item's principles with text and rubric (empty if its constitution is gone)."""
        item = self._item(item_id)
        constitution = constitution_for(self.store, item, self.project_dir)
        if constitution is None:
            return []
        known = {p.id: p for p in constitution.principles}
        return [principle_info(known[i]) for i in item.principles_json if i in known]

    def claim_next(self, actor: Reviewer, *, category: str | None = None,
                   run_id: str | None = None, exclude: list[int] | None = None) -> ItemView | None:
        """Claim the most urgent item open to `actor` (opt-outs respected); None when none is.

        One round trip on PostgreSQL: the claim reads the account's opt-outs as they are
        now and returns the item with its decisions and constitution, so the view needs
        no further query (and the throttled sweep none, until it is due).
        """
        self.sweep(force=False)
        claimed = store_claims.claim_next(self.store, actor.name, self.config.lease,
                                          statuses=self._statuses(actor), category=category, run_id=run_id,
                                          skip_categories=actor.opted_out, exclude_ids=exclude or [],
                                          stored_opt_outs=True)
        if claimed is None:
            return None
        return build_view(claimed.item, claimed.decisions,
                          constitution_named(claimed.constitution_name, self.project_dir), self.config,
                          actor.name, actor.is_admin)

    def claim(self, actor: Reviewer, item_id: int) -> ItemView:
        """Claim (or renew the claim on) a chosen item; refused while someone else holds it."""
        self._item(item_id)
        store_claims.claim_item(self.store, actor.name, item_id, self.config.lease,
                                statuses=self._statuses(actor))
        return self.show(actor, item_id)

    def release(self, actor: Reviewer, item_id: int) -> None:
        """Give back an item `actor` holds."""
        self._item(item_id)
        store_claims.release_item(self.store, actor.name, item_id)

    def skip(self, actor: Reviewer, item_id: int, *, category: str | None = None,
             run_id: str | None = None) -> ItemView | None:
        """Release an item and claim the next one, other than it."""
        self._item(item_id)
        store_claims.release_item(self.store, actor.name, item_id, action="skip")
        return self.claim_next(actor, category=category, run_id=run_id, exclude=[item_id])

    def reassign(self, actor: Reviewer, item_id: int, to: str) -> ItemView:
        """Admin: hand an open item to a named active reviewer (replaces any claim)."""
        self.require_admin(actor)
        item = self._item(item_id)
        target = accounts.get_reviewer(self.store, to)
        if target is None or not target.active:
            raise OversightError(f"no active reviewer named {to!r}")
        if item.status == "admin" and target.role != "admin":
            raise OversightError(f"review item {item_id} waits for an admin; {to} is a reviewer")
        store_claims.reassign_item(self.store, actor.name, item_id, to, self.config.lease)
        return self.show(actor, item_id)

    def unclaim(self, actor: Reviewer, item_id: int) -> None:
        """Admin: free an item someone else holds."""
        self.require_admin(actor)
        self._item(item_id)
        store_claims.release_item(self.store, actor.name, item_id, action="admin-release", force=True)

    def decide(self, actor: Reviewer, item_id: int, decision: DecisionInput | dict[str, Any]) -> ItemView:
        """Record `actor`'s decision on an item they hold; nothing changes if it is refused.

        Plain items become `decided`; `unsure` and a double review that disagrees go to an
        admin; the first of two independent reviews leaves the item pending for a second person.
        """
        item = self._item(item_id)
        parsed = rules.parse(decision)
        constitution = constitution_for(self.store, item, self.project_dir)
        ids = {p.id for p in constitution.principles} if constitution is not None else None
        rules.check(parsed, item, ids, actor.role)
        graph_decision = rules.to_graph(parsed, actor.name, item)
        needed = self.config.reviews_needed(item.thread_id, item.round)
        store_claims.decide_item(self.store, actor.name, actor.role, item_id, graph_decision,
                                 rules.resolver(graph_decision, actor.role, needed))
        return self.show(actor, item_id)

    def apply(self, resume: Resumer, *, item_id: int | None = None,
              limit: int | None = None) -> list[ApplyOutcome]:
        """Resume the threads of decided items (deadline refusals included); see review.apply."""
        self.sweep()
        return apply_decided(self.store, resume, item_id=item_id, limit=limit)

    def stats(self, *, window_h: float = 24.0) -> QueueStats:
        self.sweep()
        return queue_stats(self.store, window_h=window_h)

    def audit(self, actor: Reviewer, *, item_id: int | None = None, limit: int = 200) -> list[AuditRecord]:
        """Admin: the audit log, newest first."""
        self.require_admin(actor)
        return [AuditRecord(id=r.id, at=r.at, actor=r.actor, action=r.action, item_id=r.item_id,
                            before=r.before_json, after=r.after_json, detail=r.detail)
                for r in read_audit(self.store, item_id=item_id, limit=limit)]
