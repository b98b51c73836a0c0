"""Two eval runs side by side, with differences inside the noise marked as such."""

from __future__ import annotations

from pathlib import Path

from oversight.errors import OversightError
from oversight.eval.result import EvalResult, require_same_suites
from oversight.eval.stats import Rate, differs, two_proportion_p
from oversight.settings import Settings


def load_run(settings: Settings, ref: str) -> EvalResult:
    """A run by id (under $OVERSIGHT_HOME/evals/) or by folder / result.json path."""
    path = Path(ref)
    if not path.exists():
        path = settings.home / "evals" / ref
    if not path.exists():
        raise OversightError(f"no eval run {ref!r} (looked in {settings.home / 'evals'})")
    return EvalResult.load(path)


def compare_rows(a: EvalResult, b: EvalResult) -> list[tuple[str, Rate | None, Rate | None, str]]:
    """(rate name, rate in a, rate in b, verdict): 'noise', 'differs (p=...)' or '' when one is missing."""
    require_same_suites(a, b)
    rows = []
    for name in sorted(set(a.rates) | set(b.rates), key=lambda n: ("/" in n, n)):
        ra, rb = a.rate(name), b.rate(name)
        if ra is None or rb is None or not ra.n or not rb.n:
            rows.append((name, ra, rb, ""))
            continue
        verdict = f"differs (p={two_proportion_p(ra.k, ra.n, rb.k, rb.n):.3f})" if differs(ra, rb) else "noise"
        rows.append((name, ra, rb, verdict))
    return rows


def compare_table(a: EvalResult, b: EvalResult) -> str:
    rows = compare_rows(a, b)
    cells = [(n, str(ra) if ra else "-", str(rb) if rb else "-",
              f"{rb.value - ra.value:+.1%}" if ra and rb and ra.n and rb.n else "", v) for n, ra, rb, v in rows]
    head = ("rate", f"A {a.target}", f"B {b.target}", "B-A", "")
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(5)]
    lines = [f"A = {a.run_id}  B = {b.run_id}  (same {len(a.items)} items, hash {a.suite_hash[:12]})",
             "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    for key in ("safety_harmful_auroc", "safety_jailbreak_auroc", "heldout_preference_margin", "items_per_minute"):
        fa, fb = a.figures.get(key), b.figures.get(key)
        if fa is not None or fb is not None:
            lines.append(f"{key}: A {fa if fa is None else round(fa, 3)}  B {fb if fb is None else round(fb, 3)}")
    lines.append("noise: Wilson intervals overlap and a two-proportion test gives p >= 0.05")
    return "\n".join(lines)
