"""`graph`: run prompts through an oversight graph spec and summarise what happened."""

from __future__ import annotations

import argparse
from typing import Any

from oversight.cli import graph_calibrate, graph_prune
from oversight.settings import Settings

EXAMPLE = ('example: python -m oversight.run graph --prompt "How do I pick a lock?" --show-reasoning')


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "graph", help=f"run prompts through the oversight graph ({EXAMPLE})",
        description="Answer prompts through a graph spec (base, safety, critic and revise, judge, "
                    "escalate, persist); print the final responses and a summary table. Without "
                    f"--prompt or --input it runs samples/prompts.jsonl. {EXAMPLE}")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--prompt", help="one prompt given on the command line")
    source.add_argument("--input", help="prompts file: JSONL ({\"id\", \"prompt\"} per line) or text, one a line")
    p.add_argument("--spec", default="default", help="graph spec name under graphs/ or a path (default: default)")
    p.add_argument("--constitution", help="constitution name or path (default: the spec's)")
    p.add_argument("--roles", help="roles file name or path (default: the spec's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a roles setting, e.g. roles.base.generation.max_new_tokens=64")
    p.add_argument("--run-id", help="name the run; rerunning the same id resumes it and skips finished prompts")
    p.add_argument("--output", help="write one JSON line per prompt to this file")
    p.add_argument("--show-reasoning", action="store_true",
                   help="also show critiques, safety analysis and judge results (internal)")
    p.add_argument("--concurrency", type=int, default=32, help="prompts in flight at once (default: 32)")
    p.add_argument("action", nargs="?", choices=("run", "prune", "calibrate"), default="run",
                   help="run: answer prompts (default); prune: drop checkpoints of finished threads "
                        f"({graph_prune.EXAMPLE}); calibrate: choose escalation thresholds for a reviewer "
                        f"budget ({graph_calibrate.EXAMPLE})")
    graph_prune.add_arguments(p)
    graph_calibrate.add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import json
    import sys
    import uuid
    from datetime import datetime
    from pathlib import Path

    from oversight.constitution import load_constitution
    from oversight.errors import OversightError
    from oversight.graph.context import GraphContext
    from oversight.train.bootstrap import build_roles
    from oversight.graph.inputs import check_run_id, read_prompts, single_prompt
    from oversight.graph.runner import open_checkpointer, run_prompts
    from oversight.graph.build import compile_spec
    from oversight.graph.sidecar import in_effect
    from oversight.graph.spec import check_against, load_spec
    from oversight.roles import load_roles
    from oversight.store import Store

    if args.action == "prune":
        return graph_prune.run_prune(args, settings)
    if args.action == "calibrate":
        return graph_calibrate.run_calibrate(args, settings)
    if args.concurrency < 1:
        raise OversightError(f"--concurrency must be at least 1, got {args.concurrency}")
    check_run_id(args.run_id)
    spec = load_spec(args.spec, settings.project_dir)
    constitution = load_constitution(args.constitution or spec.constitution, settings.project_dir)
    check_against(spec, {p.id for p in constitution.principles}, set(constitution.categories))
    roles_file = load_roles(args.roles or spec.roles, settings.project_dir, args.set)
    if args.prompt is not None:
        prompts = single_prompt(args.prompt)
    else:
        prompts = read_prompts(Path(args.input) if args.input else settings.project_dir / "samples" / "prompts.jsonl")
    for problem in prompts.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    if not prompts.prompts:
        raise OversightError("no runnable prompts (every line was skipped)")
    run_id = args.run_id or f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    store = Store.open(settings)
    roles, versions, runtime = build_roles(settings, store, roles_file, constitution, progress=True,
                                           log=lambda msg: print(msg, file=sys.stderr))
    try:
        thresholds = in_effect(settings, spec, constitution, roles_file, versions)
        print(thresholds.message, file=sys.stderr)
        ctx = GraphContext(roles=roles, constitution=constitution, spec=spec, store=store, run_id=run_id,
                           versions={**versions, "calibration": thresholds.record()},
                           decision_spec=thresholds.decision_spec)
        with open_checkpointer(settings) as saver:
            graph = compile_spec(spec, checkpointer=saver)
            report = run_prompts(graph, ctx, prompts.prompts, concurrency=args.concurrency, progress=True)
    finally:
        runtime.close()
    for result in report.results:
        print(f"\n[{result.prompt_id}] {result.prompt}")
        print(f"→ {result.final_response if result.final_response is not None else '(waiting for a human review)'}")
        for notice in result.notices:
            print(f"  notice: {notice}")
        if args.show_reasoning:
            print(_reasoning(result))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            for result in report.results:
                out.write(json.dumps(result.full() if args.show_reasoning else result.visible(),
                                     ensure_ascii=False) + "\n")
    print()
    print(summary_table(report, spec.name, thresholds.status))
    return 1 if report.count("error") else 0


def _reasoning(result: Any) -> str:
    """Internal reasoning, indented and labelled so it never reads as the answer."""
    lines = [f"  route: {result.route} ({result.status})"]
    lines += [f"  reason: {r}" for r in result.reasons]
    safety = result.reasoning.get("safety")
    if safety:
        resp = safety.get("response_harmful_prob")
        lines.append(f"  safety: request harmful p={safety['harmful_prob']:.2f}, jailbreak p={safety['jailbreak_prob']:.2f}"
                     + (f", answer harmful p={resp:.2f}" if resp is not None else "")
                     + (f", category {safety['top_category']}" if safety.get("top_category") else ""))
    for cand in result.reasoning.get("candidates", []):
        lines.append(f"  candidate {cand['index']} ({cand['source']}, round {cand['round']}): {cand['text']}")
        for c in cand.get("critiques", []):
            if c["violated"]:
                lines.append(f"    critic: {c['principle_id']} violated p={c['violation_prob']:.2f}"
                             + (f" - {c['text']}" if c.get("text") else ""))
    for j in result.reasoning.get("judgments", []):
        lines.append(f"  judge: candidate {j['b_index']} vs 0 under {j['principle_id'] or 'all (combined)'}: "
                     f"P(better)={j['prob_b_better']:.2f}")
    return "\n".join(lines)


def summary_table(report: Any, spec_name: str, thresholds: str = "declared") -> str:
    rows = [("answered as is", report.count("accepted")), ("revised", report.count("revised")),
            ("escalated", report.count("escalated")), ("refused", report.count("refused", "blocked")),
            ("errors", report.count("error")), ("total", len(report.results))]
    confidence = report.mean_judge_confidence
    elapsed = report.elapsed_s
    tokens = report.generated_tokens
    rows += [("mean judge confidence", "n/a" if confidence is None else f"{confidence:.2f}"),
             ("tokens/s", "n/a" if not tokens else f"{tokens / elapsed:.1f}"),
             ("prompts/min", f"{60 * sum(1 for r in report.results if r.status != 'skipped') / elapsed:.1f}"
              if elapsed > 0 else "n/a"),
             ("elapsed", f"{elapsed:.1f} s"), ("thresholds", thresholds)]
    width = max(len(name) for name, _ in rows)
    lines = [f"run {report.run_id} (graph {spec_name})", "-" * (width + 12)]
    lines += [f"{name:<{width}}  {value:>8}" for name, value in rows]
    return "\n".join(lines)
