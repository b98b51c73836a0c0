"""Checkpoint retention: finished threads lose their checkpoints, paused ones keep them; `graph prune`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from oversight.cli.main import main
from oversight.graph.build import compile_spec
from oversight.graph.checkpoints import delete_thread_checkpoints, open_checkpointer, prune_checkpoints
from oversight.graph.runner import resume
from oversight.graph.spec import CheckpointSpec, load_spec
from oversight.settings import Settings
from oversight.store import Store, get_trajectory
from oversight.store.leases import acquire, release
from tests.graph_support import backend, context, count_checkpoints, escalating_roles, run  # noqa: F401

ELSEWHERE = "another-host:4242:cafe"


def spec_keeping(settings: Settings, keep: str) -> object:
    return load_spec("default", settings.project_dir, [f"checkpoints.keep={keep}"])


def test_finished_threads_drop_their_checkpoints_paused_ones_keep_them(backend: Settings) -> None:
    store = Store.open(backend)
    ctx = context(backend, store, escalating_roles(), run_id="r1")
    results = run(backend, ctx, ["q", "fine", "also fine"]).results
    assert [r.status for r in results] == ["pending_review", "done", "done"]
    assert count_checkpoints(backend, "r1:p1") == count_checkpoints(backend, "r1:p2") == 0
    assert count_checkpoints(backend, "r1:p0") > 3  # paused: everything kept for the resume
    with open_checkpointer(backend) as saver:
        assert resume(compile_spec(ctx.spec, checkpointer=saver), ctx, "r1:p0",
                      {"action": "accept"}).status == "done"
    assert count_checkpoints(backend, "r1:p0") == 0
    # A rerun still knows every prompt is finished (from the store), and runs nothing again.
    calls = ctx.roles.calls.copy()
    assert [r.status for r in run(backend, ctx, ["q", "fine", "also fine"]).results] == ["skipped"] * 3
    assert ctx.roles.calls == calls


def test_keep_last_leaves_one_readable_checkpoint(backend: Settings) -> None:
    store = Store.open(backend)
    ctx = context(backend, store, escalating_roles(), run_id="r2", spec=spec_keeping(backend, "last"))
    run(backend, ctx, ["fine"])
    assert count_checkpoints(backend, "r2:p0") == 1
    with open_checkpointer(backend) as saver:
        state = compile_spec(ctx.spec, checkpointer=saver).get_state({"configurable": {"thread_id": "r2:p0"}})
    assert state.values["final_response"] == "Answer to: fine" and not state.next


def test_prune_by_age_and_beside_a_live_thread(backend: Settings) -> None:
    store = Store.open(backend)
    ctx = context(backend, store, escalating_roles(), run_id="r3", spec=spec_keeping(backend, "all"))
    run(backend, ctx, ["q", "fine", "fine again"])
    kept_all = count_checkpoints(backend, "r3:p1")
    assert kept_all > 3
    policy = CheckpointSpec(keep="all", days=7)
    with open_checkpointer(backend) as saver:
        recent = prune_checkpoints(saver, store, policy)
        assert (recent.checkpoints_removed, recent.kept_recent, recent.kept_unfinished) == (0, 2, 1)
        acquire(store, "thread:r3:p2", ELSEWHERE)  # someone is working on p2 right now
        later = prune_checkpoints(saver, store, policy, now=datetime.now(timezone.utc) + timedelta(days=8))
        assert later.pruned == ["r3:p1"] and later.checkpoints_removed == kept_all and later.kept_busy == 1
        release(store, "thread:r3:p2", ELSEWHERE)
    assert count_checkpoints(backend, "r3:p1") == 0 and count_checkpoints(backend, "r3:p2") == kept_all
    assert count_checkpoints(backend, "r3:p0") > 0  # waiting for a reviewer: never pruned
    assert get_trajectory(store, "r3", "p1").status == "done"  # the trajectory itself is untouched


def test_graph_prune_command_reports_what_it_removed(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.open(settings)
    ctx = context(settings, store, escalating_roles(), run_id="r4", spec=spec_keeping(settings, "all"))
    run(settings, ctx, ["q", "fine"])
    before = count_checkpoints(settings, "r4:p1")
    assert main(["graph", "prune", "--keep", "last"]) == 0
    out = capsys.readouterr().out
    assert "checked 2 threads (keep: last)" in out
    assert f"removed {before - 1} checkpoints of 1 finished threads" in out
    assert "kept: 1 waiting for review or unfinished, 0 in use" in out
    assert count_checkpoints(settings, "r4:p1") == 1
    assert main(["graph", "prune", "--days", "0"]) == 2
    assert "error: --days must be more than 0" in capsys.readouterr().err


def test_delete_thread_checkpoints_counts_what_went(backend: Settings) -> None:
    store = Store.open(backend)
    ctx = context(backend, store, escalating_roles(), run_id="r5", spec=spec_keeping(backend, "all"))
    run(backend, ctx, ["fine", "fine too"])
    expected = count_checkpoints(backend, "r5:p0") + count_checkpoints(backend, "r5:p1")
    with open_checkpointer(backend) as saver:
        assert delete_thread_checkpoints(saver, ["r5:p0", "r5:p1", "r5:unknown"]) == expected
    assert count_checkpoints(backend, "r5:p0") == 0


def test_retention_is_not_part_of_the_spec_hash(settings: Settings) -> None:
    assert spec_keeping(settings, "all").content_hash == load_spec("default", settings.project_dir).content_hash
