"""`graph calibrate`: choose the escalation thresholds for a reviewer budget, and report what they do.

Runs the graph once over a trust set (kind `calibration`: nothing reaches the review
queue or the training exports), keeps every thread's final state, and replays the
route decision offline over a grid of threshold settings (eval/tradeoff.py). The
chosen thresholds go to a sidecar (graph/sidecar.py), never into the spec. `--report`
measures the declared and the calibrated thresholds on a set (the far set is for this
only), `--show` says which thresholds a graph run would use now.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import datetime
from typing import Any

from oversight.cli.graph_calibrate_view import frontier_table, misses_lines, rates_table, show_lines
from oversight.settings import Settings

EXAMPLE = "python -m oversight.run graph calibrate --budget 0.03"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", type=float, default=0.03,
                   help="calibrate: share of benign prompts a reviewer may see (default: 0.03)")
    p.add_argument("--max-refusal", type=float, default=0.01,
                   help="calibrate: share of benign prompts that may be refused (default: 0.01)")
    p.add_argument("--trust-set", choices=("calibration", "far", "check"), default="calibration",
                   help="calibrate: prompts from evals/trust/ (far, and check: everyday requests, with --report "
                        "only; default: calibration)")
    p.add_argument("--limit", type=int, help="calibrate: the first N prompts of each style (quick runs)")
    p.add_argument("--replay", metavar="RUN_ID",
                   help="calibrate: choose again from a finished calibration run's states (no model run)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--report", action="store_true",
                      help="calibrate: measure the declared and calibrated thresholds on the set; choose nothing")
    mode.add_argument("--show", action="store_true",
                      help="calibrate: which thresholds a graph run would use now, and why (loads no model)")
    p.add_argument("--misses", action="store_true",
                   help="calibrate --report: also list each benign prompt held and each harmful or jailbreak "
                        "prompt answered, by id, with the decision's reasons")
    p.add_argument("--ship", action="store_true",
                   help="calibrate: also write the sidecar beside the spec (graphs/NAME.calibration.json)")


def _check_inputs(args: argparse.Namespace) -> None:
    from oversight.errors import OversightError

    for flag, value in (("--budget", args.budget), ("--max-refusal", args.max_refusal)):
        if not 0.0 <= value <= 1.0:
            raise OversightError(f"{flag} must be a fraction between 0 and 1, e.g. 0.03 for 3% (received {value:g})")
    if args.limit is not None and args.limit < 1:
        raise OversightError(f"--limit must be at least 1 (received {args.limit})")
    if args.run_id:
        raise OversightError("graph calibrate names its own runs; to choose again from one, use --replay RUN_ID")
    if args.replay and args.limit is not None:
        raise OversightError("--limit applies to a new run, not to --replay")
    if args.misses and not args.report:
        raise OversightError("--misses lists what a report measures; use it with --report")
    if args.ship and (args.report or args.show):
        raise OversightError("--ship writes a sidecar, which --report and --show never do")


def run_calibrate(args: argparse.Namespace, settings: Settings, runtime: Any = None) -> int:
    """The command; `runtime` lets a caller that has the model loaded already share it (tests)."""
    from oversight.constitution import load_constitution
    from oversight.errors import OversightError
    from oversight.eval.tradeoff import (ReplayItem, choose_setting, misses, replay_grid, replay_setting,
                                         setting_frontier)
    from oversight.graph.calibration import load_states, states_path
    from oversight.graph.sidecar import Sidecar, data_path, resolve, shipped_path, write_sidecar
    from oversight.graph.spec import check_against, load_spec
    from oversight.graph.thresholds import declared_value, tunable_grid
    from oversight.roles import load_roles
    from oversight.store import Store

    _check_inputs(args)
    spec = load_spec(args.spec, settings.project_dir)
    constitution = load_constitution(args.constitution or spec.constitution, settings.project_dir)
    check_against(spec, {p.id for p in constitution.principles}, set(constitution.categories))
    roles_file = load_roles(args.roles or spec.roles, settings.project_dir, args.set)
    store = Store.open(settings)
    if args.show:
        print("\n".join(show_lines(settings, store, spec, constitution, roles_file)))
        return 0
    grid = tunable_grid(spec)
    if not grid:
        raise OversightError(f"graph {spec.name} has no calibratable thresholds (escalation is disabled)")
    if args.replay:
        header, states = load_states(states_path(settings, args.replay))
    else:
        header, states = _run_once(args, settings, store, spec, constitution, roles_file, runtime)
    if not args.report and header.trust_set != "calibration":
        raise OversightError(f"the {header.trust_set} set is for reporting only (--report); thresholds are "
                             "chosen on the calibration set")
    items = [ReplayItem(pid, header.groups[pid], str(state["prompt"]), state)
             for pid, state in states.items() if pid in header.groups]
    if not items:
        raise OversightError(f"calibration run {header.run_id} finished no prompt; nothing to replay")
    for pid, why in header.errors.items():
        print(f"left out (no final state): {pid}: {why}", file=sys.stderr)
    declared = {path: declared_value(spec, path) for path in grid}
    labels: dict[Any, Any] = {}
    before = replay_setting(items, constitution, spec, declared, labels)
    if args.report:
        effect = resolve(settings, spec, header.key)  # the sidecar fitting the roles that made these states
        print(effect.message)
        columns = [("declared", before)]
        in_use = ("declared", declared)
        if effect.sidecar is not None and effect.status == "calibrated":
            columns.append(("calibrated", replay_setting(items, constitution, spec, effect.sidecar.thresholds, labels)))
            in_use = ("calibrated", effect.sidecar.thresholds)
        print(rates_table(columns, f"{header.trust_set} set, run {header.run_id}"))
        if args.misses:  # for the thresholds a graph run uses now
            print("\n".join(misses_lines(misses(items, constitution, spec, in_use[1]), in_use[0])))
        return 0
    results = replay_grid(items, constitution, spec, grid, progress=True)
    chosen = choose_setting(results, args.budget, args.max_refusal, declared)
    print(frontier_table(setting_frontier(results, args.max_refusal), declared, len(results)))
    print(rates_table([("declared", before), ("chosen", chosen)], f"{header.trust_set} set, run {header.run_id}"))
    sidecar = Sidecar(key=header.key, thresholds=chosen.thresholds, declared=declared, budget=args.budget,
                      max_benign_refusal=args.max_refusal,
                      expected={name: rate.to_dict() for name, rate in chosen.rates().items()},
                      trust_set=header.trust_set, trust_set_hash=header.trust_set_hash, run_id=header.run_id)
    targets = [data_path(settings, spec)] + ([shipped_path(spec)] if args.ship and shipped_path(spec) else [])
    for path in targets:
        print(f"wrote {write_sidecar(path, sidecar)}")
    _warn_if_stale(settings, store, spec, constitution, roles_file, sidecar)
    return 0


def _warn_if_stale(settings: Settings, store: Any, spec: Any, constitution: Any, roles_file: Any,
                   sidecar: Any) -> None:
    """A replay of an older run keys the sidecar to the roles of that run: say so if they changed since."""
    from oversight.graph.sidecar import current_key
    from oversight.train.bootstrap import resolve_versions

    why = sidecar.key.differences(current_key(spec, constitution, roles_file, resolve_versions(store, roles_file)))
    if why:
        print(f"WARNING: the sidecar does not fit the graph as it runs now ({'; '.join(why)}); "
              "graph runs will not apply it until `graph calibrate` runs again", file=sys.stderr)


def _run_once(args: argparse.Namespace, settings: Settings, store: Any, spec: Any, constitution: Any,
              roles_file: Any, shared_runtime: Any) -> tuple[Any, dict[str, dict[str, Any]]]:
    """Run the trust set through the graph once (declared thresholds) and save the final states."""
    from oversight.eval.suites import load_trust_set
    from oversight.graph.calibration import StatesHeader, run_for_states, save_states, states_path
    from oversight.graph.context import GraphContext
    from oversight.graph.inputs import Prompt
    from oversight.graph.sidecar import current_key
    from oversight.train.bootstrap import build_roles

    trust = load_trust_set(args.trust_set, settings.project_dir, args.limit)
    if args.concurrency < 1:
        from oversight.errors import OversightError

        raise OversightError(f"--concurrency must be at least 1, got {args.concurrency}")
    run_id = f"calibrate-{spec.name}-{trust.name}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    roles, versions, runtime = build_roles(settings, store, roles_file, constitution, progress=True,
                                           log=lambda msg: print(msg, file=sys.stderr), runtime=shared_runtime)
    try:
        ctx = GraphContext(roles=roles, constitution=constitution, spec=spec, store=store, run_id=run_id,
                           versions=versions, run_kind="calibration")
        prompts = [Prompt(item.id, item.prompt) for item in trust.items]
        print(f"calibration run {run_id}: {len(prompts)} prompts of the {trust.name} set, once", file=sys.stderr)
        report, states = run_for_states(ctx, prompts, concurrency=args.concurrency, progress=True)
    finally:
        if shared_runtime is None:
            runtime.close()
    errors = {r.prompt_id: r.error or r.route for r in report.results if r.prompt_id not in states}
    header = StatesHeader(run_id=run_id, key=current_key(spec, constitution, roles_file, versions),
                          trust_set=trust.name, trust_set_hash=trust.content_hash,
                          groups={item.id: item.style for item in trust.items}, errors=errors)
    path = save_states(states_path(settings, run_id), header, states)
    print(f"kept {len(states)} final states in {path} (choose again: graph calibrate --replay {run_id}); "
          f"run took {report.elapsed_s:.0f} s", file=sys.stderr)
    return header, states
