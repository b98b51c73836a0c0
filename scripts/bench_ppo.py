"""Benchmark (not a test): PPO rollout tokens per second through the runtime, against plain `generate`.

The same prompts, the same policy (the embedded model with a fresh PPO LoRA adapter,
as in the first iteration of `train --role base --algo ppo`) and the same sampling
(temperature 1, no top-p, as PPO rollouts use) are run three ways:

  runtime   one `ModelHandle.generate` call: the continuous batcher, as PPO's rollouts run
  loop      one `model.generate` per prompt (what a simple PPO loop would do)
  batched   one `model.generate` call over all prompts (padded; runs to its longest answer)

Tokens are the answer tokens actually generated (end token included, padding not).
Usage: .venv/bin/python scripts/bench_ppo.py [--prompts 16] [--max-new-tokens 48] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

PROMPTS = [
    "Name a fruit that is red.", "How do I boil an egg?", "What is the capital of Italy?",
    "Give me a tip for sleeping better.", "Why do leaves change colour in autumn?", "Suggest a name for a pet rabbit.",
    "What should I pack for a hiking trip?", "How can I learn to play the piano?", "Explain what a budget is.",
    "Write one sentence about the ocean.", "How do plants make food?", "What is a good stretch for the back?",
    "Describe a rainy day in two sentences.", "How do I keep basil alive indoors?", "What does a librarian do?",
    "Give me three words that rhyme with light.", "Why do we need sleep?", "How is bread made?",
    "What is the difference between weather and climate?", "Suggest a weekend activity for a family.",
    "How can I save water at home?", "What makes a good password?", "Explain gravity to a child.",
    "What should I say in a thank-you note?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16, help="how many prompts (at most %d)" % len(PROMPTS))
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from peft import LoraConfig

    from oversight.roles import load_roles
    from oversight.runtime import Runtime, ops
    from oversight.runtime.prompts import PromptBook
    from oversight.settings import Settings
    from oversight.train.ppo_rollout import sample

    settings = Settings.from_env()
    roles_file = load_roles("default", settings.project_dir)
    model_cfg = roles_file.model_for("base")
    runtime = Runtime(settings.models_dir, max_batch=max(32, args.prompts))
    loaded, _ = runtime.loaded(model_cfg)
    with tempfile.TemporaryDirectory() as tmp:
        loaded.create_adapter(Path(tmp) / "adapter", LoraConfig(
            r=16, lora_alpha=32, task_type="CAUSAL_LM", layers_to_transform=list(range(18, 30)),
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
        handle = runtime.handle(model_cfg, Path(tmp) / "adapter")
    book = PromptBook(roles_file)
    chats = [book.answer(p) for p in PROMPTS[: args.prompts]]
    eos = set(loaded.model.generation_config.eos_token_id if isinstance(loaded.model.generation_config.eos_token_id,
                                                                          list)
              else [loaded.model.generation_config.eos_token_id]) | {loaded.tokenizer.eos_token_id}

    def hf_generate(rows: list[Any]) -> int:
        """One `generate` over these chats with the policy adapter; answer tokens (end token included)."""
        batch, _ = ops.encode(loaded, ops.render(loaded, rows))

        def run(lm: Any) -> Any:
            with torch.inference_mode(), ops.using_adapter(lm, handle.adapter) as model:
                return model.generate(**batch, max_new_tokens=args.max_new_tokens, do_sample=True, temperature=1.0,
                                      top_p=1.0, top_k=0, pad_token_id=lm.tokenizer.pad_token_id)
        out = handle.on_worker(run)[:, batch["input_ids"].shape[1]:].tolist()
        return sum(next((i + 1 for i, t in enumerate(row) if t in eos), len(row)) for row in out)

    def timed(name: str, fn: Any) -> tuple[str, float, int]:
        torch.manual_seed(args.seed)
        start = time.perf_counter()
        tokens = fn()
        return name, time.perf_counter() - start, tokens

    sample(handle, chats[:2], 4, 1.0)  # warm-up: first passes allocate
    hf_generate(chats[:2])
    results = [
        timed("runtime", lambda: sum(len(g.token_ids) for g in sample(handle, chats, args.max_new_tokens, 1.0))),
        timed("loop", lambda: sum(hf_generate([c]) for c in chats)),
        timed("batched", lambda: hf_generate(chats)),
    ]
    runtime.close()
    speed = {name: tokens / seconds for name, seconds, tokens in results}
    print(f"PPO rollouts, {len(chats)} prompts, up to {args.max_new_tokens} new tokens, sampled at temperature 1, "
          f"{model_cfg.source} + LoRA r=16, torch threads {torch.get_num_threads()}")
    for name, seconds, tokens in results:
        print(f"  {name:8s} {tokens:5d} tokens in {seconds:6.1f} s = {speed[name]:6.1f} tokens/s")
    print(f"  runtime / per-prompt loop: {speed['runtime'] / speed['loop']:.2f}x (goal >= 4x)")
    print(f"  runtime / one batched generate: {speed['runtime'] / speed['batched']:.2f}x (goal >= 0.8x)")


if __name__ == "__main__":
    main()
