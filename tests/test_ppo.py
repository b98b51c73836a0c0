"""PPO on the base role: the loss arithmetic, recipe errors, and real runs on the embedded model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from oversight.errors import ConfigError, OversightError
from oversight.settings import PROJECT_DIR, Settings
from oversight.store import Store, get_version
from oversight.train.ppo_config import load_ppo_recipe
from oversight.train.ppo_trainer import train_ppo

# The project's own prompts: one training set, and a held-out set of similar requests.
TRAIN = ["Name a fruit that is red.", "How do I boil an egg?", "What is the capital of Italy?",
         "Give me a tip for sleeping better.", "Why do leaves change colour in autumn?",
         "Suggest a name for a pet rabbit.", "What should I pack for a hiking trip?",
         "How can I learn to play the piano?"]
HELDOUT = ["Name a vegetable that is green.", "How do I make a cup of tea?", "What is the capital of Spain?",
           "Give me a tip for studying.", "Why is the sea salty?", "Suggest a name for a goldfish.",
           "What should I bring to a picnic?", "How can I learn to draw?"]
# Small and quick: answers of 8 tokens are enough to see the first word, which is all the reward reads.
SMALL = ["iterations=5", "prompts_per_iteration=8", "samples_per_prompt=1", "minibatch_size=8",
         "max_new_tokens=8", "seed=0"]


def starts_with_the(_prompts: list[str], answers: list[str]) -> list[float]:
    """1 when the answer's first word is "The": a rule that does not reward length."""
    out = []
    for answer in answers:
        first = re.match(r"\W*(\w+)", answer)
        out.append(1.0 if first and first.group(1).lower() == "the" else 0.0)
    return out


# --- the arithmetic ---------------------------------------------------------------------------
def test_gae_matches_a_hand_computed_episode() -> None:
    import torch

    from oversight.train.ppo_losses import gae

    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.4, 9.0]])  # the 9.0 sits on padding and must be ignored
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    gamma, lam = 0.9, 0.5
    d2 = 1.0 - 0.4                      # last real step: nothing follows
    d1 = 0.0 + gamma * 0.4 - 0.2
    d0 = 0.0 + gamma * 0.2 - 0.5
    a2, a1 = d2, d1 + gamma * lam * d2
    a0 = d0 + gamma * lam * a1
    adv, ret = gae(rewards, values, mask, gamma, lam)
    assert adv[0].tolist() == pytest.approx([a0, a1, a2, 0.0])
    assert ret[0, :3].tolist() == pytest.approx([a0 + 0.5, a1 + 0.2, a2 + 0.4])


