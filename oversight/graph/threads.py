"""Thread ids and the leases that keep one worker on a run and on a thread.

A thread id is `RUN_ID:PROMPT_ID`; threads started elsewhere (the LangGraph
server names its own) carry their run in the state instead, which is the
source `resume` trusts first. A run lease keeps a second process off a run id;
a thread lease keeps a rerun and a reviewer's resume from continuing the same
thread at once. Both live in the store, so they hold across machines on PostgreSQL.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oversight.store import Store


def thread_id(run_id: str, prompt_id: str) -> str:
    return f"{run_id}:{prompt_id}"


def run_of(thread: str, values: dict[str, Any]) -> str:
    """The run a thread belongs to: its state's run id, else the part of its id before the first colon."""
    run_id = values.get("run_id")
    if run_id:
        return str(run_id)
    return thread.split(":", 1)[0]


def run_lease(run_id: str) -> str:
    return f"run:{run_id}"


def thread_lease(thread: str) -> str:
    return f"thread:{thread}"


def holder_is_dead(holder: str) -> bool:
    """True when a lease holder (host:pid:tag) is a process of this host that no longer runs.

    A run killed with kill -9 leaves its leases until they expire; a rerun on the
    same machine need not wait for that. Holders on other hosts are trusted to be alive.
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def hold_lease(store: Store, name: str, what: str) -> Iterator[None]:
    """`leases.hold`, first reclaiming the lease from a dead process of this host."""
    from oversight.store.leases import get_lease, hold, release

    current = get_lease(store, name)
    if current is not None and not current.expired and holder_is_dead(current.holder):
        release(store, name, current.holder)
    with hold(store, name, what=what):
        yield
