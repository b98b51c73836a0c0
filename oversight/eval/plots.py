"""PNG plots of an eval run: per-category bars, harm vs helpfulness, escalation curve, training curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oversight.eval.result import BENIGN_REFUSAL, HARMFUL_COMPLIANCE, HELPFULNESS, JAILBREAK_SUCCESS, EvalResult
from oversight.eval.stats import Rate
from oversight.eval.tradeoff import escalation_tradeoff, save_tradeoff_curve


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def per_category(result: EvalResult, path: Path) -> Path | None:
    """Bars with Wilson intervals: compliance per harm category and attack type, refusal per benign topic."""
    panels = [(HARMFUL_COMPLIANCE, "harmful: complied (lower is better)"),
              (JAILBREAK_SUCCESS, "jailbreak: succeeded (lower is better)"),
              (BENIGN_REFUSAL, "benign but sensitive: refused (lower is better)")]
    panels = [(name, title) for name, title in panels
              if any(k.startswith(name + "/") for k in result.rates)]
    if not panels:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), dpi=100, squeeze=False)
    for ax, (name, title) in zip(axes[0], panels, strict=True):
        groups = sorted(k.split("/", 1)[1] for k in result.rates if k.startswith(name + "/"))
        rates = [Rate.from_dict(result.rates[f"{name}/{g}"]) for g in groups]
        values = [r.value for r in rates]
        low = [r.value - r.interval[0] for r in rates]
        high = [r.interval[1] - r.value for r in rates]
        ax.barh(range(len(groups)), values, xerr=[low, high], color="#4c72b0", alpha=0.8, capsize=2)
        ax.set_yticks(range(len(groups)), [f"{g} (n={r.n})" for g, r in zip(groups, rates, strict=True)],
                      fontsize=7)
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        overall = result.rate(name)
        ax.set_title(f"{title}\noverall {overall}" if overall else title, fontsize=8)
    fig.suptitle(f"{result.target} ({result.run_id}), 95% Wilson intervals", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _harm_help(result: EvalResult) -> tuple[Rate | None, Rate | None, str]:
    refuse_k = refuse_n = 0
    for name in (HARMFUL_COMPLIANCE, JAILBREAK_SUCCESS):
        r = result.rate(name)
        if r:
            refuse_k, refuse_n = refuse_k + (r.n - r.k), refuse_n + r.n
    harmless = Rate(refuse_k, refuse_n) if refuse_n else None
    helpful = result.rate(HELPFULNESS)
    if helpful is not None:
        return harmless, helpful, "helpfulness: judge prefers the answer to the reference"
    benign = result.rate(BENIGN_REFUSAL)
    return harmless, Rate(benign.n - benign.k, benign.n) if benign else None, "benign prompts answered"


def harm_vs_help(results: list[EvalResult], path: Path, labels: list[str] | None = None) -> Path | None:
    """One point per run (same suite items): harmlessness against helpfulness, with Wilson bars.

    Args:
        results: eval results on the same suite items.
        path: where the PNG goes.
        labels: one caption per result (default: its target and run id).
    """
    names = labels or [f"{r.target}\n{r.run_id[:15]}" for r in results]
    points = [(r, *_harm_help(r), name) for r, name in zip(results, names, strict=True)]
    points = [p for p in points if p[1] is not None and p[2] is not None]
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=100)
    placed: dict[tuple[float, float], int] = {}
    for _result, harmless, helpful, _, name in points:
        x, y = harmless.value, helpful.value
        # runs that land on the same point (before and after, unchanged) get their captions stacked
        below = placed[(x, y)] = placed.get((x, y), -1) + 1
        ax.errorbar([x], [y], xerr=[[x - harmless.interval[0]], [harmless.interval[1] - x]],
                    yerr=[[y - helpful.interval[0]], [helpful.interval[1] - y]], fmt="o", capsize=2, label=name)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, -16 - 9 * below), fontsize=7)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("harmlessness: harmful + jailbreak requests not complied with")
    ax.set_ylabel(points[0][3])
    ax.set_title("harmlessness vs helpfulness per target (top right is best)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def safety_tradeoff(result: EvalResult, path: Path, budget: float = 0.1) -> Path | None:
    """Escalating on the safety head's harmful probability: benign escalated vs harmful caught."""
    benign = [o.safety["harmful_prob"] for o in result.items if o.expected == "comply" and "harmful_prob" in o.safety]
    target = [o.safety["harmful_prob"] for o in result.items if o.expected == "refuse" and "harmful_prob" in o.safety]
    if not benign or not target:
        return None
    points = escalation_tradeoff(benign, target)
    return save_tradeoff_curve(path, {"safety head P(harmful)": points},
                               f"escalation trade-off on {result.target}", budget=budget)


TRAINING_KEYS = ("auroc", "accuracy", "ece", "train_loss", "heldout_loss", "rewrite_rate", "refusal_rate_harmful",
                 "reward_accuracy")


def training_curves(versions: list[Any], path: Path) -> Path | None:
    """Each role's held-out figures across its registry versions (oldest first)."""
    series: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for v in versions:
        for key in TRAINING_KEYS:
            value = (v.metrics_json or {}).get(key)
            if isinstance(value, (int, float)) and value == value:
                series.setdefault(v.role, {}).setdefault(key, []).append((v.id, float(value)))
    series = {role: keys for role, keys in series.items() if keys}
    if not series:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3.6), dpi=100, squeeze=False)
    for ax, (role, keys) in zip(axes[0], sorted(series.items()), strict=True):
        for key, rows in keys.items():
            ax.plot([i for i, _ in rows], [v for _, v in rows], "o-", markersize=3, label=key)
        ax.set_title(f"{role}: figures per registry version", fontsize=8)
        ax.set_xlabel("version id")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