def test_token_rewards_put_the_score_on_the_last_real_token() -> None:
    import torch

    from oversight.train.ppo_losses import token_rewards

    logp = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -1.0, 0.0]])
    ref = torch.tensor([[-1.5, -2.0, -3.0], [-2.0, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    rewards, kl = token_rewards(torch.tensor([2.0, -1.0]), logp, ref, mask, kl_coef=0.1)
    assert rewards.flatten().tolist() == pytest.approx([-0.05, 0.0, 2.0, -0.1, -1.0, 0.0])
    assert kl.sum(1).tolist() == pytest.approx([0.5, 1.0])


def test_ppo_loss_stops_pushing_beyond_the_clip_range() -> None:
    import torch

    from oversight.train.ppo_losses import ppo_loss

    old = torch.zeros(1, 2)
    new = torch.tensor([[0.5, 0.0]], requires_grad=True)  # ratio e^0.5 = 1.65 > 1.2 on the first token
    adv, mask = torch.ones(1, 2), torch.ones(1, 2)
    values = torch.tensor([[0.5, 0.1]], requires_grad=True)  # moved 0.5 (beyond 0.2) and 0.1 from the old 0
    parts = ppo_loss(new, old, adv, values, torch.zeros(1, 2), torch.ones(1, 2), mask, 0.2, 0.2, 0.5)
    parts.loss.backward()
    assert new.grad[0, 0] == 0.0 and new.grad[0, 1] < 0.0  # clipped token: no gradient; the other: pushed up
    assert parts.clip_fraction == pytest.approx(0.5)
    # a value may move at most clip_range_value from the rollout's estimate: beyond it, no gradient either
    assert values.grad[0, 0] == 0.0
    assert values.grad[0, 1] == pytest.approx(0.5 * 0.5 * (0.1 - 1.0))  # vf_coef * mean's 1/2 * d(0.5 x^2)


# --- bad input --------------------------------------------------------------------------------
def test_unknown_recipe_key_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError) as err:
        load_ppo_recipe("base_ppo", PROJECT_DIR, ["clip_rnage=0.3"])
    assert "clip_rnage" in str(err.value) and "unknown key" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="larger than a rollout batch"):
        load_ppo_recipe("base_ppo", PROJECT_DIR, ["minibatch_size=64"])
    with pytest.raises(ConfigError, match="no_such_recipe.yaml"):
        load_ppo_recipe("no_such_recipe", PROJECT_DIR)


def test_empty_or_blank_prompts_are_refused_before_any_work(settings: Settings) -> None:
    store = Store.open(settings)
    for prompts in ([], ["Name a fruit.", "   "]):
        with pytest.raises(OversightError, match="non-empty list of non-blank prompts"):
            train_ppo(settings, store, prompts=prompts, reward_fn=starts_with_the, progress=False, log=lambda _m: None)
    assert not (settings.adapters_dir / "base").exists()


def test_no_reward_at_all_is_a_one_line_error(settings: Settings) -> None:
    store = Store.open(settings)
    with pytest.raises(OversightError, match="no reward model"):
        train_ppo(settings, store, prompts=TRAIN, progress=False, log=lambda _m: None, overrides=["reward_model=active"])
    with pytest.raises(OversightError, match="ppo has no reward"):
        train_ppo(settings, store, prompts=TRAIN, progress=False, log=lambda _m: None, overrides=["reward_model=null"])


def test_reward_model_reference_errors(settings: Settings, tmp_path: Path) -> None:
    from oversight.store import register_version
    from oversight.train.ppo_rewards import reward_model_folder

    store = Store.open(settings)
    base_id = register_version(store, "base", "adapter", str(tmp_path), "HuggingFaceTB/SmolLM2-135M-Instruct",
                               activate=False)
    with pytest.raises(OversightError, match=f"model version {base_id} is a base version, not a reward model"):
        reward_model_folder(str(base_id), store)
    with pytest.raises(OversightError, match="no model version 999"):
        reward_model_folder(999, store)
    with pytest.raises(OversightError, match="has no adapter_config.json"):
        reward_model_folder(str(tmp_path), store)


# --- the real model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ppo_runtime() -> Iterator[object]:
    """A runtime of its own: PPO adds adapters to the model it serves, which the shared one must not see."""
    from oversight.runtime import Runtime
    from tests.conftest import SHARED_MODELS

    rt = Runtime(SHARED_MODELS)
    yield rt
    rt.close()


def _base_checksum(model: object) -> dict[str, float]:
    """Sum of each base weight, named as in the plain model (PEFT wrapping renames them)."""
    return {n.removeprefix("base_model.model.").replace(".base_layer", ""): float(p.detach().double().sum())
            for n, p in model.named_parameters() if "lora_" not in n}  # type: ignore[attr-defined]


@pytest.mark.model
def test_ppo_raises_heldout_reward_with_bounded_kl(settings: Settings, ppo_runtime: object) -> None:
    store = Store.open(settings)
    logs: list[str] = []
    outcome = train_ppo(settings, store, prompts=TRAIN, eval_prompts=HELDOUT, reward_fn=starts_with_the,
                        overrides=SMALL, runtime=ppo_runtime, progress=False, log=logs.append)
    m = outcome.metrics
    # greedy answers to prompts never trained on start with the rewarded word more often than before
    assert m["eval_reward_after"] > m["eval_reward_before"], m
    assert m["eval_reward_after"] - m["eval_reward_before"] >= 0.25, m
    # and the policy stayed near the reference: KL(pi || ref) per 8-token answer, in nats
    assert 0.0 <= m["eval_kl"] < 3.0, m
    assert len(outcome.history) == 5 and all(h["answer_tokens"] > 0 for h in outcome.history)
    record = get_version(store, outcome.version_id)
    assert record is not None and record.role == "base" and record.status == "candidate"
    assert record.algorithm == "ppo" and record.started_from == "bare"
    assert (Path(record.path) / "adapter" / "adapter_config.json").exists()
    assert any("iteration 5" in line for line in logs)


@pytest.mark.model
def test_one_update_changes_lora_weights_and_not_base_weights(settings: Settings, ppo_runtime: object) -> None:
    from safetensors.torch import load_file

    store = Store.open(settings)
    loaded, _ = ppo_runtime.loaded(_base_model())  # type: ignore[attr-defined]
    before = _base_checksum(loaded.model)
    # A reward that surely differs between the two answers: were they scored alike, the first advantages
    # (zero value head, no KL yet) would all be zero and the step would rightly change nothing.
    def alternating(_prompts: list[str], answers: list[str]) -> list[float]:
        return [float(i % 2) for i in range(len(answers))]

    outcome = train_ppo(settings, store, prompts=TRAIN[:2], reward_fn=alternating, runtime=ppo_runtime,
                        overrides=["iterations=1", "prompts_per_iteration=2", "minibatch_size=2", "max_new_tokens=4",
                                   "ppo_epochs=1"], progress=False, log=lambda _m: None)
    assert _base_checksum(loaded.model) == before  # every base weight bit-for-bit the same (sums in float64)
    saved = load_file(str(outcome.folder / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in saved.items() if "lora_B" in k]
    assert lora_b and any(float(v.abs().sum()) > 0 for v in lora_b)  # B starts at zero; one step moved it
    assert (outcome.folder / "value_head.safetensors").exists()


@pytest.mark.model
def test_runtime_drops_cached_features_when_adapter_weights_change(tmp_path: Path, ppo_runtime: object) -> None:
    import numpy as np
    import torch
    from peft import LoraConfig

    loaded, _ = ppo_runtime.loaded(_base_model())  # type: ignore[attr-defined]
    folder = tmp_path / "adapter"
    name = loaded.create_adapter(folder, LoraConfig(r=4, target_modules=["o_proj"], task_type="CAUSAL_LM"))
    handle = ppo_runtime.handle(_base_model(), folder)  # type: ignore[attr-defined]
    assert handle.adapter == name
    chats = [[{"role": "user", "content": "Name a fruit."}]]
    first = ppo_runtime.head_features(handle, chats, [-1], "last")  # type: ignore[attr-defined]
    with torch.no_grad():
        for n, p in loaded.model.named_parameters():
            if f"lora_B.{name}." in n:
                p.fill_(0.05)
    assert ppo_runtime.adapter_changed(handle) == 1  # type: ignore[attr-defined]
    second = ppo_runtime.head_features(handle, chats, [-1], "last")  # type: ignore[attr-defined]
    assert not np.allclose(first, second)


def _base_model() -> object:
    from oversight.roles import load_roles

    return load_roles("default", PROJECT_DIR).model_for("base")
