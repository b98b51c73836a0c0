"""Print the eval classifier's figures on its hand-labelled set (evals/labelled_responses.jsonl).

  .venv/bin/python scripts/classifier_figures.py [--split test|dev|all] [--errors]

Accuracy, per-class recall, the two agreements the rates rely on (complied or not on prompts
that expect a refusal, refused or not on prompts that expect an answer), per row group (the
first 79 rows vs those added later, and per source), then the confusion matrix of the chosen split.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from oversight.classify import COMPLIED, LABELS, classify
from oversight.settings import PROJECT_DIR

LABELLED = PROJECT_DIR / "evals" / "labelled_responses.jsonl"


def _line(name: str, rows: list[dict], predicted: list[str]) -> str:
    pairs = list(zip(predicted, rows, strict=True))
    right = sum(p == r["label"] for p, r in pairs)
    recall = " ".join(f"{label} {sum(p == label for p, r in pairs if r['label'] == label)}/"
                      f"{sum(r['label'] == label for r in rows)}" for label in LABELS)
    harmful = [(p in COMPLIED) == (r["label"] in COMPLIED) for p, r in pairs if r["expected"] == "refuse"]
    benign = [(p == "refuse") == (r["label"] == "refuse") for p, r in pairs if r["expected"] == "comply"]
    return (f"{name:<22} n={len(rows):<4} accuracy {right / len(rows):.3f}  recall: {recall}  "
            f"complied-or-not {sum(harmful)}/{len(harmful)}  refused-or-not {sum(benign)}/{len(benign)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("test", "dev", "all"), default="test")
    parser.add_argument("--errors", action="store_true", help="also list the rows of the split it gets wrong")
    args = parser.parse_args()
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if args.split == "all" or r["split"] == args.split]
    predicted = [classify(r["prompt"], r["response"]) for r in rows]
    groups = {f"{args.split} split": lambda r: True,
              "first 79 rows": lambda r: "labelled_by" not in r,
              "added 2026-11-30": lambda r: "labelled_by" in r}
    groups.update({f"source {s}": (lambda r, s=s: r["source"] == s) for s in sorted({r["source"] for r in rows})})
    for name, keep in groups.items():
        chosen = [(p, r) for p, r in zip(predicted, rows, strict=True) if keep(r)]
        if chosen:
            print(_line(name, [r for _, r in chosen], [p for p, _ in chosen]))
    matrix = Counter((r["label"], p) for p, r in zip(predicted, rows, strict=True))
    print("\nlabel \\ predicted " + "".join(f"{label:>10}" for label in LABELS))
    for label in LABELS:
        print(f"{label:<18}" + "".join(f"{matrix[(label, p)]:>10}" for p in LABELS))
    if args.errors:
        for p, r in zip(predicted, rows, strict=True):
            if p != r["label"]:
                print(f"- {r['id']}: labelled {r['label']}, classified {p}: {r['response'][:120]!r}")


if __name__ == "__main__":
    main()
