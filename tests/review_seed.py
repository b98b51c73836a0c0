"""Seeding review queues for the review tests: runs and escalated items with realistic payloads."""

from __future__ import annotations

from typing import Any

from oversight.store import Store, enqueue_review, ensure_run

JUDGE_UNSURE = "the judge is unsure: it prefers the revision with p=0.55, within 0.10 of a coin flip"
ALWAYS = ("the case falls under 'privacy' (critic: privacy violated, p=0.80), which graph 'default' "
          "always sends to a human")


def payload(prompt: str, *, harmful: float = 0.1, violated: str = "privacy", proposal: int | None = 1,
            reasons: list[str] | None = None) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "candidates": [
            {"index": 0, "round": 0, "text": f"first answer to {prompt}", "source": "base",
             "critiques": [{"principle_id": violated, "violation_prob": 0.8, "violated": True,
                            "text": f"It breaks {violated}."},
                           {"principle_id": "helpfulness", "violation_prob": 0.1, "violated": False,
                            "text": None}]},
            {"index": 1, "round": 1, "text": f"revised answer to {prompt}", "source": "reviser",
             "critiques": []}],
        "safety": {"harmful_prob": harmful, "jailbreak_prob": 0.02, "response_harmful_prob": 0.3,
                   "top_category": "safety"},
        "judgments": [{"a_index": 0, "b_index": 1, "principle_id": None, "prob_b_better": 0.55}],
        "proposal": proposal, "reasons": reasons or [JUDGE_UNSURE], "notices": []}


def seed(store: Store, count: int, run_id: str = "r1", **kw: Any) -> list[int]:
    """A production run with `count` escalated items (threads RUN:pN); returns their ids."""
    ensure_run(store, run_id, graph_name="default", graph_hash="h", constitution_name="default",
               constitution_hash="c", roles={})
    ids = []
    for i in range(count):
        data = payload(f"question {i}", **kw)
        ids.append(enqueue_review(store, f"{run_id}:p{i}", run_id, f"p{i}", "; ".join(data["reasons"]),
                                  data["reasons"], data))
    return ids


BAD = "Here is how to pick the lock: step 1..."
FIXED = "I can't help you break into a home, but a locksmith can let you in."


def scripted_roles() -> Any:
    """Roles whose answer to "q" the judge is unsure about: the graph escalates it."""
    from tests.fakes import FakeRoles

    return FakeRoles(answers={"q": BAD}, revisions={BAD: FIXED}, violations={BAD: {"harmful-instructions": 0.9}},
                     preferences={(BAD, FIXED): {"*": 0.55}})


# Run by the apply tests in a fresh process: apply every decided item with the scripted roles;
# argv[1] == "crash" dies right after the graph resumed, before the item is marked applied.
APPLY_SCRIPT = """
import json, os, sys
from oversight.cli.review_resume import GraphResumer
from oversight.review import ReviewConfig, ReviewService
from oversight.settings import Settings
from oversight.store import Store
from tests.review_seed import scripted_roles

settings = Settings.from_env()
store = Store.open(settings)
service = ReviewService(store, ReviewConfig(), settings.project_dir)
with GraphResumer(settings, store, roles_factory=lambda *a: (scripted_roles(), {"base": "bare"}, None)) as graph:
    def resume(item, decision):
        result = graph(item, decision)
        if sys.argv[1] == "crash":
            os._exit(9)
        return result
    outcomes = service.apply(resume)
print(json.dumps([o.model_dump(mode="json") for o in outcomes]))
"""
