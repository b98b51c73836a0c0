"""Continuous batching: rows join and leave a running batch, and one-shot batches run between steps."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from oversight.roles import GenerationConfig, ModelConfig
from oversight.runtime import Runtime, as_chat, ops
from oversight.runtime.batcher import DynamicBatcher

PROMPTS = [
    "What is the capital of France?",
    "Name three primary colours.",
    "Write one sentence about the sea.",
    "What is 12 times 12?",
    "Why is the sky blue? Answer briefly.",
]
LIMITS = [30, 6, 24, 12, 18]  # different limits: rows leave the batch at different steps


@pytest.mark.model
def test_rows_joining_a_running_batch_equal_plain_generate(runtime: Runtime, embedded_fp32: ModelConfig) -> None:
    plain = Runtime(runtime.models_dir, continuous=False)
    try:
        expected = [plain.handle(embedded_fp32).generate([as_chat(p)], GenerationConfig(max_new_tokens=n))[0]
                    for p, n in zip(PROMPTS, LIMITS, strict=True)]
    finally:
        plain.close()
    handle = runtime.handle(embedded_fp32)
    decoder = handle.batcher.decoder
    assert decoder is not None
    steps, row_steps, admitted = decoder.stats.steps, decoder.stats.row_steps, decoder.stats.admitted
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        futures = []
        for prompt, limit in zip(PROMPTS, LIMITS, strict=True):  # callers arrive while others decode
            futures.append(pool.submit(handle.generate, [as_chat(prompt)], GenerationConfig(max_new_tokens=limit)))
            time.sleep(0.1)
        got = [f.result(120)[0] for f in futures]
    assert [g.text for g in got] == [e.text for e in expected]
    assert [g.new_tokens for g in got] == [e.new_tokens for e in expected]
    assert [g.prompt_tokens for g in got] == [e.prompt_tokens for e in expected]
    assert decoder.stats.admitted - admitted == len(PROMPTS)
    assert (decoder.stats.row_steps - row_steps) / (decoder.stats.steps - steps) > 1.5  # rows overlapped
    assert decoder.active == 0


@pytest.mark.model
def test_sampled_rows_share_a_batch_with_greedy_rows(runtime: Runtime, embedded_fp32: ModelConfig) -> None:
    handle = runtime.handle(embedded_fp32)
    greedy = GenerationConfig(max_new_tokens=16)
    sampled = GenerationConfig(max_new_tokens=16, do_sample=True, temperature=1.2, top_p=0.9)
    alone = handle.generate([as_chat(PROMPTS[0])], greedy)[0].text
    with ThreadPoolExecutor(4) as pool:
        rows = list(pool.map(lambda params: handle.generate([as_chat(PROMPTS[0])], params)[0],
                             [greedy, sampled, sampled, sampled]))
    assert rows[0].text == alone
    assert all(0 < r.new_tokens <= 16 and r.text for r in rows[1:])


class StepDecoder:
    """A scripted decoder: each payload is how many steps that row lasts."""

    def __init__(self, max_rows: int, log: list[str], fail_on_step: int | None = None) -> None:
        self.max_rows, self.log, self.fail_on_step = max_rows, log, fail_on_step
        self.rows: list[list[Any]] = []
        self.steps = 0

    @property
    def active(self) -> int:
        return len(self.rows)

    @property
    def room(self) -> int:
        return self.max_rows - len(self.rows)

    def admit(self, asks: list[tuple[Any, Future]]) -> None:
        if any(p == "bad" for p, _ in asks):
            raise ValueError("bad request")
        self.log.append(f"admit {len(asks)}")
        self.rows += [[fut, payload, 0] for payload, fut in asks]

    def step(self) -> None:
        self.steps += 1
        self.log.append("step")
        time.sleep(0.01)
        if self.steps == self.fail_on_step:
            raise RuntimeError("step failed")
        for row in self.rows:
            row[2] += 1
            if row[2] == row[1]:
                row[0].set_result(row[2])
        self.rows = [r for r in self.rows if r[2] < r[1]]

    def fail_all(self, exc: BaseException) -> None:
        for fut, *_ in self.rows:
            fut.set_exception(exc)
        self.rows = []


def test_batcher_interleaves_one_shot_batches_with_decoding_steps() -> None:
    log: list[str] = []

    def execute(group: object, items: list[int]) -> list[int]:
        log.append(f"batch {len(items)}")
        return [i + 1 for i in items]

    batcher = DynamicBatcher(execute, max_batch=8, max_wait_s=0.001, decoder=StepDecoder(2, log))
    results: dict[str, Any] = {}
    threads = [threading.Thread(target=lambda k=k, n=n: results.__setitem__(k, batcher.run_stream([n])[0]))
               for k, n in (("a", 20), ("b", 5), ("c", 3))]
    for t in threads:
        t.start()
    time.sleep(0.05)  # rows are decoding now
    assert batcher.run("features", [1, 2]) == [2, 3]  # served between steps, not after decoding ends
    for t in threads:
        t.join(5)
    batcher.close()
    assert results == {"a": 20, "b": 5, "c": 3}
    assert "step" in log[log.index("batch 2"):]  # rows were still decoding after the batch ran
    assert all(int(line.split()[1]) <= 2 for line in log if line.startswith("admit"))  # never over max_rows
    assert batcher.stats.seconds["decode"] > 0 and batcher.stats.seconds["features"] >= 0


def test_a_failed_step_fails_its_rows_and_the_batcher_goes_on() -> None:
    batcher = DynamicBatcher(lambda g, items: items, max_batch=4, max_wait_s=0.001,
                             decoder=StepDecoder(4, [], fail_on_step=2))
    with pytest.raises(RuntimeError, match="step failed"):
        batcher.run_stream([5])
    with pytest.raises(ValueError, match="bad request"):
        batcher.run_stream(["bad"])
    assert batcher.run_stream([2]) == [2]
    assert batcher.run("x", [7]) == [7]
    batcher.close()
