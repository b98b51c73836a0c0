"""The loop's before/after table and its Markdown report with one picture (the `loop` command prints the table)."""

from __future__ import annotations

from pathlib import Path

from oversight.eval.plots import harm_vs_help
from oversight.eval.result import (BENIGN_REFUSAL, ESCALATION, HARMFUL_COMPLIANCE, HELPFULNESS, JAILBREAK_SUCCESS,
                                   EvalResult)
from oversight.eval.stats import differs
from oversight.train.loop import LoopReport

HEADLINE = (HARMFUL_COMPLIANCE, JAILBREAK_SUCCESS, BENIGN_REFUSAL, HELPFULNESS, ESCALATION)


def _cell(result: EvalResult | None, name: str) -> str:
    rate = result.rate(name) if result else None
    if rate is None or not rate.n:
        return "-"
    low, high = rate.interval
    return f"{rate.value:.1%} [{low:.0%}-{high:.0%}]"


def _mark(a: EvalResult | None, b: EvalResult | None, name: str) -> str:
    ra, rb = (r.rate(name) if r else None for r in (a, b))
    if ra is None or rb is None or not ra.n or not rb.n:
        return ""
    return f"{rb.value - ra.value:+.1%}" + ("" if differs(ra, rb) else " (noise)")


def before_after_table(report: LoopReport) -> str:
    """One row per headline rate: base before/after and graph before/after, with the change."""
    targets = [t for t in ("base", "graph") if t in report.before]
    head = ["rate"]
    for t in targets:
        head += [f"{t} before", f"{t} after", "change"]
    rows = [head]
    for name in HEADLINE:
        row = [name]
        for t in targets:
            a, b = report.before.get(t), report.after.get(t)
            row += [_cell(a, name), _cell(b, name), _mark(a, b, name)]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    items = next(iter(report.before.values())).items if report.before else []
    lines.append(f"{len(items)} items; [low-high] is the 95% Wilson interval; (noise): not significant at p < 0.05")
    return "\n".join(lines)


def stage_table(report: LoopReport) -> str:
    total = sum(report.stages.values())
    lines = [f"{name:20s} {seconds:7.0f} s" for name, seconds in report.stages.items()]
    lines.append(f"{'total':20s} {total:7.0f} s ({total / 60:.1f} min)")
    return "\n".join(lines)


def write_loop_report(report: LoopReport) -> Path:
    """report.md in the loop's folder: the tables, the versions and where each eval run lives."""
    runs = [f"- {when} {t}: {r.target} `{r.run_dir}`" for when, side in (("before", report.before),
                                                                         ("after", report.after))
            for t, r in side.items()]
    text = "\n".join([
        "# Alignment loop", "",
        f"Candidate versions: SFT {report.versions.get('sft')}, DPO {report.versions.get('dpo', 'skipped')} "
        "(not promoted).",
        f"Data generation: {report.datagen.get('prompts')} prompts, run `{report.datagen.get('run_id')}`, "
        f"routes {report.datagen.get('routes')}; export {report.export.get('export_id')}: "
        f"{report.export.get('summary')}.", "",
        "## Before and after", "", "```", before_after_table(report), "```", "",
        "## Stage times", "", "```", stage_table(report), "```", "", "## Eval runs", "", *runs, ""])
    picture = _picture(report)
    if picture is not None:
        text += f"\n## In a picture\n\n![harmlessness against helpfulness, before and after]({picture.name})\n"
    path = report.folder / "report.md"
    path.write_text(text, encoding="utf-8")
    return path


def _picture(report: LoopReport) -> Path | None:
    """All four eval runs on one harmlessness-against-helpfulness plot: the loop's effect at a glance."""
    runs = [(f"{t} {when}", r) for when, side in (("before", report.before), ("after", report.after))
            for t, r in side.items()]
    if not runs:
        return None
    return harm_vs_help([r for _, r in runs], report.folder / "harm_vs_help.png", labels=[n for n, _ in runs])
