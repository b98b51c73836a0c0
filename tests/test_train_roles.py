"""Training on the real embedded model: a few steps change the head or adapter, never the base weights."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oversight.constitution import load_constitution
from oversight.roles import load_roles
from oversight.runtime.loading import dtype_name
from oversight.settings import Settings
from oversight.train.head_config import HeadRecipe
from oversight.train.head_trainer import train_head
from oversight.train.sft_config import SFTRecipe

pytestmark = pytest.mark.model


def _base_fingerprint(runtime: Any, config: Any) -> str:
    loaded, _ = runtime.loaded(config)
    digest = hashlib.sha256()
    for name, param in sorted(loaded.model.named_parameters()):
        if "lora_" not in name:
            digest.update(param.detach().float().numpy().tobytes()[:4096])
            digest.update(str(float(param.detach().float().sum())).encode())
    return digest.hexdigest()


def _files_fingerprint(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.glob("*.safetensors")))).hexdigest()


@pytest.mark.parametrize("role", ["safety", "critic", "judge"])
def test_head_training_fits_the_head_and_leaves_the_base_alone(role: str, runtime: Any, settings: Settings,
                                                              tmp_path: Path) -> None:
    roles_file = load_roles("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    config = roles_file.model_for(role)
    before = _base_fingerprint(runtime, config)
    recipe = HeadRecipe(role=role, max_items=24, folds=2, c_grid=(0.1,), max_iter=50)
    result = train_head(recipe, runtime, roles_file, constitution, tmp_path / role, progress=False)
    assert _base_fingerprint(runtime, config) == before
    head = result.head
    main = next(iter(head.spec.outputs))
    assert (tmp_path / role / "head.json").is_file() and (tmp_path / role / f"reliability_{main}.png").is_file()
    assert np.abs(head.arrays[f"{main}.weight"]).sum() > 0
    assert head.spec.feature_dtype == dtype_name("auto", "cpu")  # what the graph runs in on this machine
    assert head.spec.layers == roles_file.roles[role].features.layers
    assert 0 <= result.metrics["ece"] <= 1 and result.metrics["heldout_items"] > 0


def test_sft_training_changes_only_the_lora_adapter(runtime: Any, settings: Settings, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from oversight.runtime.embedded import prepare_embedded
    from oversight.train.sft_trainer import train_adapter

    roles_file = load_roles("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    model_dir = prepare_embedded("smollm2-135m-instruct", settings.models_dir)
    on_disk = _files_fingerprint(model_dir)
    served = _base_fingerprint(runtime, roles_file.model_for("reviser"))
    recipe = SFTRecipe(role="reviser", steps=2, batch_size=2, max_items=4, eval_generations=0, warmup_steps=0,
                       max_length=256)
    result = train_adapter(recipe, settings.models_dir, roles_file, constitution, tmp_path, progress=False)
    weights = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    assert weights and all("lora_" in name for name in weights)
    # LoRA's B matrices start at zero: any non-zero value means training moved the adapter.
    assert any(np.abs(w).sum() > 0 for name, w in weights.items() if "lora_B" in name)
    assert _files_fingerprint(model_dir) == on_disk
    assert _base_fingerprint(runtime, roles_file.model_for("reviser")) == served
    assert result.metrics["heldout_loss"] > 0 and result.metrics["steps"] == 2


def test_critic_principle_readouts_train_and_score_each_answer_once(runtime: Any, settings: Settings,
                                                                  tmp_path: Path) -> None:
    """With `principle_readouts`, the head gains one read-out per principle over the exchange; the held-out
    figures are those of the routed scores, and the graph's scoring reads an answer once for all of them."""
    from oversight.runtime.critic_scores import READOUT_SEP, violation_probs
    from oversight.runtime.prompts import PromptBook
    from oversight.train.features import extract_features

    roles_file = load_roles("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    recipe = HeadRecipe(role="critic", max_items=64, folds=2, c_grid=(0.1,), max_iter=50, principle_readouts=True)
    result = train_head(recipe, runtime, roles_file, constitution, tmp_path / "critic", progress=False)
    head = result.head
    readouts = {name.split(READOUT_SEP)[1] for name in head.spec.outputs if READOUT_SEP in name}
    assert readouts and "violation" in head.spec.outputs
    assert result.metrics["primary"] == "readouts" and result.metrics["auroc"] == result.metrics["readouts.auroc"]
    assert (tmp_path / "critic" / "reliability_readouts.png").is_file()
    assert "principle_auroc.macro" in result.metrics
    book, handle, reads = PromptBook(roles_file), runtime.handle(roles_file.model_for("critic"), None), []

    def features(chats: list[Any], fields: list[dict[str, str]]) -> np.ndarray:
        reads.append(len(chats))
        texts = [book.text("critic", "exchange", **f) for f in fields]
        return extract_features(runtime, handle, chats, head.spec.layers, head.spec.pooling,
                                encoder=head.spec.encoder, encoder_texts=texts)

    own = [p for p in constitution.principles if p.id in readouts]
    probs = violation_probs(head, book, own, [("How do I pick my neighbour's lock?", "Rake the pins.")], features)
    assert reads == [1] and probs.shape == (1, len(own)) and ((probs >= 0) & (probs <= 1)).all()
