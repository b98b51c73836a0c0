"""Grow the classifier's labelled set with real answers: base answers and the reviser's rewrites.

Two steps around one graph run (the `generate` spec: base answer, critic, reviser, no
safety gate, so harmful prompts reach the reviser too):

  .venv/bin/python scripts/collect_labelled_rows.py prompts OUT.jsonl [--per-suite S=N ...]
      suite items for the run, spread over suites, attack types and categories;
  python -m oversight.run graph --spec generate --input OUT.jsonl --run-id RUN
  .venv/bin/python scripts/collect_labelled_rows.py extract RUN ROWS.jsonl
      every stored candidate of that run (any graph run in the store that OVERSIGHT_HOME or
      OVERSIGHT_DATABASE_URL names: generate, an eval of graph:default, the loop's datagen)
      as an unlabelled row: index 0 (the base answer; skipped where the labelled set already
      holds that item's base answer) as source `base`, index >= 1 (the reviser's rewrites)
      as source `revision`. Prompts of the training material (the loop's datagen) get
      suite `training` and the expected behaviour of their safety label;
  .venv/bin/python scripts/collect_labelled_rows.py results RESULT.json ROWS.jsonl --source NAME
      the answers of an eval run folder (`result.json`), never its labels: e.g. the loop's
      base model after SFT as source `trained-base`.

  .venv/bin/python scripts/collect_labelled_rows.py sample POOL.jsonl OUT.jsonl --take revision/harmful=8 ...
      a seeded random sample per SOURCE/SUITE group of such rows, to be labelled.

A person then reads each row and adds `label`; the rows carry no classifier output.

The 187 rows added on 2026-11-30 came from a copy of one `loop` run's store and eval folders
(a `generate` run of our own was too slow on the shared 2-core machine and was stopped):
`extract` of its graph:default eval run and its datagen run, `results` of its before (bare,
source base) and after (SFT base, source trained-base) base evals; `sample --seed 0` drew 108
rows across groups, then the other 49 datagen rewrites were all added, and 30 bare-model
answers to training prompts that expect a refusal (random.Random(1).sample).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from oversight.eval.suites import load_suites
from oversight.settings import PROJECT_DIR, Settings
from oversight.store import Store
from oversight.store.tables import Trajectory

LABELLED = PROJECT_DIR / "evals" / "labelled_responses.jsonl"
KINDS = ("harmful", "jailbreak", "benign_sensitive", "helpful")
SAFETY_MATERIAL = PROJECT_DIR / "constitutions" / "material" / "default" / "safety.jsonl"


def _labelled_ids() -> set[str]:
    return {json.loads(line)["id"] for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()}


def _spread(items: list, count: int) -> list:
    """`count` items taking turns across groups (attack type or category), so every group shows up."""
    groups: dict[str, list] = defaultdict(list)
    for item in items:
        groups[item.attack_type or item.category].append(item)
    picked: list = []
    while len(picked) < count and any(groups.values()):
        for name in sorted(groups):
            if groups[name] and len(picked) < count:
                picked.append(groups[name].pop(0))
    return picked


def write_prompts(out: Path, per_suite: dict[str, int]) -> None:
    """Suite items for the graph run; items whose base answer is labelled come last within a suite."""
    labelled = _labelled_ids()
    items = [item for suite in load_suites("all", PROJECT_DIR) for item in suite.items]
    with out.open("w", encoding="utf-8") as handle:
        for kind in KINDS:
            pool = [i for i in items if i.suite == kind]
            fresh = [i for i in pool if f"{i.id}:base" not in labelled]
            chosen = _spread(fresh, per_suite.get(kind, 0))
            chosen += _spread([i for i in pool if i not in chosen], per_suite.get(kind, 0) - len(chosen))
            for item in chosen:
                handle.write(json.dumps({"id": item.id, "prompt": item.prompt}, ensure_ascii=False) + "\n")
            print(f"{kind}: {len(chosen)} items")


def split_for(item_id: str) -> str:
    """dev or test by a hash of the item id: all answers to one prompt fall in the same split."""
    return "dev" if hashlib.sha256(item_id.encode()).digest()[0] % 2 == 0 else "test"


def _prompt_facts() -> dict[str, tuple[str, str]]:
    """item id -> (suite, expected) for suite items and the safety material's training prompts."""
    facts = {}
    for line in SAFETY_MATERIAL.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            facts[row["id"]] = ("training", "refuse" if row["harmful"] or row["jailbreak"] else "comply")
    for suite in load_suites("all", PROJECT_DIR):
        facts.update({item.id: (item.suite, item.expected) for item in suite.items})
    return facts


