"""A dynamic batcher: many threads call, one worker runs batched model passes.

Callers submit single requests and block on a future. The worker takes the
oldest request, waits at most `max_wait_s` for company, then runs every queued
request with the same operation, adapter and settings (up to `max_batch`) as one
batch. On CPU and GPU alike a batch of 32 costs little more than a single call,
so throughput under concurrency grows almost with the batch size.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

Execute = Callable[[Hashable, list[Any]], list[Any]]


@dataclass
class _Request:
    group: Hashable
    payload: Any
    future: Future = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class BatchStats:
    batches: int = 0
    requests: int = 0
    largest: int = 0

    @property
    def mean_batch(self) -> float:
        return self.requests / self.batches if self.batches else 0.0


class DynamicBatcher:
    """Coalesce concurrent requests of the same group into one `execute(group, payloads)` call."""

    def __init__(self, execute: Execute, *, max_batch: int = 32, max_wait_s: float = 0.005,
                 name: str = "batcher") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._execute = execute
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        self._pending: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._loop, name=name, daemon=True)
        self._worker.start()

    def submit(self, group: Hashable, payload: Any) -> Future:
        return self.submit_many(group, [payload])[0]

    def submit_many(self, group: Hashable, payloads: Sequence[Any]) -> list[Future]:
        requests = [_Request(group, p) for p in payloads]
        with self._cond:
            if self._closed:
                raise RuntimeError("batcher is closed")
            self._pending.extend(requests)
            self._cond.notify()
        return [r.future for r in requests]

    def run(self, group: Hashable, payloads: Sequence[Any]) -> list[Any]:
        """Submit and wait: the blocking call most callers want."""
        return [f.result() for f in self.submit_many(group, payloads)]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._worker.join(timeout=5)

    def _take_batch(self) -> list[_Request] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            deadline = self._pending[0].arrived + self.max_wait_s
            while len(self._pending) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            group = self._pending[0].group
            batch, rest = [], deque()
            while self._pending:
                r = self._pending.popleft()
                (batch if r.group == group and len(batch) < self.max_batch else rest).append(r)
            self._pending = rest
            return batch

    def _loop(self) -> None:
        while (batch := self._take_batch()) is not None:
            self.stats.batches += 1
            self.stats.requests += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            try:
                results = self._execute(batch[0].group, [r.payload for r in batch])
                for r, res in zip(batch, results, strict=True):
                    r.future.set_result(res)
            except BaseException as exc:  # noqa: BLE001 - delivered to every caller of the batch
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(exc)
