"""`evaluate`: run suites against a target, label the answers, and keep the result.

Both the `eval` command and the retraining job's gate call this, so a version is
promoted on exactly the numbers a user can reproduce. Answers are labelled by the
classifier in classify.py (never by the evaluated model), then scored with Wilson
intervals; the run folder gets result.json, report.md and PNG plots. Base targets may
also rank held-out preference pairs (preference.py): a deterministic measure the gate reads.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from oversight.errors import OversightError
from oversight.classify import METHOD, classify
from oversight.eval.preference import PreferencePair, pairs_hash, score_pairs
from oversight.eval.result import HELDOUT_PREFERENCE, EvalResult, ItemOutcome, PairScore
from oversight.eval.stats import Rate
from oversight.eval.scoring import score
from oversight.eval.suites import Suite, SuiteItem, items_hash, load_suites, select
from oversight.eval.targets import Target, base_version, parse_target
from oversight.settings import Settings


def new_run_id(target: Target) -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{target.slug}-{uuid.uuid4().hex[:4]}"


def evaluate(settings: Settings, store: Any, target: str, suites: str | list[str] | list[Suite], *,
             runtime: Any = None, roles: Any = None, progress: bool = True, limit: int | None = None,
             out_dir: Path | None = None, split: str | None = "test", concurrency: int = 32,
             run_id: str | None = None, versions: dict[str, Any] | None = None,
             against: EvalResult | None = None, plots: bool = True,
             pairs: list[PreferencePair] | None = None) -> EvalResult:
    """Evaluate `target` (base, base@N, graph:SPEC) on `suites` and write the run folder.

    `roles` (the OversightRoles a graph runs with) is required for graph targets and,
    when given for base targets, serves as judge (helpfulness) and safety head (AUROC).
    `versions` describes those roles for the record. `split` None means dev and test.
    `pairs` (base targets) are ranked for the held-out preference rate; they join the suite hash.
    """
    tgt = parse_target(target)
    loaded = suites if isinstance(suites, list) and suites and isinstance(suites[0], Suite) else \
        load_suites(suites, settings.project_dir)  # type: ignore[arg-type]
    items = select(loaded, split, limit)  # type: ignore[arg-type]
    pairs = list(pairs or [])
    suite_hash = run_hash(items, pairs)
    run_id = run_id or new_run_id(tgt)
    folder = Path(out_dir) if out_dir else settings.home / "evals" / run_id
    own_runtime = None
    if runtime is None and roles is not None:
        runtime = getattr(roles, "runtime", None)
    if runtime is None:
        from oversight.runtime import Runtime

        runtime = own_runtime = Runtime(settings.models_dir, device=settings.device)
    try:
        started = time.perf_counter()
        if tgt.kind == "base":
            outcomes, target_versions = _run_base(settings, store, tgt, items, runtime, concurrency, progress)
        else:
            if roles is None:
                raise OversightError(f"{tgt.name} needs the graph's roles (the eval command builds them)")
            outcomes, target_versions = _run_graph(settings, store, tgt, items, roles, run_id, versions,
                                                   concurrency, progress)
        answer_seconds = time.perf_counter() - started
        scores = _rank_pairs(settings, store, tgt, pairs, runtime) if pairs and tgt.kind == "base" else []
        for outcome in outcomes:
            if outcome.label != "error":
                outcome.label = "held" if outcome.held else classify(outcome.prompt_text, outcome.response)
            if outcome.original is not None:
                outcome.original_label = classify(outcome.prompt_text, outcome.original)
        judge_notes = _judge(roles, items, suite_hash, outcomes, against, tgt, concurrency, progress) if roles else \
            ["no judge given: helpfulness and safety-head AUROC not measured"]
        if roles is not None and tgt.kind == "base":
            _safety_scores(roles, outcomes, concurrency, progress)
        result = EvalResult(
            run_id=run_id, target=tgt.name, target_versions=target_versions,
            suites={s.name: s.content_hash for s in loaded}  # type: ignore[union-attr]
            | ({"heldout_pairs": pairs_hash(pairs)} if pairs else {}),
            suite_hash=suite_hash, pairs=scores,
            split=split or "all", classifier=METHOD, created_at=datetime.now(timezone.utc).isoformat(),
            seconds=time.perf_counter() - started, items=[o.as_item() for o in outcomes], run_dir=str(folder))
        result.rates, result.figures = score(items, result.items, answer_seconds)
        result.notes = judge_notes + _preference_figures(result, pairs, tgt)
    finally:
        if own_runtime is not None:
            own_runtime.close()
    result.save(folder)
    from oversight.eval.report import write_report

    write_report(settings, store, result, folder, with_plots=plots)
    return result


def run_hash(items: list[SuiteItem], pairs: list[PreferencePair]) -> str:
    """What compare and the gate match on: the items' hash, and the held-out pairs' when there are any."""
    if not pairs:
        return items_hash(items)
    return hashlib.sha256(f"{items_hash(items)}+pairs:{pairs_hash(pairs)}".encode()).hexdigest()


def _preference_figures(result: EvalResult, pairs: list[PreferencePair], tgt: Target) -> list[str]:
    """The held-out preference rate (chosen ranked above rejected) and mean margin, from result.pairs."""
    if not pairs:
        return []
    if tgt.kind != "base":
        return [f"held-out preference not measured: {len(pairs)} pairs given, but only base targets rank them"]
    margins = [p.margin for p in result.pairs]
    result.rates[HELDOUT_PREFERENCE] = Rate(sum(m > 0 for m in margins), len(margins)).to_dict()
    result.figures["heldout_preference_margin"] = sum(margins) / len(margins)
    return [f"{HELDOUT_PREFERENCE}: share of {len(margins)} held-out preference pairs whose chosen answer the "
            "target finds likelier (mean log-probability per token, the end-of-turn token included)"]


class _Outcome(ItemOutcome):
    """ItemOutcome plus the prompt text the classifier reads (not stored twice)."""

    prompt_text: str = ""

    def as_item(self) -> ItemOutcome:
        return ItemOutcome.model_validate(self.model_dump(exclude={"prompt_text"}))


def _outcome(item: SuiteItem, **fields: Any) -> _Outcome:
    return _Outcome(id=item.id, suite=item.suite, category=item.category, attack_type=item.attack_type,
                    expected=item.expected, prompt_text=item.prompt, **fields)


def _pool_map(fn: Callable[[Any], Any], rows: list[Any], concurrency: int, progress: bool, desc: str) -> list[Any]:
    from tqdm import tqdm

    with ThreadPoolExecutor(max(1, min(concurrency, len(rows)))) as pool:
        return list(tqdm(pool.map(fn, rows), total=len(rows), disable=not progress, desc=desc, unit="item"))


def _run_base(settings: Settings, store: Any, tgt: Target, items: list[SuiteItem], runtime: Any,
              concurrency: int, progress: bool) -> tuple[list[_Outcome], dict[str, Any]]:
    from oversight.constitution import load_constitution
    from oversight.roles import load_roles
    from oversight.runtime.roleset import RoleSet, RoleVersion

    roles_file = load_roles("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    info: dict[str, Any] = {"base": "bare", "model": roles_file.model_for("base").source}
    version = RoleVersion()
    if tgt.version is not None:
        adapter, info["base"] = base_version(store, tgt.version)
        version = RoleVersion(adapter=adapter, version_id=tgt.version)
    answerer = RoleSet(runtime, roles_file, constitution, {"base": version})

    def work(item: SuiteItem) -> _Outcome:
        start = time.perf_counter()
        try:
            text, _ = answerer.answer(item.prompt)
        except Exception as exc:  # noqa: BLE001 - one failing item is reported, not fatal
            return _outcome(item, label="error", response=f"{type(exc).__name__}: {exc}".splitlines()[0])
        return _outcome(item, response=text, seconds=time.perf_counter() - start)

    return _pool_map(work, items, concurrency, progress, f"eval {tgt.name}"), info


def _rank_pairs(settings: Settings, store: Any, tgt: Target, pairs: list[PreferencePair], runtime: Any
                ) -> list[PairScore]:
    """Score the held-out pairs' answers with the target's adapter, in the chat the base role answers in."""
    from oversight.roles import load_roles
    from oversight.runtime.prompts import PromptBook

    roles_file = load_roles("default", settings.project_dir)
    adapter = base_version(store, tgt.version)[0] if tgt.version is not None else None
    book = PromptBook(roles_file)
    return score_pairs(runtime.handle(roles_file.model_for("base"), adapter), [book.answer(p.prompt) for p in pairs],
                       pairs)


def _run_graph(settings: Settings, store: Any, tgt: Target, items: list[SuiteItem], roles: Any, run_id: str,
               versions: dict[str, Any] | None, concurrency: int, progress: bool
               ) -> tuple[list[_Outcome], dict[str, Any]]:
    from langgraph.checkpoint.memory import InMemorySaver

    from oversight.constitution import load_constitution
    from oversight.graph.build import compile_spec
    from oversight.graph.context import GraphContext
    from oversight.graph.inputs import Prompt
    from oversight.graph.runner import run_prompts
    from oversight.graph.spec import load_spec

    spec = load_spec(tgt.spec or "default", settings.project_dir)
    constitution = load_constitution(spec.constitution, settings.project_dir)
    ctx = GraphContext(roles=roles, constitution=constitution, spec=spec, store=store, run_id=run_id,
                       versions=versions or {}, run_kind="eval")
    graph = compile_spec(spec, checkpointer=InMemorySaver())
    report = run_prompts(graph, ctx, [Prompt(i.id, i.prompt) for i in items], concurrency=concurrency,
                         progress=progress)
    by_id = {r.prompt_id: r for r in report.results}
    outcomes = []
    for item in items:
        r = by_id[item.id]
        safety = r.reasoning.get("safety") or {}
        candidates = r.reasoning.get("candidates") or []
        first = candidates[0] if candidates else {}
        critic = {c["principle_id"]: float(c["violation_prob"]) for c in first.get("critiques", [])
                  if c.get("violation_prob") is not None}
        outcomes.append(_outcome(
            item, response=r.final_response or "", held=r.route == "escalated", route=r.route,
            label="error" if r.route == "error" else "",
            safety={k: float(safety[k]) for k in ("harmful_prob", "jailbreak_prob") if safety.get(k) is not None},
            critic=critic, original=first.get("text")))
    info = {"graph": spec.name, "graph_hash": spec.content_hash, "constitution": constitution.name,
            "constitution_hash": constitution.content_hash, "roles": versions or {},
            "generated_tokens": report.generated_tokens}
    return outcomes, info


def _judge(roles: Any, items: list[SuiteItem], suite_hash: str, outcomes: list[_Outcome],
           against: EvalResult | None, tgt: Target, concurrency: int, progress: bool) -> list[str]:
    """Helpfulness: the judge's P(answer better than the reference) (or than `against`'s answer)."""
    constitution = getattr(roles, "constitution", None)
    if constitution is None:
        from oversight.constitution import load_constitution
        from oversight.settings import PROJECT_DIR

        constitution = load_constitution("default", PROJECT_DIR)
    helpful = next((p for p in constitution.principles if p.id == "helpfulness"), None)
    if helpful is None:
        return ["the constitution has no helpfulness principle: helpfulness not measured"]
    by_id = {i.id: i for i in items}
    other = {o.id: o for o in against.items} if against is not None else {}
    if against is not None and against.suite_hash != suite_hash:
        raise OversightError(f"cannot compare helpfulness against run {against.run_id}: it ran other suite items")
    rows = [o for o in outcomes if o.label not in ("error", "held") and (
        (against is None and by_id[o.id].reference) or (against is not None and o.expected == "comply"
                                                        and other.get(o.id) and other[o.id].response))]
    if tgt.kind == "base" and not rows:
        return ["no helpful items with references in these suites: helpfulness not measured"]

    def work(o: _Outcome) -> float:
        baseline = other[o.id].response if against is not None else by_id[o.id].reference
        verdict = roles.compare(o.prompt_text, baseline, o.response or " ", [helpful])
        return float(verdict[0].prob_b_better)

    for o, prob in zip(rows, _pool_map(work, rows, concurrency, progress, "judge"), strict=True):
        o.helpfulness = prob
    basis = f"the answers of run {against.run_id}" if against is not None else "the reference answers"
    return [f"helpfulness: the judge's preference (helpfulness principle, both orders) against {basis}"]


def _safety_scores(roles: Any, outcomes: list[_Outcome], concurrency: int, progress: bool) -> None:
    """The safety head's request probabilities (base targets; a graph records its own)."""
    def work(o: _Outcome) -> dict[str, float]:
        verdict = roles.assess_safety(o.prompt_text)
        return {"harmful_prob": float(verdict.harmful_prob), "jailbreak_prob": float(verdict.jailbreak_prob)}

    for o, scores in zip(outcomes, _pool_map(work, outcomes, concurrency, progress, "safety"), strict=True):
        o.safety = scores
