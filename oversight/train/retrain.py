"""The retraining job cron runs: export, train a candidate, gate it against the active version, promote or keep.

Safe to run from cron at any rate:
- one at a time: the store lease "retrain" (SQLite, and across machines on PostgreSQL);
  a second run stops at once with `RetrainLocked` (exit status 3);
- cheap when idle: below `min_new_trajectories` new resolved trajectories it only says so;
- crash-safe: every stage is recorded on a `retrain_runs` row, promotion is one transaction
  (the old active version retires in the same commit), so a crash anywhere leaves the
  active version usable, and the next run finishes what was gated or starts again cleanly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from oversight.errors import OversightError
from oversight.eval.gate import gate
from oversight.settings import Settings
from oversight.store.db import Store
from oversight.store.leases import LeaseHeld, default_holder, hold
from oversight.store.registry import active_version, get_version, list_versions, promote, set_gate
from oversight.store.retrain_runs import (RetrainRecord, advance_retrain, last_consumed, start_retrain,
                                          unfinished_retrain)
from oversight.store.training_rows import count_resolved
from oversight.train.cleanup import cleanup_retired
from oversight.train.export import export_datasets, heldout_pairs, heldout_rows
from oversight.train.export_config import ExportOptions
from oversight.train.retrain_config import RetrainConfig, Stage

LEASE = "retrain"
EXIT_STATUS = {"promoted": 0, "nothing": 0, "dry-run": 0, "rejected": 1}
EXIT_LOCKED = 3

# trainer(stage, overrides, export folder, parent version or None) -> new candidate version id
Trainer = Callable[[Stage, list[str], Path, int | None], int]


@dataclass(frozen=True)
class HeldOut:
    """The export's held-out split the gate measures both versions on (prompts no candidate trained on)."""

    rows: list[dict[str, str]]   # SFT rows {prompt, response, route}: answered like suite items
    pairs: list[dict[str, str]]  # preference pairs {prompt, chosen, rejected, source}: ranked by likelihood


# evaluator(version id or None for the bare model, the held-out split) -> EvalResult
Evaluator = Callable[[int | None, HeldOut], Any]
Fault = Callable[[str], None]


class RetrainLocked(OversightError):
    """Another retraining job holds the lock."""

    exit_code = EXIT_LOCKED


@dataclass
class RetrainReport:
    status: str  # promoted, rejected, nothing, dry-run
    summary: str
    run_id: int | None = None
    candidate_id: int | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_STATUS[self.status]


