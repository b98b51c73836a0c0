"""The decision thresholds a calibration may choose, and a spec with chosen values applied.

Only thresholds that `decision.decide` alone reads are tunable: changing them changes
the route of a finished thread and nothing before it, so a calibration can run the
graph once and replay the decision offline for every setting. Thresholds that steer
the walk (the block threshold and the middle band decide whether the critic and the
reviser run at all) are not tunable here: a replay could not know the candidates a
different walk would have produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from oversight.errors import OversightError
from oversight.graph.spec import GraphSpec


PROBABILITIES = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# Dotted path -> the values a calibration tries (the spec's declared value is always added).
# A value that disables a rule on the data is in each grid (0 for a margin, 1 for a probability),
# so "this rule costs more reviewer time than it catches" is a possible answer.
TUNABLE_GRIDS: dict[str, tuple[float, ...]] = {
    "escalation.judge_margin": (0.0, 0.05, 0.1, 0.15, 0.2),
    "escalation.disagreement": (0.3, 0.5, 0.7, 0.9, 1.0),
    "escalation.conflict_margin": (0.1, 0.25, 0.5),
    "delivery.response_harmful": PROBABILITIES,
    "delivery.critic_harm": PROBABILITIES,
    "delivery.benign_request_alarm": (0.5, 0.7, 0.9, 1.0),
    # Which requests count as benign for the alarm above. Decided from the request's score alone, in the
    # decision only (not the walk), so it replays. 0 (no request counts as benign)
    # is left out to keep the grid small: benign_request_alarm 0.5 comes close to it.
    "delivery.benign_request_below": (0.2, 0.25, 0.3),
}


def _section(spec: GraphSpec, path: str) -> tuple[BaseModel, str]:
    section_name, _, field = path.partition(".")
    section = getattr(spec, section_name, None)
    if not field or not isinstance(section, BaseModel) or field not in type(section).model_fields:
        raise OversightError(f"{path!r} is not a threshold of graph spec {spec.name!r}")
    return section, field


def declared_value(spec: GraphSpec, path: str) -> float:
    section, field = _section(spec, path)
    return float(getattr(section, field))


def tunable_grid(spec: GraphSpec) -> dict[str, tuple[float, ...]]:
    """Each tunable threshold this spec has, with the values to try (valid ones only, declared included).

    A rule the spec cannot reach is left out: without escalation nothing escalates, and
    the delivery check matters only where the graph checks the answer.
    """
    grid: dict[str, tuple[float, ...]] = {}
    if not spec.escalation.enabled:
        return grid
    for path, values in TUNABLE_GRIDS.items():
        try:
            section, field = _section(spec, path)
        except OversightError:
            continue  # a spec schema without this rule
        valid = []
        for value in sorted({*values, float(getattr(section, field))}):
            try:
                type(section).model_validate({**section.model_dump(), field: value})
            except ValidationError:
                continue
            valid.append(value)
        grid[path] = tuple(valid)
    return grid


def apply_thresholds(spec: GraphSpec, thresholds: Mapping[str, float]) -> GraphSpec:
    """A validated copy of `spec` with the given thresholds; `source` is kept.

    Its content hash differs from the declared spec's: runs and threads are always
    registered under the declared spec (GraphContext.spec), and only the decision
    reads this copy (GraphContext.decision_spec).
    """
    if not thresholds:
        return spec
    data: dict[str, Any] = spec.model_dump()
    for path, value in thresholds.items():
        if path not in TUNABLE_GRIDS:
            raise OversightError(f"{path!r} is not a calibratable threshold "
                                 f"(known: {', '.join(TUNABLE_GRIDS)})")
        _section(spec, path)
        section_name, _, field = path.partition(".")
        data[section_name][field] = value
    try:
        changed = GraphSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise OversightError(f"calibrated thresholds do not fit graph spec {spec.name!r}: {where}: "
                             f"{first['msg']}") from None
    return changed.model_copy(update={"source": spec.source})


def describe(thresholds: Mapping[str, float], spec: GraphSpec | None = None) -> str:
    """`escalation.judge_margin=0.05 (declared 0.1), ...` on one line."""
    parts = []
    for path, value in thresholds.items():
        declared = declared_value(spec, path) if spec is not None else None
        note = f" (declared {declared:g})" if declared is not None and declared != value else ""
        parts.append(f"{path}={value:g}{note}")
    return ", ".join(parts) or "none"
