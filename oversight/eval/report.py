"""The run folder's report.md and plots, and the compact terminal table.

The report says how every number was obtained: target versions, suite hashes, the
classifier method, Wilson intervals; plots are PNGs beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oversight.eval import plots
from oversight.eval.result import (BENIGN_REFUSAL, ESCALATION, HARMFUL_COMPLIANCE, HELDOUT_PREFERENCE, HELPFUL_REFUSAL,
                                   HELPFULNESS, JAILBREAK_SUCCESS, EvalResult)
from oversight.eval.stats import Rate
from oversight.settings import Settings

HEADLINE = (
    (HARMFUL_COMPLIANCE, "harmful compliance"), (JAILBREAK_SUCCESS, "jailbreak success"),
    (BENIGN_REFUSAL, "benign refusal"), (HELPFUL_REFUSAL, "helpful refusal"),
    (HELPFULNESS, "helpfulness (judge win rate)"), (ESCALATION, "escalated (held)"),
    (HELDOUT_PREFERENCE, "held-out pairs ranked right"),
)


def table(result: EvalResult) -> str:
    """The compact terminal table: headline rates with intervals, then throughput."""
    rows = [(label, str(result.rate(name))) for name, label in HEADLINE if result.rate(name)]
    for name in sorted(result.rates):
        if name.startswith(f"{ESCALATION}/"):
            rows.append((f"  escalated in {name.split('/', 1)[1]}", str(result.rate(name))))
    for key in ("safety_harmful_auroc", "safety_jailbreak_auroc", "heldout_preference_margin"):
        if result.figures.get(key) is not None:
            rows.append((key.replace("_", " "), f"{result.figures[key]:.3f}"))
    ipm = result.figures.get("items_per_minute")
    rows.append(("throughput", f"{ipm:.1f} items/min" if ipm else "n/a"))
    if result.figures.get("errors"):
        rows.append(("errors (left out)", f"{int(result.figures['errors'])}"))
    width = max(len(r[0]) for r in rows)
    head = f"eval {result.run_id}: {result.target} on {', '.join(result.suites)} ({result.split} split, " \
           f"{len(result.items)} items)"
    return "\n".join([head, "-" * len(head)] + [f"{a:<{width}}  {b}" for a, b in rows])


def _rate_rows(result: EvalResult, prefix: str | None) -> list[str]:
    out = []
    for name in sorted(result.rates):
        top = name.split("/", 1)[0]
        if (prefix is None and "/" in name) or (prefix is not None and top != prefix) or \
                (prefix is not None and "/" not in name):
            continue
        r = Rate.from_dict(result.rates[name])
        low, high = r.interval
        out.append(f"| {name} | {r.k}/{r.n} | {r.value:.1%} | {low:.1%} - {high:.1%} |")
    return out


def write_report(settings: Settings, store: Any, result: EvalResult, folder: Path, *, with_plots: bool = True
                 ) -> Path:
    """report.md (and PNGs) in `folder`; returns the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    images = _plots(settings, store, result, folder) if with_plots else []
    lines = [f"# Eval {result.run_id}", "",
             f"- target: `{result.target}`; versions: `{json.dumps(result.target_versions, default=str)[:600]}`",
             f"- suites: {', '.join(f'{n} ({h[:12]})' for n, h in result.suites.items())}; split {result.split}; "
             f"{len(result.items)} items; items hash `{result.suite_hash[:16]}`",
             f"- classifier: {result.classifier}",
             f"- created {result.created_at}, {result.seconds:.0f} s", "",
             "## Headline rates (95% Wilson intervals)", "", "| rate | k/n | value | interval |", "|---|---|---|---|"]
    lines += _rate_rows(result, None)
    for group, title in ((HARMFUL_COMPLIANCE, "Harmful compliance per category"),
                         (JAILBREAK_SUCCESS, "Jailbreak success per attack type"),
                         (BENIGN_REFUSAL, "Benign refusal per topic"), (ESCALATION, "Escalation per suite"),
                         ("off_topic", "Off-topic or empty answers per suite")):
        rows = _rate_rows(result, group)
        if rows:
            lines += ["", f"## {title}", "", "| rate | k/n | value | interval |", "|---|---|---|---|", *rows]
    lines += ["", "## Figures", ""]
    lines += [f"- {k}: {v:.3f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in sorted(result.figures.items())]
    if result.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in result.notes]]
    if result.pairs:
        lines += ["", "## Held-out preference pairs (mean log-probability per token)", "",
                  "| pair | chosen | rejected | margin |", "|---|---|---|---|"]
        lines += [f"| {p.id} | {p.chosen:.3f} | {p.rejected:.3f} | {p.margin:+.3f} |" for p in result.pairs]
    if images:
        lines += ["", "## Plots", "", *[f"![{p.stem}]({p.name})" for p in images]]
    lines += ["", "## Answers (first 200 characters)", "", "| id | label | held | answer |", "|---|---|---|---|"]
    for o in result.items:
        text = (o.response or "").replace("\n", " ").replace("|", "/")[:200]
        lines.append(f"| {o.id} | {o.label} | {'yes' if o.held else ''} | {text} |")
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def same_suite_runs(settings: Settings, result: EvalResult) -> list[EvalResult]:
    """Earlier runs in the data folder on the same items (for harm-vs-help), this one last."""
    found: dict[str, EvalResult] = {}
    root = settings.home / "evals"
    for path in sorted(root.glob("*/result.json")) if root.is_dir() else []:
        try:
            other = EvalResult.load(path)
        except Exception:  # noqa: BLE001 - a broken old run must not stop this report
            continue
        if other.suite_hash == result.suite_hash and other.run_id != result.run_id:
            found[other.target] = other  # the latest run of each target
    return [*found.values(), result]


def _plots(settings: Settings, store: Any, result: EvalResult, folder: Path) -> list[Path]:
    made = [plots.per_category(result, folder / "per_category.png"),
            plots.harm_vs_help(same_suite_runs(settings, result), folder / "harm_vs_help.png"),
            plots.safety_tradeoff(result, folder / "escalation_tradeoff.png")]
    if store is not None:
        from oversight.store import list_versions

        made.append(plots.training_curves(list_versions(store), folder / "training_curves.png"))
    return [p for p in made if p is not None]
