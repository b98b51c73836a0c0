"""Killing a run mid-way and rerunning it; bad prompt input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from oversight.constitution import load_constitution
from oversight.errors import OversightError
from oversight.graph.context import GraphContext
from oversight.graph.inputs import Prompt, read_prompts, single_prompt
from oversight.graph.runner import open_checkpointer, run_prompts
from oversight.graph.build import compile_spec
from oversight.graph.spec import load_spec
from oversight.settings import Settings
from oversight.store import Store, get_trajectory
from oversight.store.tables import ReviewItem, Trajectory
from tests.fakes import FakeRoles

PROJECT = Path(__file__).resolve().parent.parent
N = 12

# Runs the graph in a child process whose reviser kills the process (no cleanup,
# like kill -9) once a few revisions have happened across the concurrent threads.
CHILD = textwrap.dedent(f"""
    import os, sys, threading
    sys.path.insert(0, {str(PROJECT)!r})
    from tests.test_graph_resilience import make_context, prompts, open_checkpointer, compile_spec, run_prompts
    from oversight.settings import Settings
    settings = Settings.from_env()
    lock, seen = threading.Lock(), []
    def die(name, args):
        if name == "revise":
            with lock:
                seen.append(args)
                if len(seen) >= 4:
                    os._exit(9)
    ctx = make_context(settings, die)
    with open_checkpointer(settings) as saver:
        run_prompts(compile_spec(ctx.spec, checkpointer=saver), ctx, prompts(), concurrency=6)
    os._exit(0)
""")


def prompts() -> list[Prompt]:
    return [Prompt(f"p{i}", f"question {i}") for i in range(N)]


def make_context(settings: Settings, on_call: object = None) -> GraphContext:
    # Odd prompts get a violating answer, so they go through revise and the judge;
    # p3 is escalated (uncertain judge on a request the safety model does not call benign) and must stay
    # a single pending item.
    answers = {f"question {i}": f"answer {i}" for i in range(N)}
    roles = FakeRoles(answers=answers, on_call=on_call,  # type: ignore[arg-type]
                      violations={f"answer {i}": {"balanced": 0.9} for i in range(1, N, 2)},
                      safety={"question 3": {"harmful_prob": 0.3}},
                      preferences={("answer 3", "answer 3 [revised]"): {"*": 0.52}})
    spec = load_spec("default", settings.project_dir)
    return GraphContext(roles=roles, constitution=load_constitution("default", settings.project_dir),
                        spec=spec, store=Store.open(settings), run_id="killed")


def test_kill_and_rerun_loses_and_duplicates_nothing(settings: Settings) -> None:
    child = subprocess.run([sys.executable, "-c", CHILD], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert child.returncode == 9, child.stderr[-2000:]
    store = Store.open(settings)
    with store.session() as s:
        before = s.scalar(select(func.count()).select_from(Trajectory))
    assert before < N  # the kill really cut the run short
    ctx = make_context(settings)
    with open_checkpointer(settings) as saver:
        report = run_prompts(compile_spec(ctx.spec, checkpointer=saver), ctx, prompts(), concurrency=6)
    roles = ctx.roles
    assert roles.calls["answer"] < N  # finished prompts and checkpointed threads were not started over
    with store.session() as s:
        rows = s.execute(select(Trajectory.prompt_id, func.count()).group_by(Trajectory.prompt_id)).all()
        reviews = s.scalar(select(func.count()).select_from(ReviewItem))
    assert sorted(pid for pid, _ in rows) == sorted(p.id for p in prompts())
    assert all(count == 1 for _, count in rows)
    assert reviews == 1 and get_trajectory(store, "killed", "p3").status == "pending_review"
    routes = {r.prompt_id: r.route for r in report.results}
    assert routes["p3"] == "escalated" and routes["p1"] == "revised" and routes["p0"] == "accepted"
    # A third run changes nothing.
    with open_checkpointer(settings) as saver:
        again = run_prompts(compile_spec(ctx.spec, checkpointer=saver), ctx, prompts(), concurrency=6)
    assert all(r.status in ("skipped", "pending_review") for r in again.results)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Trajectory)) == N


def test_jsonl_bad_lines_are_reported_and_the_rest_run(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "prompt": "fine"}\n{"id": "b", "prompt": \n\n{"id": "c", "prompt": "  "}\n'
                    '["x"]\n{"id": "a", "prompt": "again"}\n{"prompt": "no id"}\n', encoding="utf-8")
    found = read_prompts(path)
    assert [(p.id, p.text) for p in found.prompts] == [("a", "fine"), ("line-7", "no id")]
    assert found.problems[0].startswith("in.jsonl line 2: malformed JSON")
    assert "line 4: empty prompt" in found.problems[1]
    assert "line 5: expected a JSON object" in found.problems[2]
    assert "line 6: id 'a' was already used" in found.problems[3]


def test_text_files_non_utf8_and_empty_prompts(tmp_path: Path) -> None:
    text = tmp_path / "in.txt"
    text.write_text("first\n\nsecond\n", encoding="utf-8")
    assert [p.id for p in read_prompts(text).prompts] == ["line-1", "line-3"]
    latin = tmp_path / "latin.txt"
    latin.write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(OversightError, match=r"latin.txt: not UTF-8 text \(byte 0xe9 at offset 6, line 2\)"):
        read_prompts(latin)
    with pytest.raises(OversightError, match="the prompt is empty"):
        single_prompt("   ")
    with pytest.raises(OversightError, match="file not found"):
        read_prompts(tmp_path / "missing.jsonl")
