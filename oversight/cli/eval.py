"""`eval`: measure a target on the evaluation suites; `eval compare` two runs; `eval escalation` vs humans."""

from __future__ import annotations

import argparse
import sys

from oversight.settings import Settings

EXAMPLE = "example: python -m oversight.run eval --target base --suite all --limit 10"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help=f"evaluate base, base@VERSION or graph:SPEC on the suites ({EXAMPLE})",
        description="Run evaluation suites (evals/suites/) against the bare base model, a registry version of "
                    "its adapter (base@ID) or a whole graph spec (graph:default); print a compact table and "
                    "write result.json, report.md and PNG plots to $OVERSIGHT_HOME/evals/RUN_ID/. "
                    "`eval compare RUN_A RUN_B` prints two runs side by side, marking differences inside the "
                    "noise; `eval escalation` measures the judge against human review decisions. " + EXAMPLE)
    p.add_argument("action", nargs="?", default="run", choices=("run", "compare", "escalation"),
                   help="run (default), compare RUN_A RUN_B, or escalation")
    p.add_argument("runs", nargs="*", help="for compare: two run ids (or run folders / result.json paths)")
    p.add_argument("--target", default="base", help="base, base@VERSION (registry id) or graph:SPEC (default: base)")
    p.add_argument("--suite", default="all",
                   help="suite name under evals/suites/, comma-separated names, or all (default: all)")
    p.add_argument("--split", default="test", choices=("test", "dev", "all"), help="item split (default: test)")
    p.add_argument("--limit", type=int, help="at most N items per suite (quick runs)")
    p.add_argument("--run-id", help="name the run folder (default: time-target-random)")
    p.add_argument("--concurrency", type=int, default=32, help="items in flight at once (default: 32)")
    p.add_argument("--no-judge", action="store_true",
                   help="base targets: skip the judge (no helpfulness, no safety AUROC; no role training needed)")
    p.add_argument("--budget", type=float, default=0.2,
                   help="escalation: share of agreed cases a reviewer may see (default: 0.2)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.errors import OversightError

    if args.action == "compare":
        if len(args.runs) != 2:
            raise OversightError("eval compare needs exactly two run ids: eval compare RUN_A RUN_B")
        return _compare(args, settings)
    if args.runs:
        raise OversightError(f"unexpected arguments {' '.join(args.runs)} (only `eval compare` takes run ids)")
    if args.action == "escalation":
        return _escalation(args, settings)
    return _run(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.constitution import load_constitution
    from oversight.errors import OversightError
    from oversight.eval.report import table
    from oversight.eval.runner import evaluate
    from oversight.eval.suites import load_suites, select
    from oversight.eval.targets import base_version, parse_target
    from oversight.graph.spec import load_spec
    from oversight.roles import load_roles
    from oversight.store import Store
    from oversight.train.bootstrap import build_roles

    if args.concurrency < 1:
        raise OversightError(f"--concurrency must be at least 1, got {args.concurrency}")
    split = None if args.split == "all" else args.split
    target = parse_target(args.target)
    suites = load_suites(args.suite, settings.project_dir)
    select(suites, split, args.limit)  # fail on an empty selection before loading anything
    store = Store.open(settings)
    if target.version is not None:
        base_version(store, target.version)
    roles = versions = runtime = None
    if target.kind == "graph" or not args.no_judge:
        spec = load_spec(target.spec or "default", settings.project_dir)
        roles_file = load_roles(spec.roles, settings.project_dir)
        constitution = load_constitution(spec.constitution, settings.project_dir)
        roles, versions, runtime = build_roles(settings, store, roles_file, constitution, progress=True,
                                               log=lambda msg: print(msg, file=sys.stderr))
    try:
        result = evaluate(settings, store, args.target, suites, runtime=runtime, roles=roles, progress=True,
                          limit=args.limit, split=split, concurrency=args.concurrency, run_id=args.run_id,
                          versions=versions)
    finally:
        if runtime is not None:
            runtime.close()
    print(table(result))
    print(f"report: {result.run_dir}/report.md")
    return 0


def _compare(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.eval.compare import compare_table, load_run

    a, b = (load_run(settings, r) for r in args.runs)
    print(compare_table(a, b))
    return 0


def _escalation(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.errors import OversightError
    from oversight.eval.escalation import escalation_quality, human_checks
    from oversight.store import Store
    from oversight.store.queue import list_reviews

    store = Store.open(settings)
    checks = human_checks(list_reviews(store, status=None, limit=None))
    folder = settings.home / "evals" / "escalation"
    report = escalation_quality(checks, folder, budget=args.budget)
    if report is None:
        raise OversightError("no human decisions with judge probabilities in the review queue yet")
    thr = report["threshold"]
    ece = "n/a" if report["ece"] is None else f"{report['ece']:.3f}"
    print(f"{report['cases']} reviewed cases, {report['judge_errors']} where the reviewer overruled the judge")
    print(f"judge calibration against reviewers (ECE): {ece} on {report['calibrated_cases']} cases")
    print(f"budget {args.budget:.0%}: escalate when uncertainty >= {thr['threshold']:.3f}: catches "
          f"{thr['caught_rate']:.0%} of overruled cases, escalates {thr['escalation_rate']:.0%} of agreed ones")
    print("note: reviewed cases were escalated already; these figures describe the hard cases")
    for key in ("reliability_png", "tradeoff_png"):
        if report.get(key):
            print(f"plot: {report[key]}")
    return 0
