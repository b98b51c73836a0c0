"""A dynamic batcher: many threads call, one worker runs batched model passes.

Callers submit single requests and block on a future. The worker takes the
oldest request, waits at most `max_wait_s` for company, then runs every queued
request with the same operation, adapter and settings (up to `max_batch`) as one
batch. On CPU and GPU alike a batch of 32 costs little more than a single call,
so throughput under concurrency grows almost with the batch size.

Generation can instead go to a `Decoder` (continuous batching, see decoding.py):
then the worker alternates one decoding step for all active rows with admitting
newcomers and running any one-shot batch (features, option scores) that is due.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

Execute = Callable[[Hashable, list[Any]], list[Any]]


class Decoder(Protocol):
    """A continuous-batching generator driven by the batcher's worker thread."""

    @property
    def active(self) -> int: ...

    @property
    def room(self) -> int: ...

    def admit(self, asks: Sequence[tuple[Any, Future]]) -> None: ...

    def step(self) -> None: ...

    def fail_all(self, exc: BaseException) -> None: ...


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
    seconds: dict[str, float] = field(default_factory=dict)  # worker time per operation

    @property
    def mean_batch(self) -> float:
        return self.requests / self.batches if self.batches else 0.0


class DynamicBatcher:
    """Coalesce concurrent requests of the same group into one `execute(group, payloads)` call."""

    def __init__(self, execute: Execute, *, max_batch: int = 32, max_wait_s: float = 0.005,
                 name: str = "batcher", decoder: Decoder | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._execute = execute
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.decoder = decoder
        self.stats = BatchStats()
        self._pending: deque[_Request] = deque()
        self._stream: deque[_Request] = deque()  # requests waiting for a place in the decoder
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._loop, name=name, daemon=True)
        self._worker.start()

    def submit(self, group: Hashable, payload: Any) -> Future:
        return self.submit_many(group, [payload])[0]

    def submit_many(self, group: Hashable, payloads: Sequence[Any]) -> list[Future]:
        return self._enqueue(self._pending, [_Request(group, p) for p in payloads])

    def run(self, group: Hashable, payloads: Sequence[Any]) -> list[Any]:
        """Submit and wait: the blocking call most callers want."""
        return [f.result() for f in self.submit_many(group, payloads)]

    def run_stream(self, payloads: Sequence[Any]) -> list[Any]:
        """Hand requests to the decoder (they join its running batch) and wait for their results."""
        if self.decoder is None:
            raise RuntimeError("this batcher has no decoder")
        futures = self._enqueue(self._stream, [_Request("stream", p) for p in payloads])
        return [f.result() for f in futures]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._worker.join(timeout=5)

    def _enqueue(self, queue: deque[_Request], requests: list[_Request]) -> list[Future]:
        with self._cond:
            if self._closed:
                raise RuntimeError("batcher is closed")
            queue.extend(requests)
            self._cond.notify()
        return [r.future for r in requests]

    def _decoding(self) -> bool:
        return self.decoder is not None and self.decoder.active > 0

    def _due(self, queue: deque[_Request], full: int) -> bool:
        return bool(queue) and (len(queue) >= full or time.monotonic() >= queue[0].arrived + self.max_wait_s)

    def _next_work(self) -> tuple[list[_Request], list[_Request]] | None:
        """Wait for work: a due one-shot batch and/or newcomers for the decoder. None once closed and idle.

        While the decoder has active rows nothing waits: requests not yet due are left for the next step.
        """
        with self._cond:
            while True:
                if self._closed and not self._pending and not self._stream and not self._decoding():
                    return None
                room = self.decoder.room if self.decoder is not None else 0
                batch_due = self._due(self._pending, self.max_batch) or (self._closed and bool(self._pending))
                stream_due = room > 0 and (self._due(self._stream, room) or self._closed
                                           or (self._decoding() and bool(self._stream)))
                if batch_due or stream_due or self._decoding():
                    break
                waiting = [q[0].arrived + self.max_wait_s for q in (self._pending, self._stream) if q]
                self._cond.wait(max(0.0, min(waiting) - time.monotonic()) if waiting else None)
            batch = self._take_group() if batch_due else []
            admitted = [self._stream.popleft() for _ in range(min(room, len(self._stream)))] if stream_due else []
            return batch, admitted

    def _take_group(self) -> list[_Request]:
        # The deque is changed in place, never replaced: a caller may have read `self._pending`
        # (to enqueue into it) before taking the lock, and a swapped-out deque would swallow its
        # request; the caller then waited forever (a graph run hung in CI that way).
        group = self._pending[0].group
        batch, rest = [], []
        while self._pending:
            r = self._pending.popleft()
            (batch if r.group == group and len(batch) < self.max_batch else rest).append(r)
        self._pending.extend(rest)
        return batch

    def _loop(self) -> None:
        while (work := self._next_work()) is not None:
            batch, admitted = work
            if batch:
                self._run_batch(batch)
            if self.decoder is not None and (admitted or self.decoder.active):
                self._run_decoder(self.decoder, admitted)

    def _run_batch(self, batch: list[_Request]) -> None:
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        started = time.perf_counter()
        try:
            results = self._execute(batch[0].group, [r.payload for r in batch])
            for r, res in zip(batch, results, strict=True):
                r.future.set_result(res)
        except BaseException as exc:  # noqa: BLE001 - delivered to every caller of the batch
            for r in batch:
                if not r.future.done():
                    r.future.set_exception(exc)
        self._count_time(str(_op(batch[0].group)), started)

    def _run_decoder(self, decoder: Decoder, admitted: list[_Request]) -> None:
        started = time.perf_counter()
        if admitted:
            try:
                decoder.admit([(r.payload, r.future) for r in admitted])
            except BaseException as exc:  # noqa: BLE001 - the newcomers fail, the running rows go on
                for r in admitted:
                    if not r.future.done():
                        r.future.set_exception(exc)
        try:
            decoder.step()
        except BaseException as exc:  # noqa: BLE001 - a failed step fails every row it carried
            decoder.fail_all(exc)
        self._count_time("decode", started)

    def _count_time(self, op: str, started: float) -> None:
        self.stats.seconds[op] = self.stats.seconds.get(op, 0.0) + time.perf_counter() - started


def _op(group: Hashable) -> Hashable:
    return group[0] if isinstance(group, tuple) and group else group
