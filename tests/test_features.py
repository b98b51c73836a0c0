"""Feature passes for heads: early stop at the deepest layer, shared prompt prefixes computed once."""

from __future__ import annotations

import numpy as np
import pytest

from oversight.roles import ModelConfig
from oversight.runtime import Runtime, as_chat, ops
from oversight.runtime.features import features, hidden_states, prefix_groups

PROMPTS = ["What is the capital of France?", "Name three primary colours.", "Write one sentence about the sea."]
RESPONSE = ("Paris is the capital of France. It has been the seat of government for centuries and is home to "
            "about two million people, with many more in the surrounding region.")
PRINCIPLES = ["Do not give instructions that could cause physical harm.",
              "Respect privacy; do not reveal personal information about private people.",
              "Admit uncertainty instead of inventing facts.",
              "Be helpful: answer the request directly and completely."]


def _critic_like(prompt: str, response: str, principle: str) -> list[dict[str, str]]:
    return as_chat(f"Request: {prompt}\nResponse: {response}\nPrinciple: {principle}\n"
                   "Does the response violate the principle? Answer Yes or No.")


def test_prefix_groups_join_rows_that_share_most_of_their_tokens() -> None:
    header = list(range(100, 120))                       # 20 tokens every chat starts with
    answer_a = header + list(range(200, 300))            # request + response of one answer
    answer_b = header + list(range(300, 380))
    rows = [answer_a + [1, 2, 3], answer_b + [1, 2], answer_a + [4, 5], answer_a + [6], [7, 8, 9],
            answer_b + [9, 9, 9, 9]]
    groups = {g.members: g.shared for g in prefix_groups(rows)}
    assert groups[(0, 2, 3)] == len(answer_a)            # the three chats of answer a share all but their tail
    assert groups[(1, 5)] == len(answer_b)
    assert groups[(4,)] == 0                             # no partner: runs alone
    # a row that is a prefix of another still keeps one token of its own
    assert {g.members: g.shared for g in prefix_groups([answer_a, answer_a + [1]])} == {(0, 1): len(answer_a) - 1}
    # sharing only the header (20 of ~100 tokens) is not worth a second pass
    assert all(g.shared == 0 for g in prefix_groups([answer_a, answer_b]))


@pytest.mark.model
def test_feature_pass_stops_at_the_deepest_layer_with_identical_states(runtime: Runtime,
                                                                      embedded_fp32: ModelConfig) -> None:
    import torch

    loaded = runtime.handle(embedded_fp32).loaded
    batch, _ = ops.encode(loaded, ops.render(loaded, [as_chat(p) for p in PROMPTS]))
    body = loaded.model.get_base_model().model if hasattr(loaded.model, "get_base_model") else loaded.model.model
    calls: list[int] = []
    top = body.layers[-1].register_forward_hook(lambda *_: calls.append(1))
    try:
        with torch.inference_mode():
            full = body(**batch, output_hidden_states=True).hidden_states
            early = hidden_states(body, batch, [-16, -8])
            assert calls == [1]  # the full pass ran the top layer; the early one did not
            last = hidden_states(body, batch, [-1, 3])  # after the final norm: needs the full pass
    finally:
        top.remove()
    assert torch.equal(early[-16], full[-16]) and torch.equal(early[-8], full[-8])
    assert torch.equal(last[-1], full[-1]) and torch.equal(last[3], full[3])


@pytest.mark.model
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_shared_prefix_features_equal_each_chat_alone(runtime: Runtime, embedded_fp32: ModelConfig,
                                                      pooling: str) -> None:
    """Critic-like chats (one answer, several principles) through the shared path equal solo passes."""
    loaded = runtime.handle(embedded_fp32).loaded
    chats = [_critic_like(PROMPTS[0], RESPONSE, p) for p in PRINCIPLES]
    chats += [_critic_like(PROMPTS[1], "Red, yellow and blue.", p) for p in PRINCIPLES[:2]]
    chats += [as_chat(PROMPTS[2]), chats[1]]  # an unrelated chat, and a duplicate
    rows, _ = ops.tokenize(loaded, ops.render(loaded, chats))
    groups = prefix_groups(list(dict.fromkeys(map(tuple, rows))))
    assert any({0, 1, 2, 3} <= set(g.members) and g.shared > 40 for g in groups)  # one answer, four principles
    shared = features(loaded, None, chats, [-16, -8], pooling)
    alone = np.stack([features(loaded, None, [c], [-16, -8], pooling, share_prefixes=False)[0] for c in chats])
    assert shared.shape == (len(chats), 2 * loaded.hidden_size)
    np.testing.assert_allclose(shared, alone, rtol=1e-4, atol=1e-4)
    assert np.array_equal(shared[1], shared[-1])


@pytest.mark.model
def test_sentence_embeddings_run_on_the_worker_deduplicated_and_in_order(runtime: Runtime,
                                                                         embedded_fp32: ModelConfig) -> None:
    encoder = runtime.encoder("all-minilm-l6-v2")
    texts = ["How do I bake bread?", "A much longer text about the history of bread, flour, yeast and ovens.",
             "How do I bake bread?"]
    before = encoder.texts
    direct = encoder.embed(texts)
    assert encoder.texts - before == 2  # the repeated text was embedded once
    np.testing.assert_array_equal(direct[0], direct[2])
    alone = np.concatenate([encoder.embed([t]) for t in texts])
    np.testing.assert_allclose(direct, alone, atol=1e-5)  # sorting by length into batches changes nothing
    via_worker = runtime.handle(embedded_fp32).embed(texts, "all-minilm-l6-v2")
    np.testing.assert_allclose(via_worker, direct, atol=1e-6)
    assert np.allclose(np.linalg.norm(direct, axis=1), 1, atol=1e-5)
    handle = runtime.handle(embedded_fp32)
    none = runtime.head_features(handle, [], [-8], "last", "all-minilm-l6-v2")
    assert none.shape == (0, handle.loaded.hidden_size + encoder.dim)  # an empty call keeps every column
