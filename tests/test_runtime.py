"""The model runtime on the real embedded model: generate, score, features, batching, adapters."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from oversight.errors import OversightError
from oversight.roles import GenerationConfig, ModelConfig
from oversight.runtime import Runtime, as_chat
from oversight.runtime.batcher import DynamicBatcher

pytestmark = pytest.mark.model

PROMPTS = [
    "What is the capital of France?",
    "Name three primary colours.",
    "Write one sentence about the sea.",
    "What is 12 times 12?",
    "Give me a tip for learning Python, in one line.",
    "Why is the sky blue? Answer briefly.",
]
GREEDY = GenerationConfig(max_new_tokens=20)


def test_embedded_model_generates(runtime: Runtime, embedded_fp32: ModelConfig) -> None:
    [out] = runtime.handle(embedded_fp32).generate([as_chat("What is the capital of France?")], GREEDY)
    assert "Paris" in out.text and 0 < out.new_tokens <= 20 and not out.truncated


def test_batched_generation_equals_unbatched_greedy(runtime: Runtime, embedded_fp32: ModelConfig) -> None:
    handle = runtime.handle(embedded_fp32)
    alone = [handle.generate([as_chat(p)], GREEDY)[0].text for p in PROMPTS]
    together = [g.text for g in handle.generate([as_chat(p) for p in PROMPTS], GREEDY)]
    assert together == alone
    before = handle.batcher.stats.batches
    with ThreadPoolExecutor(len(PROMPTS)) as pool:  # concurrent callers, coalesced by the batcher
        concurrent = list(pool.map(lambda p: handle.generate([as_chat(p)], GREEDY)[0].text, PROMPTS))
    assert concurrent == alone
    assert handle.batcher.stats.batches - before < len(PROMPTS)


def test_option_scoring_is_a_distribution(runtime: Runtime, embedded_fp32: ModelConfig) -> None:
    handle = runtime.handle(embedded_fp32)
    chats = [as_chat("Is water wet? Answer Yes or No."), as_chat("Pick A or B.")]
    yes_no, a_b = handle.score_options(chats[:1], ["Yes", "No"])[0], handle.score_options(chats[1:], ["A", "B"])[0]
    for scores in (yes_no, a_b):
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert all(0.0 < v < 1.0 for v in scores.values())
    # options sharing their first token are scored by full continuation, still a distribution
    shared = handle.score_options(chats[:1], ["Yes, always", "Yes, never", "No"])[0]
    assert sum(shared.values()) == pytest.approx(1.0, abs=1e-5) and len(shared) == 3


def test_features_have_the_hidden_size(runtime: Runtime, embedded_fp32: ModelConfig) -> None:
    handle = runtime.handle(embedded_fp32)
    hidden = handle.loaded.hidden_size
    one = handle.features([as_chat("hello")], layers=[-8])
    two = handle.features([as_chat("hello"), as_chat("a longer prompt here")], layers=[-8, -4], pooling="mean")
    assert one.shape == (1, hidden) and hidden == 576
    assert two.shape == (2, 2 * hidden)
    # left padding must not change a prompt's last-token features
    solo = handle.features([as_chat("hello")], layers=[-8])
    pair = handle.features([as_chat("hello"), as_chat("a much longer prompt than the first one")], layers=[-8])
    assert abs(solo[0] - pair[0]).max() < 1e-3


def test_overlong_prompt_is_truncated_and_reported(runtime: Runtime) -> None:
    small = ModelConfig(source="embedded:smollm2-135m-instruct", dtype="float32", max_context=64)
    [out] = runtime.handle(small).generate([as_chat("word " * 200)], GenerationConfig(max_new_tokens=4))
    assert out.truncated and out.prompt_tokens == 64


def _make_adapter(runtime: Runtime, cfg: ModelConfig, folder: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model

    from oversight.runtime.loading import load_base

    torch.manual_seed(seed)
    model = load_base(cfg, runtime.models_dir, device="cpu")
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft.save_pretrained(folder)
    return folder


def test_adapters_share_one_base_model(runtime: Runtime, embedded_fp32: ModelConfig, tmp_path: Path) -> None:
    a = _make_adapter(runtime, embedded_fp32, tmp_path / "a", 1)
    b = _make_adapter(runtime, embedded_fp32, tmp_path / "b", 2)
    bare, with_a, with_b = runtime.handle(embedded_fp32), runtime.handle(embedded_fp32, a), \
        runtime.handle(embedded_fp32, b)
    assert bare.loaded is with_a.loaded is with_b.loaded
    chat = [as_chat("Tell me about cats.")]
    outs = {name: h.generate(chat, GREEDY)[0].text for name, h in
            {"bare": bare, "a": with_a, "b": with_b}.items()}
    assert len(set(outs.values())) == 3, outs
    # mixed-adapter traffic from many threads returns what each adapter gives alone
    jobs = [h for h in (bare, with_a, with_b) for _ in range(3)]
    with ThreadPoolExecutor(9) as pool:
        mixed = list(pool.map(lambda h: h.generate(chat, GREEDY)[0].text, jobs))
    assert mixed == [outs[n] for n in ("bare", "a", "b") for _ in range(3)]
    assert bare.generate(chat, GREEDY)[0].text == outs["bare"]  # disabling adapters restores the base


def test_adapter_of_wrong_shape_is_a_clear_error(runtime: Runtime, embedded_fp32: ModelConfig, tmp_path: Path) -> None:
    folder = _make_adapter(runtime, embedded_fp32, tmp_path / "bad", 3)
    from safetensors.torch import load_file, save_file

    weights = {k: v[:, :8].contiguous() if v.dim() == 2 and v.shape[1] == 576 else v
               for k, v in load_file(folder / "adapter_model.safetensors").items()}
    save_file(weights, folder / "adapter_model.safetensors")
    with pytest.raises(OversightError, match="does not fit model"):
        runtime.handle(embedded_fp32, folder)


SHARED_LOAD_SCRIPT = """
import json, sys
from pathlib import Path
from oversight.roles import load_roles
from oversight.runtime import Runtime
from oversight.settings import PROJECT_DIR
roles = load_roles("default", PROJECT_DIR, ["models.smollm2.dtype=float32"])
rt = Runtime(Path(sys.argv[1]))
def rss():  # peak resident memory of this process (VmHWM; unlike ru_maxrss it is not inherited on fork)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
start = rss()
first = rt.handle(roles.model_for("base"))
one = rss()
handles = [rt.handle(roles.model_for(r)) for r in roles.roles]
weights = sum(p.numel() * p.element_size() for p in first.loaded.model.parameters())
print(json.dumps({"one": one - start, "all": rss() - one, "weights": weights,
                  "models": len(rt.loaded_models), "roles": len(handles)}))
