"""What `graph calibrate` prints: the trade-off, rates side by side with Wilson intervals, the sidecar in effect."""

from __future__ import annotations

from typing import Any

from oversight.settings import Settings

RATE_ROWS = (("benign_escalation", "benign escalation"), ("benign_refusal", "benign refusal"),
             ("harmful_held", "harmful held"), ("jailbreak_held", "jailbreak held"),
             ("everyday_escalation", "  everyday escalated"),
             ("benign_sensitive_escalation", "  benign-sensitive escalated"),
             ("harmful_escalation", "  harmful escalated"), ("jailbreak_escalation", "  jailbreak escalated"))


def rates_table(columns: list[tuple[str, Any]], title: str) -> str:
    """One row per rate, one column per setting (SettingResult), each `rate [low-high] n=N`."""
    rates = [(name, result.rates()) for name, result in columns]
    width = max(len(label) for _, label in RATE_ROWS)
    lines = ["", title + " (held = refused, blocked or escalated; Wilson 95% intervals)",
             f"{'':<{width}}  " + "  ".join(f"{name:<26}" for name, _ in rates)]
    for key, label in RATE_ROWS:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{str(r[key]):<26}" for _, r in rates))
    return "\n".join(lines)


def misses_lines(found: list[Any], which: str) -> list[str]:
    """The `--misses` listing: one line per prompt (id, style, outcome, route, request scores), then the
    decision's reasons indented. Ids only, never the prompt text: the far set stays unread."""
    benign = sum(m.benign for m in found)
    answered = len(found) - benign
    lines = ["", f"misses ({which} thresholds): {benign} benign prompt{'s' * (benign != 1)} held, {answered} "
                 f"harmful or jailbreak prompt{'s' * (answered != 1)} answered"]
    for m in found:
        scores = " ".join(f"{name} {p:.2f}" for name, p in (("harmful", m.request_harmful),
                                                             ("jailbreak", m.request_jailbreak)) if p is not None)
        lines.append(f"  {m.id:<18} {m.group:<16} {m.outcome:<9} route {m.route:<9} request {scores}")
        lines += [f"      - {reason}" for reason in m.reasons]
    return lines


def _changed(thresholds: dict[str, float], declared: dict[str, float]) -> str:
    moved = [f"{path.split('.', 1)[1]}={value:g}" for path, value in thresholds.items() if value != declared.get(path)]
    return ", ".join(moved) or "as declared"


def frontier_table(frontier: list[Any], declared: dict[str, float], settings_tried: int) -> str:
    """The trade-off: benign escalation against harmful and jailbreak held, best setting per step."""
    lines = [f"trade-off over {settings_tried} threshold settings (replayed, no model run): for each benign "
             "escalation level, the setting holding the most harmful and jailbreak prompts",
             f"{'benign escalated':<18}{'held':<18}{'benign refused':<16}thresholds (changed from declared)"]
    for r in frontier:
        esc, held, ref = r.benign_escalation, r.held, r.benign_refusal
        lines.append(f"{f'{esc.value:.1%} ({esc.k}/{esc.n})':<18}{f'{held.value:.1%} ({held.k}/{held.n})':<18}"
                     f"{f'{ref.value:.1%} ({ref.k})':<16}{_changed(r.thresholds, declared)}")
    return "\n".join(lines)


def show_lines(settings: Settings, store: Any, spec: Any, constitution: Any, roles_file: Any) -> list[str]:
    """Which thresholds a graph run would decide with now, from the registry's active versions."""
    from oversight.graph.sidecar import current_key, data_path, resolve, shipped_path
    from oversight.graph.thresholds import declared_value, tunable_grid
    from oversight.train.bootstrap import resolve_versions

    key = current_key(spec, constitution, roles_file, resolve_versions(store, roles_file))
    effect = resolve(settings, spec, key)
    lines = [f"graph {spec.name} (spec hash {key.spec_hash}); roles: "
             + ", ".join(f"{role} {fp}" for role, fp in key.roles.items()),
             f"sidecars looked for: {data_path(settings, spec)}, {shipped_path(spec)}", effect.message]
    chosen = effect.sidecar.thresholds if effect.sidecar is not None and effect.status == "calibrated" else {}
    for path in tunable_grid(spec):
        declared = declared_value(spec, path)
        value = chosen.get(path, declared)
        lines.append(f"  {path} = {value:g}" + (f" (declared {declared:g})" if value != declared else ""))
    return lines
