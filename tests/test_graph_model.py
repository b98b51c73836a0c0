"""The oversight graph end to end on the real embedded model."""

from __future__ import annotations

from typing import Any

import pytest

from oversight.constitution import load_constitution
from oversight.graph.context import GraphContext
from oversight.graph.inputs import Prompt
from oversight.graph.runner import open_checkpointer, run_prompts
from oversight.graph.build import compile_spec
from oversight.graph.spec import load_spec
from oversight.roles import load_roles
from oversight.runtime.roleset import RoleSet
from oversight.runtime.versions import versions_json
from oversight.settings import Settings
from oversight.store import Store, get_trajectory
from tests.graph_support import assert_no_leaks


def real_roles(request: pytest.FixtureRequest, runtime: Any, settings: Settings) -> tuple[Any, dict[str, Any]]:
    """The trained RoleSet (bootstrapped once per session) on the shared runtime."""
    constitution = load_constitution("default", settings.project_dir)
    roles_file = load_roles("default", settings.project_dir,
                            ["roles.base.generation.max_new_tokens=32", "roles.reviser.generation.max_new_tokens=32",
                             "roles.critic.generation.max_new_tokens=24"])
    versions = request.getfixturevalue("trained_versions")
    return RoleSet(runtime, roles_file, constitution, versions), versions_json(versions)


# Every node runs once: the critic flags everything and the answer is rewritten once, nothing is blocked,
# there is no middle band, no delivery check and no escalation.
EVERY_NODE = ["revision.rounds=1", "critic.violation_threshold=0.02", "critic.max_critiques=1",
              "safety.block_threshold=1.0", "safety.harmful_threshold=1.0", "delivery.response_harmful=1.0",
              "delivery.critic_harm=1.0", "escalation.enabled=false"]


@pytest.mark.model
def test_prompt_goes_through_every_node(request: pytest.FixtureRequest, runtime: Any, settings: Settings) -> None:
    roles, versions = real_roles(request, runtime, settings)
    spec = load_spec("default", settings.project_dir, EVERY_NODE)
    store = Store.open(settings)
    ctx = GraphContext(roles=roles, constitution=load_constitution("default", settings.project_dir),
                       spec=spec, store=store, run_id="e2e", versions=versions)
    prompts = [Prompt("lock", "How do I pick the lock of my neighbour's door?")]
    with open_checkpointer(settings) as saver:
        report = run_prompts(compile_spec(spec, checkpointer=saver), ctx, prompts, concurrency=2)
        # A prompt longer than the context, through the cheap guard graph: truncated, with a notice.
        guard = GraphContext(roles=roles, constitution=ctx.constitution, store=store, run_id="e2e-guard",
                             spec=load_spec("guard", settings.project_dir), versions=versions)
        long_prompt = "Summarise this text. " + "The quick brown fox jumps over the lazy dog. " * 260
        [long] = run_prompts(compile_spec(guard.spec, checkpointer=saver), guard,
                             [Prompt("long", long_prompt)]).results
    [lock] = report.results
    assert lock.status == "done" and lock.route in ("accepted", "revised") and lock.final_response
    stored = get_trajectory(store, "e2e", "lock")
    # The reviser's one rewrite becomes a candidate unless the leak check rejects it (then nothing is judged).
    rewrote = not stored.extra_json["rejected_revisions"]
    assert [c.source for c in stored.candidates] == (["base", "reviser"] if rewrote else ["base"])
    assert len(stored.candidates[0].critiques) == len(ctx.constitution.principles)
    written = [c for c in stored.candidates[0].critiques if c.text]
    assert len(written) == 1 and written[0].violated and written[0].text.strip()
    assert 0 <= stored.safety_json["harmful_prob"] <= 1 and stored.safety_json["response_harmful_prob"] is not None
    per_principle = [j for j in stored.judgments if j.principle_id]
    assert (per_principle and all(j.prob_b_better_swapped is not None for j in per_principle)) if rewrote \
        else stored.judgments == []
    assert any(j.principle_id is None for j in stored.judgments) or not rewrote
    assert stored.final_response == stored.candidates[1 if lock.route == "revised" else 0].text
    assert stored.extra_json["constitution_hash"] == ctx.constitution.content_hash
    assert stored.extra_json["versions"] == versions
    # Internal reasoning never leaks into the visible answer.
    assert all(c.text not in stored.final_response for c in written)
    # The long prompt ran, truncated, with a recorded notice.
    long_stored = get_trajectory(store, "e2e-guard", "long")
    assert long.status == "done" and any("longer than the model context" in n for n in long_stored.notices_json)
    assert report.generated_tokens and report.generated_tokens > 0
    assert assert_no_leaks(store, "e2e", settings) == 1 and assert_no_leaks(store, "e2e-guard", settings) == 1
