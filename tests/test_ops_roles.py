"""Trusting roles operationally: the threshold gate, `roles check` as a cron/CI signal, foreign heads, the device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oversight.cli.main import main
from oversight.constitution import load_constitution
from oversight.errors import ConfigError, OversightError
from oversight.roles import load_roles
from oversight.runtime.heads import Head, HeadOutput, HeadSpec
from oversight.runtime.loading import pick_device
from oversight.runtime.versions import RoleVersion, VersionManifest
from oversight.settings import Settings
from oversight.store import Store, active_version, list_versions, register_version
from oversight.train.thresholds import shortfalls

GOOD = {"safety": {"auroc": 0.95, "ece": 0.05}, "critic": {"auroc": 0.9, "ece": 0.08},
        "judge": {"accuracy": 0.9, "ece": 0.05}, "reviser": {"rewrite_rate": 1.0, "heldout_loss": 2.2}}
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def _register(store: Store, settings: Settings, role: str, metrics: dict[str, float]) -> int:
    folder = settings.adapters_dir / role / f"v{len(list_versions(store, role))}"
    kind = "adapter" if role == "reviser" else "head"
    VersionManifest(role=role, kind=kind, head=None if kind == "adapter" else "head.json",
                    adapter="adapter" if kind == "adapter" else None).write(folder)
    return register_version(store, role, kind, str(folder), HUB_ID, metrics=metrics)


def test_roles_check_exit_status_is_a_signal_for_cron(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["roles", "check"]) == 1  # nothing trained yet
    assert "UNTRAINED" in capsys.readouterr().out
    store = Store.open(settings)
    for role, metrics in GOOD.items():
        _register(store, settings, role, metrics)
    assert main(["roles", "check"]) == 0
    assert "all roles trained and within thresholds" in capsys.readouterr().out
    _register(store, settings, "critic", {"auroc": 0.9, "ece": 0.2})  # e.g. activated with --force
    assert main(["roles", "check"]) == 1
    out = capsys.readouterr().out
    assert "BELOW THRESHOLD: ece 0.200 (want <= 0.1)" in out and "1 problem(s)" in out
    zero_shot = [f"roles.{r}.{part}=null" for r in ("safety", "critic", "judge") for part in ("head", "adapter")]
    zero_shot += ["roles.reviser.adapter=null"]
    assert main(["roles", "check", *sum((["--set", s] for s in zero_shot), [])]) == 0  # reported, not failed
    assert "zero-shot by configuration" in capsys.readouterr().out


def test_shortfalls_count_unmeasured_metrics() -> None:
    assert shortfalls("judge", GOOD["judge"]) == []
    assert shortfalls("judge", {"accuracy": 0.5}) == ["accuracy 0.500 (want >= 0.8)", "ece not measured (want <= 0.1)"]
    assert shortfalls("base", {}) == []  # no thresholds declared for the base model


@pytest.mark.model
def test_a_version_below_thresholds_is_not_activated_unless_forced(settings: Settings, runtime: object) -> None:
    """Real training on features that cannot separate anything (the embedding of the last token, the same for
    every chat): the judge is at chance, so the gate must keep it inactive; --force activates one anyway."""
    from oversight.train.jobs import train_role

    roles_file = load_roles("default", settings.project_dir, ["roles.judge.features.layers=[0]"])
    constitution = load_constitution("default", settings.project_dir)
    store = Store.open(settings)
    quick = ["max_items=8", "folds=2", "c_grid=[0.1]", "max_iter=20"]
    messages: list[str] = []
    outcome = train_role(settings, store, roles_file, constitution, "judge", quick, runtime=runtime,
                         progress=False, log=messages.append)
    assert outcome.shortfalls and not outcome.activated
    assert active_version(store, "judge") is None and len(list_versions(store, "judge")) == 1
    assert any("not activated" in m and "--force" in m for m in messages)
    forced = train_role(settings, store, roles_file, constitution, "judge", quick, runtime=runtime,
                        progress=False, force=True)
    assert forced.activated and active_version(store, "judge").id == forced.version_id  # type: ignore[union-attr]


def _head(tmp_path: Path, role: str, base_model: str) -> Path:
    spec = HeadSpec(role=role, base_model=base_model, layers=(-8,), pooling="last", feature_dtype="float32",
                    outputs={"harmful": HeadOutput(kind="binary", template="input")})
    arrays = {"mean": np.zeros(4), "scale": np.ones(4), "harmful.weight": np.ones(4), "harmful.bias": np.zeros(1)}
    return Head(spec, arrays).save(tmp_path / role / "head.json")


def test_a_head_for_another_role_or_model_is_refused_in_one_line(tmp_path: Path) -> None:
    judge = _head(tmp_path, "judge", HUB_ID)
    assert Head.load(judge, role="judge", base_model=HUB_ID).spec.role == "judge"
    with pytest.raises(OversightError) as wrong_role:
        Head.load(judge, role="safety", base_model=HUB_ID)
    assert "trained for role 'judge', not 'safety'" in str(wrong_role.value) and "\n" not in str(wrong_role.value)
    other = _head(tmp_path, "safety", "Qwen/Qwen2.5-7B-Instruct")
    with pytest.raises(OversightError, match="reads the hidden states of 'Qwen/Qwen2.5-7B-Instruct'"):
        Head.load(other, role="safety", base_model=HUB_ID)


@pytest.mark.model
def test_roles_load_refuses_a_foreign_head(tmp_path: Path, settings: Settings, runtime: object) -> None:
    from oversight.runtime.roleset import RoleSet

    roles_file = load_roles("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    with pytest.raises(OversightError, match="trained for role 'judge', not 'safety'"):
        RoleSet(runtime, roles_file, constitution, {"safety": RoleVersion(head=_head(tmp_path, "judge", HUB_ID))})


def test_oversight_device_is_validated_and_defers_only_from_auto(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    monkeypatch.setenv("OVERSIGHT_DEVICE", "gpu")
    assert main(["models", "list"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: OVERSIGHT_DEVICE: must be auto, cpu, cuda or cuda:N (received 'gpu')"
    with pytest.raises(ConfigError):
        Settings.from_env({"OVERSIGHT_DEVICE": "tpu"})
    assert pick_device("auto", "cpu") == "cpu"      # the roles file defers to the setting
    assert pick_device("cpu", "cuda") == "cpu"      # an explicit roles-file device wins
    if not torch.cuda.is_available():
        monkeypatch.setenv("OVERSIGHT_DEVICE", "cuda")
        assert main(["models", "prepare"]) == 2       # refused before any weights load
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: device 'cuda' was asked for by OVERSIGHT_DEVICE") and "\n" not in err


@pytest.mark.model
def test_the_runtime_loads_models_where_the_setting_says(monkeypatch: pytest.MonkeyPatch) -> None:
    from oversight.roles import ModelConfig
    from oversight.runtime import Runtime

    monkeypatch.setenv("OVERSIGHT_DEVICE", "cpu")
    settings = Settings.from_env()
    runtime = Runtime(settings.models_dir, device=settings.device)
    try:
        loaded, _ = runtime.loaded(ModelConfig(source="embedded:smollm2-135m-instruct"))
        assert loaded.device == "cpu" and next(loaded.model.parameters()).device.type == "cpu"
    finally:
        runtime.close()
    wants_gpu = Runtime(settings.models_dir, device="cuda")
    assert wants_gpu.device_for(ModelConfig(source="embedded:smollm2-135m-instruct", device="cpu")) == "cpu"
