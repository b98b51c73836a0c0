"""langgraph.json really serves: the graph loads the way the LangGraph server loads it, and answers."""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from oversight.graph.context import GraphContext
from oversight.graph.runner import start_run
from oversight.settings import Settings
from oversight.store import Store, get_review_by_thread, get_trajectory
from tests.graph_support import FIXED, context, escalating_roles

PROJECT = Path(__file__).resolve().parent.parent


def load_like_the_server(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Any]:
    """What langgraph_api.graph._graph_from_spec does with a `./path.py:variable` entry."""
    config = json.loads((PROJECT / "langgraph.json").read_text())
    path, variable = config["graphs"]["oversight"].split(":")
    modname = path.replace("/", "__").replace(".py", "").replace(" ", "_").lstrip(".")
    modspec = importlib.util.spec_from_file_location(modname, PROJECT / path)
    assert modspec is not None and modspec.loader is not None
    module = importlib.util.module_from_spec(modspec)
    monkeypatch.setitem(sys.modules, modname, module)
    modspec.loader.exec_module(module)
    return module, module.__dict__[variable]


def test_langgraph_json_graph_answers_and_pauses_for_a_human(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    module, graph = load_like_the_server(monkeypatch)
    store = Store.open(settings)

    def scripted() -> GraphContext:
        ctx = context(settings, store, escalating_roles(), run_id=module.RUN_ID, spec=module._SPEC)
        start_run(ctx)
        return ctx

    monkeypatch.setattr(module.context, "build", scripted)
    served = graph.copy(update={"checkpointer": InMemorySaver(), "store": None})  # as the server does
    fine = {"configurable": {"thread_id": str(uuid.uuid4())}}
    out = served.invoke({"prompt_id": "a", "prompt": "fine"}, fine)
    assert out["final_response"] == "Answer to: fine" and out["decision"]["route"] == "accepted"
    assert get_trajectory(store, "langgraph-dev", "a").final_response == "Answer to: fine"

    thread = str(uuid.uuid4())
    paused = served.invoke({"prompt_id": "b", "prompt": "q"}, {"configurable": {"thread_id": thread}})
    assert paused["__interrupt__"][0].value["thread_id"] == thread  # the queue names the server's thread
    assert get_review_by_thread(store, thread).status == "pending"
    done = served.invoke(Command(resume={"action": "choose", "candidate": 1, "reviewer": "ana"}),
                         {"configurable": {"thread_id": thread}})
    assert done["final_response"] == FIXED
    stored = get_trajectory(store, "langgraph-dev", "b")
    assert stored.status == "done" and stored.final_response == FIXED and "ana decided" in stored.route_reason
