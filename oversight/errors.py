"""The one user-facing error type.

Anything a user can cause (bad YAML, a missing model, an empty prompt) raises
`OversightError`; the command line turns it into one line on stderr and exit
status 2. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class OversightError(Exception):
    """A problem the user can fix; its message is one readable line."""

    exit_code = 2


def describe(value: Any, limit: int = 80) -> str:
    """Render a received value for an error message, shortened to one line."""
    text = repr(value).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ConfigError(OversightError):
    """A declared file (constitution, roles, graph spec, material) is wrong.

    The message names the file, the key path inside it and what was received.
    """

    def __init__(self, path: Path | str, key: str, problem: str, received: Any = ...) -> None:
        where = f"{path}: {key}" if key else f"{path}"
        got = "" if received is ... else f" (received {describe(received)})"
        super().__init__(f"{where}: {problem}{got}")
        self.path, self.key, self.problem = str(path), key, problem
