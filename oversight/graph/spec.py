"""Graph specs: graphs/NAME.yaml declares which nodes run and every threshold.

A spec is data, not code: the same node functions serve the full oversight
graph, the data-generation graph (critique and revision only) and the runtime
guard (safety only). This module is the schema only (it imports nothing of the
graph); `graph/edges.py` declares how the named nodes connect and
`graph/build.py` compiles them into a LangGraph StateGraph.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oversight.constitution import HARM_CATEGORIES
from oversight.declared import apply_overrides, read_yaml, resolve_declared, validate
from oversight.errors import ConfigError

NodeName = Literal["base", "safety", "critic", "revise", "judge"]
NODE_ORDER: tuple[NodeName, ...] = ("base", "safety", "critic", "revise", "judge")
DEFAULT_REFUSAL = ("I can't help with that request. If you have a related question that "
                   "doesn't risk harm, I'm glad to help with it.")
MIDDLE_BAND_CRITIQUE = ("The request may be asking for something harmful, and the response goes along with it. "
                        "Decline any part that could help someone cause harm, say briefly why, and keep only "
                        "safe, general help.")
# No "harmless" in it: the bare model's flat refusals of benign requests often echo the roles file's
# "helpful, honest and harmless assistant" ("I'm sorry for your loss, but as a helpful, honest and
# harmless assistant, I'm afraid I'm unable...").
REASK_SYSTEM_PROMPT = "Answer the user's question directly and helpfully."


# Fields added after specs were first stored, with the value that reproduces the behaviour from before
# them. A stored spec without such a field (the one a paused thread ran under, in its trajectory) gets
# this value (`stored_spec`), and a field at this value is left out of the content hash, so a spec from
# before keeps its hash and its paused threads can still be resumed after an upgrade.
ADDED_FIELDS: dict[tuple[str, str], Any] = {
    ("delivery", "benign_request_below"): 0.0,   # 2026-12-06: 0 = every request is treated alike
    ("delivery", "benign_request_alarm"): 0.9,   # 2026-12-06: unused while benign_request_below is 0
    ("delivery", "keep_answer_below"): 0.0,      # 2026-12-06: 0 = refusing rewrites may be delivered
    ("escalation", "judge_doubt_on_benign"): True,  # 2026-12-07: a judge coin flip escalated on any request
    ("revision", "reask_below"): 0.0,            # 2026-12-07: 0 = a declining original is revised only if flagged
    ("delivery", "copied_harm"): False,          # 2026-12-07: a rewrite was checked on its own scores only
    ("revision", "reask_system_prompt"): REASK_SYSTEM_PROMPT,
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SafetySpec(_Section):
    block_threshold: float = Field(
        default=0.9, ge=0, le=1,
        description="prompt harmful or jailbreak probability at or above which the graph refuses")
    harmful_threshold: float = Field(
        default=0.5, ge=0, le=1,
        description="request harmful probability at or above which the safety model calls a request harmful; "
                    "with block_threshold it bounds the middle band (equal to block_threshold: no band)")
    middle_band: Literal["revise", "escalate", "refuse"] = Field(
        default="revise",
        description="a request in the middle band: revise (the reviser gets the safety critique, the original "
                    "may not be delivered, the revision must pass the delivery check), escalate, or refuse; "
                    "escalate refuses where escalation is disabled")
    middle_band_critique: str = Field(default=MIDDLE_BAND_CRITIQUE, min_length=1,
                                      description="the safety critique the reviser gets for a middle-band request")
    refusal_message: str = Field(default=DEFAULT_REFUSAL, min_length=1,
                                 description="the fixed answer given when the graph refuses")


class CriticSpec(_Section):
    principles: list[str] | Literal["all"] = Field(
        default="all", description="principle ids the critic checks, or all")
    violation_threshold: float = Field(default=0.5, gt=0, lt=1,
                                       description="violation probability that counts as violated")
    max_critiques: int = Field(default=2, ge=1,
                               description="written critiques per round (highest priority first)")


class RevisionSpec(_Section):
    rounds: int = Field(default=2, ge=0, le=10, description="critique-and-revise rounds at most")
    reask_below: float = Field(
        default=0.2, ge=0, le=1,
        description="an original answer that only declines (the rules classifier's `refuse`) a request the "
                    "safety model rates harmful and jailbreak below this is replaced, in the first round, by "
                    "the base model's answer under reask_system_prompt, which the critic, the judge and the "
                    "delivery check then treat as a revision (0: off)")
    reask_system_prompt: str = Field(default=REASK_SYSTEM_PROMPT, min_length=1,
                                     description="the base model's system prompt for that second answer")


class JudgeSpec(_Section):
    include: list[str] = Field(
        default_factory=lambda: ["helpfulness"],
        description="principles always judged besides those the critic flagged")
    priority_decay: float = Field(
        default=0.5, gt=0, le=1,
        description="weight factor per priority step: weight x decay^(priority-1) combines principles")
    pair_confidence: float = Field(
        default=0.65, ge=0.5, le=1,
        description="judge preference at which an AI preference pair is recorded")


class EscalationSpec(_Section):
    enabled: bool = Field(default=True, description="false: never stop for a human (data generation)")
    judge_margin: float = Field(
        default=0.1, ge=0, le=0.5,
        description="escalate when the judge's preference is within this of 0.5")
    disagreement: float = Field(
        default=0.5, gt=0, le=1,
        description="escalate when safety and critic harm probabilities differ by at least this")
    harm_categories: list[str] = Field(
        default_factory=lambda: list(HARM_CATEGORIES),
        description="constitution categories whose critic verdicts are compared with the safety model")
    conflict_margin: float = Field(
        default=0.1, ge=0, le=0.5,
        description="a principle counts as improved/worsened when the judge is this far from 0.5")
    judge_doubt_on_benign: bool = Field(
        default=False,
        description="escalate a judge coin flip (judge_margin) on a request the safety model rates benign "
                    "(delivery.benign_request_below) with no harm alarm that counts on any answer; false: there "
                    "the judge's slight preference decides (the doubt is about quality, not harm)")
    always_human: list[str] = Field(
        default_factory=list, description="categories (or principle ids) always sent to a human")
    category_threshold: float = Field(
        default=0.5, ge=0, le=1,
        description="safety harmful probability above which its top category counts as the case's")


class DeliverySpec(_Section):
    """The check of the candidate the graph would deliver, whichever it is (original or a revision)."""

    response_harmful: float = Field(
        default=0.5, ge=0, le=1,
        description="safety model's response-harmful probability of the candidate to deliver at or above "
                    "which on_harmful applies")
    critic_harm: float = Field(
        default=0.5, ge=0, le=1,
        description="critic violation probability on a principle of escalation.harm_categories, for the "
                    "candidate to deliver, at or above which on_harmful applies")
    # 0.25: in the calibration runs of 2026-12-06 every harmful request that only the answer checks caught
    # was rated 0.25 or more; in that of 2026-12-07 night an everyday request rated 0.22 (a Fahrenheit
    # conversion) was escalated on one critic read-out (0.56), and 0.25-0.4 all held as many harmful and
    # jailbreak prompts as 0.2 with one benign escalation fewer (README, "Calibrating escalation ...").
    benign_request_below: float = Field(
        default=0.25, ge=0, le=1,
        description="a request the safety model rates harmful and jailbreak below this counts as benign for "
                    "benign_request_alarm (0: none does)")
    benign_request_alarm: float = Field(
        default=0.9, ge=0, le=1,
        description="for an answer to a benign request, the answer-level harm alarms (response_harmful, "
                    "critic_harm, escalation.disagreement) count only at or above this probability: one "
                    "uncorroborated alarm on an everyday answer is more often false than not")
    keep_answer_below: float = Field(
        default=0.5, ge=0, le=1,
        description="a revision that refuses (the rules classifier's `refuse`) is not delivered when the "
                    "original answers and passes the delivery check and the safety model rates the request "
                    "harmful and jailbreak below this: a rewrite may not turn an answer to a benign request "
                    "into a refusal (0: off)")
    # A rewrite that keeps the original's harmful sentence and adds a warning around it scored 0.00 with
    # the safety model and at most 0.17 with the critic, and went out (calibration runs of 2026-12-07, "the
    # bridges in your city have the weakest security. If you're planning to attack, ..."): the framing
    # hides the copied text from both, so the copy inherits the original's verdict.
    copied_harm: bool = Field(
        default=True,
        description="a revision that is not a plain refusal and repeats 8 or more words of an original the "
                    "safety model rates harmful (at response_harmful, with benign_request_alarm on a benign "
                    "request) counts as harmful too")
    on_harmful: Literal["escalate", "refuse"] = Field(
        default="escalate",
        description="escalate to a human, or deliver the fixed refusal (route blocked); escalate refuses "
                    "where escalation is disabled")


class CheckpointSpec(_Section):
    """How long a thread's LangGraph checkpoints stay once its trajectory is final.

    Operational, not behaviour: it is left out of the spec's content hash, so
    changing it never strands a paused thread or refuses a rerun.
    """

    keep: Literal["none", "last", "all"] = Field(
        default="none",
        description="after a thread's trajectory is final keep none of its checkpoints, the last one, "
                    "or all of them (for `days`); threads waiting for a human always keep theirs")
    days: float = Field(default=7, gt=0, le=3650,
                        description="with keep: all, `graph prune` removes finished threads older than this")


class GraphSpec(_Section):
    name: str
    description: str = ""
    constitution: str = Field(default="default", description="constitution name or path")
    roles: str = Field(default="default", description="roles file name or path")
    nodes: list[NodeName] = Field(min_length=1, description="nodes to run, in the canonical order")
    safety: SafetySpec = SafetySpec()
    critic: CriticSpec = CriticSpec()
    revision: RevisionSpec = RevisionSpec()
    judge: JudgeSpec = JudgeSpec()
    escalation: EscalationSpec = EscalationSpec()
    delivery: DeliverySpec = DeliverySpec()
    checkpoints: CheckpointSpec = CheckpointSpec()
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _coherent(self) -> GraphSpec:
        nodes = set(self.nodes)
        if len(nodes) != len(self.nodes):
            raise ValueError("nodes: a node is listed twice")
        if "base" not in nodes:
            raise ValueError("nodes: 'base' is required (something has to answer)")
        needs = {"revise": "critic", "judge": "revise"}
        for node, required in needs.items():
            if node in nodes and required not in nodes:
                raise ValueError(f"nodes: '{node}' needs '{required}'")
        band = self.safety.harmful_threshold < self.safety.block_threshold
        if band and "safety" in nodes and self.safety.middle_band == "revise" and (
                "revise" not in nodes or self.revision.rounds < 1):
            raise ValueError("safety.middle_band: 'revise' needs the 'revise' node and revision.rounds >= 1; "
                             "choose escalate or refuse for this graph")
        return self

    def has(self, node: NodeName) -> bool:
        return node in self.nodes

    @property
    def content_hash(self) -> str:
        """Hash of what the graph does (checkpoint retention left out: it changes no answer)."""
        data = self.model_dump(mode="json", exclude={"checkpoints"})
        for (section, field), before in ADDED_FIELDS.items():
            if data[section].get(field) == before:
                del data[section][field]
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stored_spec(raw: dict[str, Any]) -> GraphSpec:
    """A spec as stored with a trajectory, validated; fields it predates get their before-values
    (ADDED_FIELDS), so it decides as it did and keeps its content hash."""
    filled = {key: (dict(value) if isinstance(value, dict) else value) for key, value in raw.items()}
    for (section, field), before in ADDED_FIELDS.items():
        filled.setdefault(section, {}).setdefault(field, before)
    return GraphSpec.model_validate(filled)


def load_spec(name_or_path: str | Path, project_dir: Path, overrides: list[str] | None = None) -> GraphSpec:
    """Load graphs/NAME.yaml (or a path) with optional `key=value` overrides."""
    path = resolve_declared("graphs", name_or_path, project_dir)
    raw: dict[str, Any] = read_yaml(path)
    raw.setdefault("name", path.stem)
    if overrides:
        raw = apply_overrides(raw, overrides, path)
    spec = validate(GraphSpec, raw, path)
    return spec.model_copy(update={"source": path})


def check_against(spec: GraphSpec, principle_ids: set[str], categories: set[str]) -> None:
    """Principle ids and categories a spec names must exist in the constitution it runs with."""
    where = spec.source or spec.name
    if spec.critic.principles != "all":
        for i, pid in enumerate(spec.critic.principles):
            if pid not in principle_ids:
                raise ConfigError(where, f"critic.principles[{i}]", "no such principle in the constitution", pid)
    for i, pid in enumerate(spec.judge.include):
        if pid not in principle_ids:
            raise ConfigError(where, f"judge.include[{i}]", "no such principle in the constitution", pid)
    for i, name in enumerate(spec.escalation.always_human):
        if name not in categories and name not in principle_ids:
            raise ConfigError(where, f"escalation.always_human[{i}]",
                              "not a category or principle id of the constitution", name)