@dataclass
class RetrainJob:
    """One invocation: the store, the plan, and the parts that train and evaluate (real ones by default)."""

    settings: Settings
    store: Store
    config: RetrainConfig
    trainer: Trainer
    evaluator: Evaluator
    base_model: str
    log: Callable[[str], None] = lambda _m: None
    fault: Fault = lambda _point: None
    holder: str = field(default_factory=default_holder)

    def run(self, *, dry_run: bool = False, force: bool = False) -> RetrainReport:
        with ExitStack() as stack:
            try:
                stack.enter_context(hold(self.store, LEASE, self.holder, self.config.lease_ttl_s,
                                         what="the retraining job"))
            except LeaseHeld as exc:
                raise RetrainLocked(f"another retrain is running ({exc}); this one exits") from None
            return self._locked(dry_run, force)
        raise AssertionError("unreachable")  # pragma: no cover

    def _locked(self, dry_run: bool, force: bool) -> RetrainReport:
        role, cfg = self.config.role, self.config
        pending = unfinished_retrain(self.store, role)
        consumed = last_consumed(self.store, role)
        since = consumed.data_until if consumed else None
        new = count_resolved(self.store, since=since)
        active = active_version(self.store, role)
        current = f"version {active.id}" if active else "the bare model"
        stays = f"version {active.id} stays active" if active else "the bare model stays in use"
        if dry_run:
            return self._dry_run(pending, new, since, current, force)
        if pending is not None:
            report = self._resume(pending)
            if report is not None:
                return report
        if new < cfg.min_new_trajectories and not force:
            run = start_retrain(self.store, role, self.holder, cfg.model_dump(mode="json"))
            line = (f"retrain: nothing to do: {new} new resolved trajectories {_since(since)} "
                    f"(need {cfg.min_new_trajectories}); {stays}")
            advance_retrain(self.store, run.id, "nothing", summary=line)
            return RetrainReport("nothing", line, run.id)
        return self._fresh(new, since)

    def _dry_run(self, pending: RetrainRecord | None, new: int, since: datetime | None, current: str,
                 force: bool) -> RetrainReport:
        cfg = self.config
        if pending is not None:
            what = {"evaluated": f"finish run {pending.id}: promote candidate {pending.candidate_id}, which passed "
                                 "the gate before a crash",
                    "trained": f"finish run {pending.id}: gate candidate {pending.candidate_id} (trained before a crash)"
                    }.get(pending.stage, f"close run {pending.id} (interrupted at {pending.stage}) and start again")
            return RetrainReport("dry-run", f"retrain --dry-run: would {what}", pending.id)
        if new < cfg.min_new_trajectories and not force:
            return RetrainReport("dry-run", f"retrain --dry-run: would do nothing: {new} new resolved trajectories "
                                            f"{_since(since)} (need {cfg.min_new_trajectories})")
        stages = " then ".join(f"{s.algo} ({s.recipe}{', ' + ' '.join(cfg.stage_overrides(s)) if cfg.stage_overrides(s) else ''})"
                               for s in cfg.stages)
        return RetrainReport("dry-run", f"retrain --dry-run: would export ({new} new resolved trajectories "
                                        f"{_since(since)}), train {stages}, evaluate against {current} on the "
                                        f"held-out split and suites {cfg.eval.suites} (limit {cfg.eval.limit}), "
                                        f"and promote only if the gate passes")

    def _fresh(self, new: int, since: datetime | None) -> RetrainReport:
        cfg, role = self.config, self.config.role
        run = start_retrain(self.store, role, self.holder, cfg.model_dump(mode="json"))
        until = datetime.now(timezone.utc)
        out = self.settings.home / "exports" / f"retrain-{run.id}"
        try:
            export = export_datasets(self.store, out, ExportOptions(
                until=until, min_confidence=cfg.export.min_confidence, scrub=cfg.export.scrub,
                heldout_fraction=cfg.export.heldout_fraction, human_weight=cfg.export.human_weight))
            self.log(export.summary())
            run = advance_retrain(self.store, run.id, "exported", export_id=export.export_id, export_dir=str(out),
                                  data_until=until)
            self.fault("exported")
            active = active_version(self.store, role)
            parent: int | None = None
            for stage in cfg.stages:
                parent = self.trainer(stage, cfg.stage_overrides(stage), out, parent)
                self.fault(f"trained:{stage.algo}")
            assert parent is not None
            _record_snapshot(self.store, parent, export.snapshot(), new)
            run = advance_retrain(self.store, run.id, "trained", candidate_id=parent,
                                  active_id=active.id if active else None)
            self.fault("trained")
            return self._gate(run)
        except Exception as exc:  # a crash (kill, power) skips this and leaves the stage for the next run
            line = f"retrain: failed at stage {run.stage}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            advance_retrain(self.store, run.id, "failed", summary=line)
            raise

    def _gate(self, run: RetrainRecord, resumed: bool = False) -> RetrainReport:
        cfg = self.config
        assert run.candidate_id is not None and run.export_dir is not None
        active = active_version(self.store, cfg.role)
        heldout = HeldOut(heldout_rows(Path(run.export_dir), cfg.eval.heldout_prompts),
                          heldout_pairs(Path(run.export_dir), cfg.eval.heldout_pairs))
        active_result = self.evaluator(active.id if active else None, heldout)
        candidate_result = self.evaluator(run.candidate_id, heldout)
        verdict = gate(candidate_result, active_result, cfg.gate)
        figures = {"passed": verdict.passed, "reasons": verdict.reasons, "figures": verdict.figures,
                   "active_id": active.id if active else None,
                   "eval_runs": {"candidate": getattr(candidate_result, "run_dir", None),
                                 "active": getattr(active_result, "run_dir", None)}}
        self.fault("gated")
        if not verdict.passed:
            set_gate(self.store, run.candidate_id, figures)
            why = "; ".join(r.removeprefix("FAIL ") for r in verdict.reasons if r.startswith("FAIL"))
            line = (f"retrain: kept {_name(active)}: candidate {run.candidate_id} failed the gate ({why}); "
                    f"it stays a candidate{f' (resumed run {run.id})' if resumed else ''}")
            advance_retrain(self.store, run.id, "rejected", figures_json=figures, summary=line)
            _drop_old_exports(self.settings, cfg.keep_exports)
            return RetrainReport("rejected", line, run.id, run.candidate_id, figures)
        run = advance_retrain(self.store, run.id, "evaluated", figures_json=figures,
                              active_id=active.id if active else None)
        return self._promote(run, resumed)

    def _promote(self, run: RetrainRecord, resumed: bool = False) -> RetrainReport:
        assert run.candidate_id is not None
        self.fault("promoting")
        before = active_version(self.store, self.config.role)
        done = promote(self.store, run.candidate_id, base_model=self.base_model, gate=run.figures_json)
        self.fault("promoted")
        removed = cleanup_retired(self.settings, self.store, self.config.role, self.config.keep_retired)
        _drop_old_exports(self.settings, self.config.keep_exports)
        head = (f"version {done.id} was already promoted" if before is not None and before.id == done.id
                else f"promoted version {done.id} (was {_name(before)})")
        line = (f"retrain: {head}{' after resuming run ' + str(run.id) if resumed else ''}; "
                + "; ".join(r.removeprefix("ok ") for r in run.figures_json.get("reasons", []))
                + (f"; removed {len(removed)} retired version(s)" if removed else ""))
        advance_retrain(self.store, run.id, "promoted", summary=line)
        return RetrainReport("promoted", line, run.id, done.id, run.figures_json)

    def _resume(self, pending: RetrainRecord) -> RetrainReport | None:
        """Finish a run a crash interrupted, or close it so a new one starts cleanly (None)."""
        candidate = get_version(self.store, pending.candidate_id) if pending.candidate_id else None
        active = active_version(self.store, self.config.role)
        self.log(f"retrain: found run {pending.id} interrupted at stage {pending.stage}")
        if pending.stage == "evaluated" and candidate is not None and candidate.status != "retired" \
                and (candidate.status == "active" or (active.id if active else None) == pending.active_id):
            return self._promote(pending, resumed=True)
        if pending.stage in ("trained", "evaluated") and candidate is not None and candidate.status == "candidate":
            return self._gate(pending, resumed=True)
        removed = _remove_orphans(self.settings, self.store, self.config.role, pending.started_at)
        advance_retrain(self.store, pending.id, "failed",
                        summary=f"retrain: run {pending.id} was interrupted at stage {pending.stage}; "
                                f"started again cleanly (removed {removed} unregistered adapter folder(s))")
        return None


