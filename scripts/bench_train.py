"""Benchmark: optimizer steps per second of the base-model trainers (SFT, DPO, reward) on this machine.

Each algorithm trains a fresh LoRA adapter (r=8 by default, batch 4, sequences cut at 256 tokens) on
TRL-format rows written from the constitution's material, through the same functions
`train --role base` runs. The first step (warm-up: tokenizer, allocator) is timed apart.

    .venv/bin/python scripts/bench_train.py                 # sft, dpo, reward; 8 steps each
    .venv/bin/python scripts/bench_train.py --algo dpo --steps 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent


def bench(algo: str, steps: int, overrides: list[str], work: Path) -> dict[str, Any]:
    from transformers import TrainerCallback

    from oversight.constitution import load_constitution
    from oversight.roles import load_roles
    from oversight.settings import Settings
    from oversight.train.base_data import load_base_data
    from oversight.train.base_recipes import load_base_recipe
    from oversight.train.base_trainer import run_algorithm
    from oversight.train.lora_setup import policy_model, reward_model
    from oversight.train.material_sets import material_dataset

    settings = Settings.from_env()
    recipe = load_base_recipe(algo, f"base_{algo}", PROJECT, [f"steps={steps}", "eval_rows=0", *overrides])
    roles_file = load_roles("default", PROJECT)
    constitution = load_constitution("default", PROJECT)
    data = load_base_data(material_dataset(constitution, "sft" if algo == "sft" else "preference"), algo,
                          system_prompt=roles_file.roles["base"].system_prompt)
    cfg = roles_file.model_for("base")
    model, tokenizer = (reward_model(recipe, cfg, settings.models_dir) if algo == "reward"
                        else policy_model(recipe, cfg, settings.models_dir, None))
    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            stamps.append(time.perf_counter())

    import transformers

    original = transformers.Trainer.__init__

    def with_clock(self: Any, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        self.add_callback(Clock())

    transformers.Trainer.__init__ = with_clock  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        run_algorithm(recipe, model, tokenizer, data, work / algo, progress=False)
    finally:
        transformers.Trainer.__init__ = original  # type: ignore[method-assign]
    steady = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else float("nan")
    return {"algo": algo, "steps": len(stamps), "first_step_s": stamps[0] - start if stamps else float("nan"),
            "s_per_step": steady, "steps_per_s": 1 / steady, "lora_r": recipe.lora_r,
            "batch": recipe.batch_size, "max_length": recipe.max_length, "dtype": recipe.dtype}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", action="append", choices=("sft", "dpo", "reward"),
                        help="which trainers (repeatable; default all three)")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per trainer (default 8)")
    parser.add_argument("--set", action="append", default=[], help="recipe override key=value")
    args = parser.parse_args()
    overrides = ["lora_r=8", "batch_size=4", "max_length=256", *args.set]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for algo in args.algo or ["sft", "dpo", "reward"]:
            rows.append(bench(algo, args.steps, overrides, Path(tmp)))
            r = rows[-1]
            print(f"{algo:7s} {r['steps_per_s']:.3f} steps/s  ({r['s_per_step']:.2f} s a step after the first, "
                  f"first {r['first_step_s']:.1f} s; LoRA r={r['lora_r']}, batch {r['batch']}, "
                  f"length <= {r['max_length']}, {r['dtype']} base)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
