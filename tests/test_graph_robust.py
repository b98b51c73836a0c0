"""Resume from any process, the crash window before a pause, one worker per run and per thread, run kinds."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from oversight.errors import OversightError
from oversight.graph.build import compile_spec
from oversight.graph.inputs import Prompt
from oversight.graph.runner import open_checkpointer, resume, run_prompts, start_run
from oversight.graph.sequential import run_naive
from oversight.settings import Settings
from oversight.store import Store, get_review_by_thread, get_run, get_trajectory, pending_reviews
from oversight.store.leases import LeaseHeld, acquire, release
from oversight.store.tables import ReviewItem, Trajectory
from tests.graph_support import FIXED, backend, context, escalating_roles, run  # noqa: F401 - backend is a fixture

PROJECT = Path(__file__).resolve().parent.parent
ELSEWHERE = "another-host:4242:cafe"  # a live holder on another machine (never reclaimed as dead)


def test_resume_takes_the_run_from_the_thread(backend: Settings) -> None:
    store = Store.open(backend)
    roles = escalating_roles()
    ctx = context(backend, store, roles, run_id="r1")
    [paused] = run(backend, ctx, ["q"]).results
    assert paused.status == "pending_review"
    # A reviewer's process has a context of its own, with another run id.
    reviewer = context(backend, store, roles, run_id="review-desk")
    start_run(reviewer)
    with open_checkpointer(backend) as saver:
        done = resume(compile_spec(reviewer.spec, checkpointer=saver), reviewer, "r1:p0",
                      {"action": "choose", "candidate": 1, "reviewer": "ana"})
    assert (done.status, done.final_response) == ("done", FIXED)
    with store.session() as s:
        rows = s.execute(select(Trajectory.run_id, Trajectory.status).where(Trajectory.prompt_id == "p0")).all()
    assert rows == [("r1", "done")]
    assert get_review_by_thread(store, "r1:p0").status == "applied"


def test_crash_after_pending_save_before_the_pause_is_checkpointed(
        backend: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pending trajectory and review item are stored, then the process dies before LangGraph saves the pause."""
    import oversight.graph.nodes as nodes

    class Crash(BaseException):
        """Like kill -9 for the runner: nothing catches it."""

    real_interrupt = nodes.interrupt

    def crash(value: object) -> object:
        raise Crash()

    store = Store.open(backend)
    ctx = context(backend, store, escalating_roles(), run_id="crashy")
    monkeypatch.setattr(nodes, "interrupt", crash)
    with pytest.raises(Crash):
        run(backend, ctx, ["q"])
    assert get_trajectory(store, "crashy", "p0").status == "pending_review"  # saved before the crash
    monkeypatch.setattr(nodes, "interrupt", real_interrupt)
    [again] = run(backend, ctx, ["q"]).results
    assert again.status == "pending_review"
    with open_checkpointer(backend) as saver:
        graph = compile_spec(ctx.spec, checkpointer=saver)
        assert graph.get_state({"configurable": {"thread_id": "crashy:p0"}}).interrupts  # the thread is paused
        done = resume(graph, ctx, "crashy:p0", {"action": "accept"})
    assert done.status == "done" and get_trajectory(store, "crashy", "p0").status == "done"
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 1
        assert s.scalar(select(func.count()).select_from(Trajectory)) == 1


# The child runs the same run id with roles that wait until the parent has tried to join.
CHILD = textwrap.dedent(f"""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {str(PROJECT)!r})
    from oversight.settings import Settings
    from oversight.store import Store
    from tests.fakes import FakeRoles
    from tests.graph_support import context, run
    flag = Path(sys.argv[1])
    def wait(name, args):
        if name == "answer":
            (flag.parent / "started").touch()
            while not flag.exists():
                time.sleep(0.05)
    settings = Settings.from_env()
    print(run(settings, context(settings, Store.open(settings), FakeRoles(on_call=wait), run_id="shared"), ["hi"])
          .results[0].status)
""")


