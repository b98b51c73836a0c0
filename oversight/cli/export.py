"""`export`: the store's resolved trajectories as training datasets (TRL conversational formats)."""

from __future__ import annotations

import argparse
from pathlib import Path

from oversight.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write training datasets from the store (example: export --out data/export)",
        description="Write SFT, preference and reward datasets (Hugging Face datasets in TRL's conversational "
                    "formats, train/test split fixed per prompt) plus a manifest from resolved trajectories of "
                    "production and datagen runs. Example: python -m oversight.run export --out data/export "
                    "--since 7d --scrub")
    p.add_argument("--out", required=True, type=Path, help="folder to write (created; an earlier export is replaced)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--since", metavar="TIME", help="only data resolved after TIME: ISO date/time (UTC) or 12h, 7d")
    start.add_argument("--since-version", type=int, metavar="N",
                       help="only data newer than what registry version N was trained on")
    p.add_argument("--source", choices=("ai", "human"), help="only AI-labelled or only human-decided rows")
    p.add_argument("--constitution", metavar="HASH", help="only runs under this constitution content hash")
    p.add_argument("--min-confidence", type=float, default=0.6, metavar="P",
                   help="leave out AI pairs whose probability is below P (default 0.6)")
    p.add_argument("--route", choices=("accepted", "revised", "escalated", "refused", "blocked"),
                   help="only trajectories that took this route")
    p.add_argument("--scrub", action="store_true", help="mask e-mail addresses, phone numbers and similar personal data")
    p.add_argument("--format", choices=("arrow", "jsonl"), default="arrow",
                   help="arrow: datasets.save_to_disk folders (default); jsonl: one file per split")
    p.add_argument("--heldout", type=float, default=0.1, metavar="FRACTION",
                   help="share of prompts held out for evaluation, by a stable hash of the prompt (default 0.1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from oversight.errors import OversightError
    from oversight.store import Store
    from oversight.train.export import export_datasets
    from oversight.train.export_config import ExportOptions, parse_time

    try:
        opts = ExportOptions(since=parse_time(args.since) if args.since else None, since_version=args.since_version,
                             source=args.source, constitution_hash=args.constitution,
                             min_confidence=args.min_confidence, route=args.route, scrub=args.scrub,
                             format=args.format, heldout_fraction=args.heldout)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise OversightError(f"export: {'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    result = export_datasets(Store.open(settings), args.out, opts)
    print(result.summary())
    by_source = result.manifest["by_source"]
    print("by source: " + "; ".join(f"{kind} ai {c['ai']}, human {c['human']}" for kind, c in by_source.items()))
    return 0
