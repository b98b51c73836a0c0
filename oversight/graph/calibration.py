"""One graph run over a prompt set whose finished states are kept for replaying the decision.

The run is of kind `calibration`: escalations are recorded, never queued for a
reviewer, and nothing of it feeds training exports (store/training_rows.py). Every
thread's final state (safety scores, candidates with their critiques and response
scores, judge rows) is kept, so `eval/tradeoff.replay_grid` can ask what the route
decision would have done under other thresholds without calling a model again. The
states are also written to $OVERSIGHT_HOME/calibration/runs/RUN_ID.jsonl, so a later
`graph calibrate --replay RUN_ID` chooses again (another budget) from the same run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oversight.errors import OversightError
from oversight.graph.build import compile_spec
from oversight.graph.context import GraphContext
from oversight.graph.inputs import Prompt
from oversight.graph.persist import jsonable
from oversight.graph.runner import RunReport, run_prompts
from oversight.graph.sidecar import CalibrationKey
from oversight.graph.spec import CheckpointSpec
from oversight.graph.threads import thread_id
from oversight.settings import Settings


class StatesHeader(BaseModel):
    """The first line of a states file: what produced the states."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    key: CalibrationKey
    trust_set: str
    trust_set_hash: str
    groups: dict[str, str] = Field(description="prompt id -> style (everyday, benign_sensitive, harmful, jailbreak)")
    errors: dict[str, str] = Field(default_factory=dict, description="prompt id -> why it has no final state")


def run_for_states(graph_ctx: GraphContext, prompts: list[Prompt], *, concurrency: int = 32,
                   progress: bool = False) -> tuple[RunReport, dict[str, dict[str, Any]]]:
    """Run every prompt once (kind calibration) and return the report and each finished thread's state.

    The checkpoints of each thread are kept in memory (`checkpoints.keep: all`, which is
    not part of the spec's hash) and read back; nothing is written to the checkpoint database.
    """
    from langgraph.checkpoint.memory import InMemorySaver

    spec = graph_ctx.spec.model_copy(update={"checkpoints": CheckpointSpec(keep="all")})
    ctx = dataclasses.replace(graph_ctx, spec=spec, run_kind="calibration")
    graph = compile_spec(spec, checkpointer=InMemorySaver())
    report = run_prompts(graph, ctx, prompts, concurrency=concurrency, progress=progress)
    failed = {r.prompt_id for r in report.results if r.route == "error"}
    states: dict[str, dict[str, Any]] = {}
    for prompt in (p for p in prompts if p.id not in failed):
        snapshot = graph.get_state({"configurable": {"thread_id": thread_id(ctx.run_id, prompt.id)}})
        values = snapshot.values or {}
        if values.get("decision") and not snapshot.next:
            states[prompt.id] = jsonable({k: v for k, v in values.items() if k != "final_response"})
    return report, states


def states_path(settings: Settings, run_id: str) -> Path:
    return settings.home / "calibration" / "runs" / f"{run_id}.jsonl"


def save_states(path: Path, header: StatesHeader, states: dict[str, dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(header.model_dump_json() + "\n")
        for prompt_id, state in states.items():
            out.write(json.dumps({"id": prompt_id, "state": state}, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def load_states(path: Path) -> tuple[StatesHeader, dict[str, dict[str, Any]]]:
    """Read a states file written by `save_states`; a broken one is a one-line error."""
    if not path.is_file():
        raise OversightError(f"no calibration run states at {path} (see `graph calibrate` output for run ids)")
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        header = StatesHeader.model_validate_json(lines[0]) if lines else None
        rows = [json.loads(line) for line in lines[1:] if line.strip()]
        states = {str(row["id"]): dict(row["state"]) for row in rows}
    except (ValidationError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise OversightError(f"{path}: not a calibration states file ({str(exc).splitlines()[0]})") from None
    if header is None:
        raise OversightError(f"{path}: empty calibration states file")
    return header, states