def test_second_process_with_the_same_run_id_is_refused(
        backend: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERSIGHT_DATABASE_URL", backend.database_url)
    store = Store.open(backend)
    flag = tmp_path / "go"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(flag)], cwd=PROJECT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if (tmp_path / "started").exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert (tmp_path / "started").exists(), child.communicate()[1][-2000:]
        ctx = context(backend, store, escalating_roles(), run_id="shared")
        with pytest.raises(OversightError, match=r"run 'shared' is already running in another process .*"
                                                 r"wait for it to finish or choose another --run-id"):
            run(backend, ctx, ["hi"])
    finally:
        flag.touch()
        out, err = child.communicate(timeout=120)
    assert child.returncode == 0 and out.strip() == "done", err[-2000:]
    [after] = run(backend, ctx, ["hi"]).results  # the lease went with the first process
    assert after.status == "skipped"


def test_a_rerun_and_a_reviewer_never_continue_the_same_thread_at_once(backend: Settings) -> None:
    store = Store.open(backend)
    roles = escalating_roles()
    ctx = context(backend, store, roles, run_id="r1")
    run(backend, ctx, ["q", "fine"])
    # A reviewer on another machine is resuming r1:p0 right now.
    acquire(store, "thread:r1:p0", ELSEWHERE)
    calls = roles.calls.copy()
    again = run(backend, ctx, ["q", "fine"]).results
    assert again[0].status == "pending_review" and "left alone" in again[0].notices[0]
    assert roles.calls == calls
    with open_checkpointer(backend) as saver:
        graph = compile_spec(ctx.spec, checkpointer=saver)
        with pytest.raises(LeaseHeld, match="graph thread 'r1:p0' is held by another-host:4242"):
            resume(graph, ctx, "r1:p0", {"action": "accept"})
        release(store, "thread:r1:p0", ELSEWHERE)
        assert resume(graph, ctx, "r1:p0", {"action": "accept"}).status == "done"


def test_a_killed_holder_on_this_host_does_not_block_a_rerun(settings: Settings) -> None:
    store = Store.open(settings)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    acquire(store, "run:r9", f"{socket.gethostname()}:{dead}:dead")
    [result] = run(settings, context(settings, store, escalating_roles(), run_id="r9"), ["fine"]).results
    assert result.status == "done"


@pytest.mark.parametrize("kind", ["eval", "calibration"])
def test_measurement_runs_record_escalations_without_a_review(backend: Settings, kind: str) -> None:
    store = Store.open(backend)
    roles = escalating_roles()
    ctx = context(backend, store, roles, run_id=f"{kind}-1", run_kind=kind)
    [graph_result] = run(backend, ctx, ["q"]).results
    naive = run_naive(context(backend, store, roles, run_id=f"{kind}-naive", run_kind=kind), [Prompt("p0", "q")])
    for run_id, result in ((f"{kind}-1", graph_result), (f"{kind}-naive", naive.results[0])):
        assert (result.status, result.route, result.final_response) == ("done", "escalated", None)
        stored = get_trajectory(store, run_id, "p0")
        assert (stored.status, stored.route, stored.final_response) == ("done", "escalated", None)
        assert "the judge is unsure" in stored.route_reason
        assert get_run(store, run_id).kind == kind
        assert get_review_by_thread(store, f"{run_id}:p0") is None
    assert pending_reviews(store) == [] and stored.preference_pairs == []
    with open_checkpointer(backend) as saver:  # nothing paused, and nothing left to resume
        graph = compile_spec(ctx.spec, checkpointer=saver)
        assert not graph.get_state({"configurable": {"thread_id": f"{kind}-1:p0"}}).interrupts
    with pytest.raises(OversightError, match="different kind"):
        start_run(context(backend, store, roles, run_id=f"{kind}-1"))  # a production run may not reuse it


def test_unknown_run_kind_is_refused(settings: Settings) -> None:
    with pytest.raises(OversightError, match="run kind must be one of production, eval, calibration, datagen"):
        context(settings, None, escalating_roles(), run_kind="test")