def _row(item_id: str, suite: str, expected: str, source: str, row_id: str, prompt: str, response: str,
         **extra: object) -> str:
    return json.dumps({"id": row_id, "item": item_id, "suite": suite, "source": source, "expected": expected,
                       "prompt": prompt, "response": response, **extra, "split": split_for(item_id)},
                      ensure_ascii=False) + "\n"


def results(result_path: Path, out: Path, source: str) -> None:
    """The answers of an eval run folder's result.json as unlabelled rows; its labels are not read."""
    labelled = _labelled_ids()
    prompts = {item.id: item.prompt for suite in load_suites("all", PROJECT_DIR) for item in suite.items}
    result = json.loads(result_path.read_text(encoding="utf-8"))
    written = 0
    with out.open("w", encoding="utf-8") as handle:
        for answer in result["items"]:
            row_id = f"{answer['id']}:{source}"
            if row_id in labelled or not (answer["response"] or "").strip():
                continue
            handle.write(_row(answer["id"], answer["suite"], answer["expected"], source, row_id,
                              prompts[answer["id"]], answer["response"], run=result["run_id"]))
            written += 1
    print(f"{written} rows from {result_path} -> {out}")


def extract(run_id: str, out: Path) -> None:
    """Every candidate of a stored run as an unlabelled row (no label, no classifier output)."""
    labelled = _labelled_ids()
    facts = _prompt_facts()
    store = Store.open(Settings.from_env())
    query = (select(Trajectory).where(Trajectory.run_id == run_id).order_by(Trajectory.id)
             .options(selectinload(Trajectory.candidates)))
    written = 0
    with store.session() as session, out.open("w", encoding="utf-8") as handle:
        for trajectory in session.scalars(query):
            suite, expected = facts[trajectory.prompt_id]
            for candidate in trajectory.candidates:
                source = "base" if candidate.index == 0 else "revision"
                row_id = (f"{trajectory.prompt_id}:base" if source == "base"
                          else f"{trajectory.prompt_id}:rev{candidate.index}:{run_id}")
                if row_id in labelled or not candidate.text.strip():
                    continue
                handle.write(_row(trajectory.prompt_id, suite, expected, source, row_id, trajectory.prompt,
                                  candidate.text, run=run_id, candidate_index=candidate.index))
                written += 1
    print(f"{written} rows from run {run_id} -> {out}")


def sample(pool: Path, out: Path, take: dict[str, int], seed: int) -> None:
    """`take[SOURCE/SUITE]` rows drawn at random (seeded) from each group of the pool."""
    groups: dict[str, list[str]] = defaultdict(list)
    for line in pool.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            groups[f"{row['source']}/{row['suite']}"].append(line)
    rng = random.Random(seed)
    with out.open("a", encoding="utf-8") as handle:
        for group, count in take.items():
            picked = rng.sample(groups[group], min(count, len(groups[group])))
            handle.writelines(line + "\n" for line in picked)
            print(f"{group}: {len(picked)} of {len(groups[group])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    prompts = commands.add_parser("prompts", help="write suite prompts for a graph run")
    prompts.add_argument("out", type=Path)
    prompts.add_argument("--per-suite", nargs="*", default=["harmful=24", "jailbreak=30",
                                                            "benign_sensitive=16", "helpful=10"],
                         help="SUITE=N pairs")
    rows = commands.add_parser("extract", help="stored candidates of a run as unlabelled rows")
    rows.add_argument("run_id")
    rows.add_argument("out", type=Path)
    answers = commands.add_parser("results", help="an eval result.json's answers as unlabelled rows")
    answers.add_argument("result", type=Path)
    answers.add_argument("out", type=Path)
    answers.add_argument("--source", required=True, help="row source, e.g. base or trained-base")
    draw = commands.add_parser("sample", help="a seeded random sample of pool rows per source/suite (appends)")
    draw.add_argument("pool", type=Path)
    draw.add_argument("out", type=Path)
    draw.add_argument("--take", nargs="+", required=True, help="SOURCE/SUITE=N pairs")
    draw.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.command == "prompts":
        write_prompts(args.out, {k: int(v) for k, v in (pair.split("=", 1) for pair in args.per_suite)})
    elif args.command == "sample":
        sample(args.pool, args.out, {k: int(v) for k, v in (pair.split("=", 1) for pair in args.take)}, args.seed)
    elif args.command == "results":
        results(args.result, args.out, args.source)
    else:
        extract(args.run_id, args.out)


if __name__ == "__main__":
    main()
