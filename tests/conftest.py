"""Test isolation: every test gets its own data folder and database.

Converted base models are shared (read-only) with the user's normal data folder,
so the embedded GGUF is converted once per machine, not once per test. The real
model is loaded once per session through the `runtime` fixture.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from oversight.settings import PROJECT_DIR, Settings
from oversight.store import Store

_USER_SETTINGS = Settings.from_env()
SHARED_MODELS = _USER_SETTINGS.models_dir
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# What the first-run bootstrap's result depends on: a change here trains the roles again.
TRAINED_INPUTS = (
    "constitutions", "roles/default.yaml", *(f"roles/recipes/{r}.yaml" for r in ("critic", "judge", "reviser", "safety")),
    *(f"oversight/train/{m}.py" for m in ("bootstrap", "features", "head_config", "head_fit", "head_trainer", "jobs",
                                          "material", "recipes", "rewrite_checks", "sft_config", "sft_trainer")),
    *(f"oversight/runtime/{m}.py" for m in ("prompts", "heads", "features", "roleset", "encoder")),
    "oversight/roles.py", "oversight/constitution.py", "oversight/verdicts.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--require-postgres", action="store_true",
                     help="fail (instead of skip) when PostgreSQL is unreachable; `make test` sets it under CI")
    parser.addoption("--require-browser", action="store_true",
                     help="fail (instead of skip) when Debian's chromium is missing; `make test` sets it under CI")
    parser.addoption("--no-trained-cache", action="store_true",
                     help="train the roles afresh instead of reusing .pytest_cache's copy from an earlier session")


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
def postgres_admin(request: pytest.FixtureRequest) -> Iterator[object]:
    """An AUTOCOMMIT engine on the local PostgreSQL; skips when unreachable unless --require-postgres."""
    required = request.config.getoption("--require-postgres")
    if not required:
        pytest.importorskip("psycopg", reason="psycopg is not installed")
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT",
                           connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        why = f"PostgreSQL not reachable at {PG_URL}: {str(exc.orig).splitlines()[0]}"
        if required:
            pytest.fail(why)
        pytest.skip(why)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Callable[..., Store]]:
    """Build unmigrated stores on the chosen backend; PostgreSQL gets a fresh schema."""
    made: list[Store] = []
    schemas: list[str] = []
    admin = request.getfixturevalue("postgres_admin") if request.param == "postgresql" else None

    def make() -> Store:
        if admin is None:
            settings.ensure_home()
            store = Store(settings.database_url)
        else:
            schema = f"oversight_test_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:  # type: ignore[attr-defined]
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            schemas.append(schema)
            store = Store(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
        made.append(store)
        return store

    yield make
    for store in made:
        store.dispose()
    for schema in schemas:
        with admin.connect() as conn:  # type: ignore[union-attr]
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


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


def _trained_inputs_hash() -> str:
    digest = hashlib.sha256()
    for name in TRAINED_INPUTS:
        root = PROJECT_DIR / name
        files = sorted(root.rglob("*")) if root.is_dir() else [root] if root.exists() else []
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                digest.update(str(f.relative_to(PROJECT_DIR)).encode())
                digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def _relocate_registry(settings: Settings, old_home: Path) -> None:
    """Point the registry's stored adapter and head paths at a copied data folder."""
    with Store(settings.database_url).connect() as conn:
        conn.execute(text("UPDATE model_versions SET path = replace(path, :old, :new)"),
                     {"old": str(old_home), "new": str(settings.home)})


@pytest.fixture(scope="session")
def trained_home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 runtime: object) -> Settings:
    """A data folder where the real first-run bootstrap has trained every oversight role (once per session).

    Developers' reruns reuse a pristine copy kept in .pytest_cache, keyed by a hash of everything
    training reads (material, recipes, roles file, train/ and runtime/ code); a clean clone (CI)
    has no cache and trains for real.
    """
    from oversight.constitution import load_constitution
    from oversight.roles import load_roles
    from oversight.train.bootstrap import ensure_trained

    home = tmp_path_factory.mktemp("trained_home")
    cache = None if request.config.getoption("--no-trained-cache") or getattr(request.config, "cache", None) is None \
        else request.config.cache.mkdir(f"trained_home_{_trained_inputs_hash()}")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'oversight.db'}", models_root=SHARED_MODELS)
    if cache is not None and (cache / "oversight.db").exists():
        shutil.copytree(cache, home, dirs_exist_ok=True)
        _relocate_registry(settings, cache)
    roles_file = load_roles("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    ensure_trained(settings, Store.open(settings), roles_file, constitution, progress=False, runtime=runtime)
    if cache is not None and not (cache / "oversight.db").exists():
        shutil.copytree(home, cache, dirs_exist_ok=True)
        copy = settings.with_(home=cache, database_url=f"sqlite:///{cache / 'oversight.db'}")
        _relocate_registry(copy, home)
    return settings


@pytest.fixture(scope="session")
def trained_versions(trained_home: Settings) -> dict[str, object]:
    """Role -> RoleVersion after the bootstrap, for RoleSet(runtime, roles_file, constitution, versions)."""
    from oversight.roles import load_roles
    from oversight.store import Store
    from oversight.train.bootstrap import resolve_versions

    return dict(resolve_versions(Store.open(trained_home), load_roles("default", trained_home.project_dir)))
