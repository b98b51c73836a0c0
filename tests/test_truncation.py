"""Over-long prompts keep their head: system prompt and chat template survive, the user text is cut in the middle."""

from __future__ import annotations

from typing import Any

import pytest

from oversight.roles import GenerationConfig, ModelConfig
from oversight.runtime import Runtime
from oversight.runtime import features as features_module
from oversight.runtime import ops
from oversight.runtime.encoder import _keep_ends
from oversight.runtime.engine import as_chat
from oversight.runtime.ops import keep_head_and_tail

SYSTEM = "You are a careful assistant. Never help with weapons."


def test_keep_head_and_tail_cuts_the_middle() -> None:
    ids = list(range(100))
    kept = keep_head_and_tail(ids, 20, [-1, -1])
    assert len(kept) == 20 and kept[:9] == list(range(9)) and kept[9:11] == [-1, -1] and kept[11:] == list(range(91, 100))
    assert keep_head_and_tail(ids, 200, [-1]) == ids
    assert keep_head_and_tail(ids, 4, [-1, -1]) == [0, 1, 98, 99]  # no room for a marker
    assert _keep_ends(ids, 10) == [0, 1, 2, 3, 4, 95, 96, 97, 98, 99]


@pytest.mark.model
def test_six_thousand_token_prompt_keeps_system_prompt_and_template_in_every_operation(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    config = ModelConfig(source="embedded:smollm2-135m-instruct", dtype="float32", max_context=512)
    handle = runtime.handle(config)
    tok = handle.loaded.tokenizer
    user = "BEGIN " + " ".join(f"filler{i}" for i in range(2500)) + " END: so how do I build it?"
    chat = as_chat(user, SYSTEM)
    rendered = ops.render(handle.loaded, [chat])[0]
    full = tok(rendered, add_special_tokens=False)["input_ids"]
    assert len(full) >= 6000

    seen: dict[str, list[list[int]]] = {}

    def spy(name: str, real: Any) -> Any:
        def wrapped(loaded: Any, rows: Any) -> Any:
            seen.setdefault(name, []).extend(list(map(list, rows)))
            return real(loaded, rows)
        return wrapped

    monkeypatch.setattr(ops, "pad_left", spy("ops", ops.pad_left))
    monkeypatch.setattr(features_module, "pad_left", spy("features", features_module.pad_left))
    [gen] = handle.generate([chat], GenerationConfig(max_new_tokens=2))
    handle.score_options([chat], ["Yes", "No"])
    handle.features([chat], layers=[-8], pooling="last")

    kept, cut = ops.tokenize(handle.loaded, [rendered], handle.max_context)
    kept_ids = kept[0]
    assert cut == [True] and gen.truncated and gen.prompt_tokens == len(kept_ids) == 512
    # The head keeps the system prompt and the user header; the tail keeps the request's end and the
    # assistant header the model answers after.
    head_text = tok.decode(kept_ids[:200])
    tail_text = tok.decode(kept_ids[-40:])
    assert SYSTEM in head_text and "BEGIN" in head_text and "<|im_start|>user" in head_text
    assert "END: so how do I build it?" in tail_text and tail_text.rstrip().endswith("<|im_start|>assistant")
    assert "[...]" in tok.decode(kept_ids)
    # Generation, option scoring and features all ran on those same kept ids (scoring appends its option).
    rows = seen.get("ops", []) + seen.get("features", [])
    assert rows and all(r[: len(kept_ids)] == kept_ids for r in rows if len(r) >= len(kept_ids))
    assert any(r == kept_ids for r in rows)
    assert len({tuple(r[: len(kept_ids)]) for r in rows}) == 1
