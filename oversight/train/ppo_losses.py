"""The arithmetic of PPO on token sequences: rewards with a KL penalty, GAE, the clipped losses.

Every tensor is [answers, answer tokens] with a 0/1 `mask` for padding after an
answer's end; a step of the episode is one generated token. Pure functions of
tensors, so they are tested without a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def masked_mean(x: Any, mask: Any) -> Any:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def whiten(x: Any, mask: Any, shift_mean: bool = True) -> Any:
    """Zero mean, unit variance over the real tokens (padding stays as it is, multiplied out later)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * (var + 1e-8).rsqrt()
    return out if shift_mean else out + mean


def token_rewards(scores: Any, logprobs: Any, ref_logprobs: Any, mask: Any, kl_coef: float) -> tuple[Any, Any]:
    """Per-token rewards: -kl_coef * (log pi - log ref) on every token, plus the answer's score on its last one.

    The penalty per token (not one KL term per answer) lets GAE credit each token with the divergence it
    caused. Returns (rewards, per-token KL estimate).
    """
    import torch

    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    last = (mask.sum(1).long() - 1).clamp(min=0)
    rewards = rewards + torch.zeros_like(rewards).scatter(1, last.unsqueeze(1), scores.unsqueeze(1).to(rewards))
    return rewards * mask, kl


def gae(rewards: Any, values: Any, mask: Any, gamma: float, lam: float) -> tuple[Any, Any]:
    """Generalised advantage estimation backwards over tokens; returns (advantages, returns).

    The value after an answer's last token is 0 (the episode ends), which `mask` of the next step gives.
    """
    import torch

    steps = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(steps)):
        following = values[:, t + 1] * mask[:, t + 1] if t + 1 < steps else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * following - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


@dataclass
class LossParts:
    loss: Any
    policy: float
    value: float
    clip_fraction: float
    approx_kl: float  # between the policy before and after this epoch's steps, not against the reference


def ppo_loss(logprobs: Any, old_logprobs: Any, advantages: Any, values: Any, old_values: Any, returns: Any,
             mask: Any, clip_range: float, clip_range_value: float, vf_coef: float) -> LossParts:
    """Clipped surrogate objective plus clipped value loss (both as in PPO2 / TRL's former PPOTrainer)."""
    import torch

    log_ratio = logprobs - old_logprobs
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip_range, 1 + clip_range)
    policy = masked_mean(torch.maximum(unclipped, clipped), mask)
    # The value may not move further than clip_range_value from the rollout's estimate in one batch,
    # which keeps a poorly fitted value head from swinging the advantages of the next epochs.
    values_clipped = old_values + (values - old_values).clamp(-clip_range_value, clip_range_value)
    value = 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (values_clipped - returns) ** 2), mask)
    with torch.no_grad():
        clip_fraction = masked_mean((clipped > unclipped).float(), mask)
        approx_kl = 0.5 * masked_mean(log_ratio ** 2, mask)
    return LossParts(policy + vf_coef * value, policy.item(), value.item(), clip_fraction.item(), approx_kl.item())
