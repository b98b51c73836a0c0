"""Where PPO's reward comes from when no reward function is passed: the trained reward model, optionally
combined with the safety model's and the judge's scores through the project's RoleSet.

The reward model (role `reward`, trained by `train --role base --algo reward`) is a
sequence-classification head with a LoRA adapter; it reads the same chat the base
role answers (system prompt included), as its training pairs did.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from oversight.errors import OversightError
from oversight.roles import GenerationConfig, RolesFile
from oversight.runtime.prompts import PromptBook
from oversight.settings import Settings
from oversight.train.ppo_config import PPORecipe
from oversight.train.ppo_rollout import RewardFn


def reward_model_folder(spec: str | int, store: Any) -> Path:
    """'active' (role reward's active version), a registry version id, or an adapter folder."""
    from oversight.runtime.versions import VersionManifest
    from oversight.store import active_version, get_version

    spec = str(spec)
    if spec == "active" or spec.isdigit():
        record = active_version(store, "reward") if spec == "active" else get_version(store, int(spec))
        if record is None:
            raise OversightError("no reward model: train one with `train --role base --algo reward`"
                                 if spec == "active" else f"no model version {spec}")
        if record.role != "reward":
            raise OversightError(f"model version {record.id} is a {record.role} version, not a reward model")
        adapter = VersionManifest.read(Path(record.path)).adapter_path(Path(record.path))
        if adapter is None:
            raise OversightError(f"reward model version {record.id} has no adapter folder")
        return adapter
    folder = Path(spec)
    if not (folder / "adapter_config.json").exists():
        raise OversightError(f"reward model folder {folder} has no adapter_config.json")
    return folder


class RewardModelScorer:
    """`(prompts, answers) -> scores` from a reward model adapter; a second, small model held beside the policy."""

    def __init__(self, folder: Path, settings: Settings, roles_file: RolesFile) -> None:
        from oversight.runtime.loading import model_folder, pick_device
        from oversight.train.reward_trainer import RewardScorer

        model_cfg = roles_file.model_for("base")
        self.book = PromptBook(roles_file)
        self.scorer = RewardScorer(folder, model_folder(model_cfg, settings.models_dir),
                                   device=pick_device(model_cfg.device))

    def __call__(self, prompts: list[str], answers: list[str]) -> list[float]:
        return self.scorer.score([self.book.answer(p) for p in prompts], answers)


class RoleScores:
    """Safety and judge terms from the oversight roles (RoleSet), computed for many answers at once.

    RoleSet methods take one prompt each; calling them from a thread pool lets the runtime batch them.
    The judge compares each answer with the reference model's greedy answer to the same prompt
    (generated once per prompt), so its term is positive exactly when PPO beats where it started.
    """

    def __init__(self, roles: Any, safety_weight: float, judge_weight: float, max_new_tokens: int) -> None:
        self.roles, self.safety_weight, self.judge_weight = roles, safety_weight, judge_weight
        self.max_new_tokens = max_new_tokens
        self.reference: dict[str, str] = {}

    def __call__(self, prompts: list[str], answers: list[str]) -> list[float]:
        if self.judge_weight:
            self._references(sorted(set(prompts) - set(self.reference)))
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(prompts)))) as pool:
            return list(pool.map(self._one, prompts, answers))

    def _references(self, prompts: Sequence[str]) -> None:
        if not prompts:
            return
        handle = self.roles.runtime.handle(self.roles.roles_file.model_for("base"))  # reference: the bare model
        params = GenerationConfig(max_new_tokens=self.max_new_tokens)
        for p, g in zip(prompts, handle.generate([self.roles.book.answer(p) for p in prompts], params), strict=True):
            self.reference[p] = g.text

    def _one(self, prompt: str, answer: str) -> float:
        score = 0.0
        if self.safety_weight:
            verdict = self.roles.assess_safety(prompt, answer)
            score -= self.safety_weight * float(verdict.response_harmful_prob or 0.0)
        if self.judge_weight:
            principles = list(self.roles.constitution.principles)
            verdicts = self.roles.compare(prompt, self.reference[prompt], answer, principles)
            score += self.judge_weight * (sum(v.prob_b_better for v in verdicts) / len(verdicts) - 0.5)
        return score


class Combined:
    """The sum of weighted reward terms."""

    def __init__(self, parts: list[tuple[float, RewardFn]]) -> None:
        self.parts = parts

    def __call__(self, prompts: list[str], answers: list[str]) -> list[float]:
        total = [0.0] * len(prompts)
        for weight, fn in self.parts:
            total = [t + weight * s for t, s in zip(total, fn(prompts, answers), strict=True)]
        return total


def recipe_reward(config: PPORecipe, settings: Settings, store: Any, runtime: Any, roles_file: RolesFile
                  ) -> RewardFn:
    """The reward the recipe names: reward model, plus safety and judge terms when weighted."""
    parts: list[tuple[float, RewardFn]] = []
    if config.reward_model is not None and config.reward_model_weight:
        parts.append((config.reward_model_weight,
                      RewardModelScorer(reward_model_folder(config.reward_model, store), settings, roles_file)))
    if config.safety_weight or config.judge_weight:
        from oversight.constitution import load_constitution
        from oversight.runtime.roleset import RoleSet
        from oversight.train.bootstrap import resolve_versions

        roles = RoleSet(runtime, roles_file, load_constitution("default", settings.project_dir),
                        resolve_versions(store, roles_file))
        parts.append((1.0, RoleScores(roles, config.safety_weight, config.judge_weight, config.max_new_tokens)))
    if not parts:
        raise OversightError("ppo has no reward: pass a reward function, or set reward_model (e.g. "
                             "--set reward_model=active) or safety_weight / judge_weight in the recipe")
    return Combined(parts)
