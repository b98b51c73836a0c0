"""Where data lives and which engines to use, from the environment, in one place.

`OVERSIGHT_HOME` moves the whole data folder (models, adapters, database,
checkpoints); `OVERSIGHT_DATABASE_URL` switches the store to any SQLAlchemy URL
(PostgreSQL for more than one machine). Nothing else reads the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from oversight.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"


def _default_home(env: Mapping[str, str]) -> Path:
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "oversight"


@dataclass(frozen=True)
class Settings:
    """Process-wide settings; pass them down, never read globals."""

    home: Path = field(metadata={"help": "data folder (OVERSIGHT_HOME)"})
    database_url: str = field(metadata={"help": "SQLAlchemy URL of the store (OVERSIGHT_DATABASE_URL)"})
    project_dir: Path = field(
        default=PROJECT_DIR, metadata={"help": "folder holding constitutions/, roles/, graphs/"}
    )
    device: str = field(default="auto", metadata={
        "help": "cuda, cuda:N, cpu or auto (OVERSIGHT_DEVICE); used for models whose roles file says device auto"})
    models_root: Path | None = field(
        default=None, metadata={"help": "converted base models, if not HOME/models (OVERSIGHT_MODELS_DIR)"})

    def __post_init__(self) -> None:
        if not re.fullmatch(DEVICE_PATTERN, self.device):
            raise ConfigError("OVERSIGHT_DEVICE", "", "must be auto, cpu, cuda or cuda:N", self.device)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("OVERSIGHT_HOME") or _default_home(env)).expanduser()
        url = env.get("OVERSIGHT_DATABASE_URL") or f"sqlite:///{home / 'oversight.db'}"
        project = Path(env.get("OVERSIGHT_PROJECT_DIR") or PROJECT_DIR)
        return cls(home=home, database_url=url, project_dir=project,
                   device=env.get("OVERSIGHT_DEVICE") or "auto",
                   models_root=Path(env["OVERSIGHT_MODELS_DIR"]) if env.get("OVERSIGHT_MODELS_DIR") else None)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)

    @property
    def models_dir(self) -> Path:
        return self.models_root or self.home / "models"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def checkpoint_path(self) -> Path:
        return self.home / "checkpoints.sqlite"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home
