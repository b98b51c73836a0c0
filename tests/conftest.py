"""Test isolation: every test gets its own data folder and database.

Converted base models are shared (read-only) with the user's normal data folder,
so the embedded GGUF is converted once per machine, not once per test. The real
model is loaded once per session through the `runtime` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oversight.settings import Settings

_USER_SETTINGS = Settings.from_env()
SHARED_MODELS = _USER_SETTINGS.models_dir


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("OVERSIGHT_HOME", str(home))
    monkeypatch.setenv("OVERSIGHT_MODELS_DIR", str(SHARED_MODELS))
    monkeypatch.delenv("OVERSIGHT_DATABASE_URL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "error")
    return home


@pytest.fixture
def settings(isolated_home: Path) -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def runtime() -> Iterator[object]:
    """One Runtime for the whole session, so the real model loads once."""
    from oversight.runtime import Runtime

    rt = Runtime(SHARED_MODELS)
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def embedded_fp32() -> object:
    from oversight.roles import ModelConfig

    return ModelConfig(source="embedded:smollm2-135m-instruct", dtype="float32")


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory, runtime: object) -> Settings:
    """A data folder where the real first-run bootstrap has trained every oversight role (once per session)."""
    from oversight.constitution import load_constitution
    from oversight.roles import load_roles
    from oversight.store import Store
    from oversight.train.bootstrap import ensure_trained

    home = tmp_path_factory.mktemp("trained_home")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'oversight.db'}", models_root=SHARED_MODELS)
    roles_file = load_roles("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    ensure_trained(settings, Store.open(settings), roles_file, constitution, progress=False, runtime=runtime)
    return settings


@pytest.fixture(scope="session")
def trained_versions(trained_home: Settings) -> dict[str, object]:
    """Role -> RoleVersion after the bootstrap, for RoleSet(runtime, roles_file, constitution, versions)."""
    from oversight.roles import load_roles
    from oversight.store import Store
    from oversight.train.bootstrap import resolve_versions

    return dict(resolve_versions(Store.open(trained_home), load_roles("default", trained_home.project_dir)))