def _record_snapshot(store: Store, version_id: int, snapshot: dict[str, Any], new: int) -> None:
    """Add the export's manifest (counts by source, constitution hashes, reviewers) to the version's dataset."""
    from oversight.store.tables import ModelVersion

    with store.session() as session:
        row = session.get(ModelVersion, version_id)
        if row is not None:
            trainer = dict(row.dataset_json or {})
            trainer["trainer_by_source"] = trainer.pop("by_source", None)
            row.dataset_json = {**trainer, **snapshot, "new_trajectories": new}


def _remove_orphans(settings: Settings, store: Store, role: str, after: datetime) -> int:
    """Adapter folders a killed trainer left behind: made after the run started, never registered."""
    root = settings.adapters_dir / role
    known = {Path(v.path).resolve() for v in list_versions(store, role)}
    removed = 0
    for folder in root.iterdir() if root.is_dir() else []:
        made = datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc)
        if folder.is_dir() and folder.resolve() not in known and made >= after:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _drop_old_exports(settings: Settings, keep: int) -> None:
    folders = sorted((p for p in (settings.home / "exports").glob("retrain-*") if p.is_dir()),
                     key=lambda p: int(p.name.split("-")[1]) if p.name.split("-")[1].isdigit() else 0)
    for folder in folders[:-keep]:
        shutil.rmtree(folder, ignore_errors=True)


def _name(version: Any) -> str:
    return f"version {version.id}" if version is not None else "the bare model"


def _since(since: datetime | None) -> str:
    return f"since the last retrain ({since:%Y-%m-%d %H:%M} UTC)" if since else "in the store"
