"""The apply worker: resumes decided items' graph threads beside the server, never in a request.

A request only records a decision and wakes the worker; the worker calls
`ReviewService.apply(resume)` on its own thread (the one thread that touches the
models and the checkpointer), then sleeps until woken or until `interval_s` passes,
so decisions recorded by other servers or the CLI are applied too.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from oversight.review.apply import Resumer
from oversight.review.models import ApplyOutcome
from oversight.review.service import ReviewService

log = logging.getLogger(__name__)


class ApplyWorker:
    """A daemon thread applying decided items; `wake()` after recording a decision."""

    def __init__(self, service: ReviewService, resume: Resumer, interval_s: float = 5.0) -> None:
        self.service, self.resume, self.interval_s = service, resume, interval_s
        self.recent: deque[ApplyOutcome] = deque(maxlen=50)
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def start(self) -> ApplyWorker:
        self._thread = threading.Thread(target=self._loop, name="oversight-review-apply", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        close: Any = getattr(self.resume, "close", None)
        if callable(close):
            close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.run_once()
            self._wake.wait(self.interval_s)

    def run_once(self) -> list[ApplyOutcome]:
        """One pass over decided items; an unexpected error is logged and retried next pass."""
        try:
            outcomes = self.service.apply(self.resume)
        except Exception as exc:  # noqa: BLE001 - the worker must outlive one bad pass
            self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.exception("applying review decisions failed")
            return []
        finally:
            self.passes += 1
        self.recent.extend(outcomes)
        if outcomes:
            self.last_error = next((o.error for o in outcomes if not o.ok), None)
        return outcomes
