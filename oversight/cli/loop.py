"""`loop`: show the alignment loop working: measure, generate data, train SFT then DPO, measure again."""

from __future__ import annotations

import argparse

from oversight.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "loop", help="run the whole alignment loop on the embedded model (example: loop --quick)",
        description="Evaluate the base model and the default graph on the loop suite, generate constitutional "
                    "data with the generate graph on training prompts, export it, train the base adapter (SFT, "
                    "then DPO), evaluate again and print before and after side by side with each stage's time. "
                    "About 20 minutes on 2 CPU cores. Example: python -m oversight.run loop --datagen-prompts 48")
    p.add_argument("--quick", action="store_true", help="a tiny run (a few items and prompts, 2 training steps)")
    p.add_argument("--limit", type=int, default=None, help="at most this many suite items")
    p.add_argument("--datagen-prompts", type=int, default=None, help="training prompts for data generation")
    p.add_argument("--harmful-share", type=float, default=None,
                   help="share of datagen prompts that are harmful or jailbreaks (default 0.4; the rest benign)")
    p.add_argument("--suite", default=None, help="eval suite (default: loop)")
    p.add_argument("--base-only", action="store_true", help="evaluate the base model only, not the graph")
    p.add_argument("--sft-set", action="append", default=[], metavar="KEY=VALUE", help="SFT recipe override")
    p.add_argument("--dpo-set", action="append", default=[], metavar="KEY=VALUE", help="DPO recipe override")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.store import Store
    from oversight.train.loop import run_loop
    from oversight.train.loop_config import LoopConfig
    from oversight.train.loop_report import before_after_table, stage_table, write_loop_report

    changes: dict[str, object] = {}
    if args.limit is not None:
        changes["eval_limit"] = args.limit
    if args.datagen_prompts is not None:
        changes["datagen_prompts"] = args.datagen_prompts
    if args.harmful_share is not None:
        changes["harmful_share"] = args.harmful_share
    if args.suite:
        changes["suite"] = args.suite
    if args.base_only:
        changes["skip_graph_eval"] = True
    config = LoopConfig.quick(**changes) if args.quick else LoopConfig(**changes)  # type: ignore[arg-type]
    if args.sft_set or args.dpo_set:
        config = config.model_copy(update={"sft_overrides": (*config.sft_overrides, *args.sft_set),
                                           "dpo_overrides": (*config.dpo_overrides, *args.dpo_set)})
    store = Store.open(settings)
    report = run_loop(settings, store, config, progress=True, log=print)
    path = write_loop_report(report)
    print()
    print(before_after_table(report))
    print()
    print(stage_table(report))
    print(f"candidate base versions: sft {report.versions['sft']}, dpo {report.versions.get('dpo', 'skipped')} "
          "(not promoted)")
    print(f"report: {path}")
    return 0