"""


def test_four_roles_share_one_loaded_model(runtime: Runtime) -> None:
    proc = subprocess.run([sys.executable, "-c", SHARED_LOAD_SCRIPT, str(runtime.models_dir)],
                          capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["models"] == 1 and report["roles"] == 5
    assert report["one"] >= 0.5 * report["weights"], report  # the first load really costs the weights
    assert report["all"] < 0.1 * report["weights"], report  # the other roles cost (almost) nothing


def test_batcher_groups_and_propagates_errors() -> None:
    calls: list[tuple[str, int]] = []
    gate = threading.Event()

    def execute(group: object, items: list[int]) -> list[int]:
        gate.wait(2)
        calls.append((str(group), len(items)))
        if group == "boom":
            raise ValueError("bad batch")
        return [i * 2 for i in items]

    batcher = DynamicBatcher(execute, max_batch=4, max_wait_s=0.05)
    futures = [batcher.submit("x", i) for i in range(6)] + [batcher.submit("boom", 1)]
    gate.set()
    assert [f.result(5) for f in futures[:6]] == [0, 2, 4, 6, 8, 10]
    with pytest.raises(ValueError, match="bad batch"):
        futures[6].result(5)
    assert all(size <= 4 for _, size in calls) and sum(s for g, s in calls if g == "x") == 6
    batcher.close()


def test_no_request_is_lost_while_the_worker_takes_a_group() -> None:
    """Callers enqueue while the worker splits mixed groups; every request gets its answer.

    A caller that had read the pending queue just before the worker replaced it used to
    append to the discarded queue and wait forever (a graph run hung that way in CI).
    """
    from concurrent.futures import ThreadPoolExecutor

    batcher = DynamicBatcher(lambda group, items: [(group, i) for i in items], max_batch=3, max_wait_s=0.0)
    queue_object = batcher._pending  # the worker changes it in place, never swaps it out

    def caller(n: int) -> int:
        done = 0
        for i in range(300):
            group = ("a", "b", "c")[(n + i) % 3]
            futures = batcher.submit_many(group, [i, i + 1])
            assert [f.result(timeout=10) for f in futures] == [(group, i), (group, i + 1)]
            done += 1
        return done

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(caller, range(8))) == 8 * 300
    assert batcher._pending is queue_object and batcher.stats.requests == 8 * 300 * 2
    batcher.close()


def test_a_local_model_folder_works_like_the_embedded_model(runtime: Runtime, embedded_fp32: ModelConfig) -> None:
    from oversight.runtime.loading import model_folder

    folder = model_folder(embedded_fp32, runtime.models_dir)
    local = ModelConfig(source=folder, dtype="float32")
    chat = [as_chat("What is the capital of France?")]
    assert runtime.handle(local).generate(chat, GREEDY)[0].text == \
        runtime.handle(embedded_fp32).generate(chat, GREEDY)[0].text
