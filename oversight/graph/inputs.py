"""Reading prompts: a JSONL file, a text file (one prompt a line) or a single --prompt.

A bad line (malformed JSON, no prompt, an empty prompt, a repeated id) is
reported with its line number and skipped, so the other lines still run. A file
that is not UTF-8 is refused as a whole with one line naming the byte and line.
Prompt ids must be stable across reruns (they key resumption), so lines without
an id are named after their line number.

Ids must also fit the store's columns: a run id at most `RUN_ID_LIMIT`
characters, a prompt id at most `PROMPT_ID_LIMIT` (the thread id joins both with
a colon and must fit too), so a long id is refused here, with its line, and
never fails a database write halfway through a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from oversight.errors import OversightError
from oversight.store.tables import ReviewItem, Run, Trajectory

RUN_ID_LIMIT: int = Run.__table__.c.id.type.length
# The thread id is f"{run_id}:{prompt_id}" (graph/persist.py) and is stored too.
PROMPT_ID_LIMIT: int = min(Trajectory.__table__.c.prompt_id.type.length,
                           ReviewItem.__table__.c.thread_id.type.length - RUN_ID_LIMIT - 1)


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str


@dataclass
class PromptSet:
    prompts: list[Prompt] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One readable line per skipped input line: 'FILE line N: what was wrong'."""


def check_run_id(run_id: str | None) -> None:
    """A --run-id that the store can hold (None: the command names the run itself)."""
    if run_id is None:
        return
    if not run_id.strip():
        raise OversightError("--run-id is empty; give a name or leave it out")
    if len(run_id) > RUN_ID_LIMIT:
        raise OversightError(f"--run-id has {len(run_id)} characters; the store keeps at most {RUN_ID_LIMIT}")


def single_prompt(text: str, prompt_id: str = "prompt") -> PromptSet:
    if not text.strip():
        raise OversightError("the prompt is empty; give some text with --prompt")
    return PromptSet([Prompt(prompt_id, text)])


def read_prompts(path: Path) -> PromptSet:
    """Prompts from `path`: JSONL when it ends in .jsonl/.json or its lines look like JSON objects."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise OversightError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise OversightError(f"{path}: is a folder, not a prompts file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise OversightError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, "
                             f"line {line}); convert it, e.g. iconv -f latin1 -t utf-8") from None
    lines = text.lstrip("\ufeff").splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    as_jsonl = path.suffix in {".jsonl", ".json", ".ndjson"} or first.startswith("{")
    found = _parse_jsonl(path, lines) if as_jsonl else _parse_text(path, lines)
    if not found.prompts and not found.problems:
        raise OversightError(f"{path}: no prompts in the file")
    return found


def _parse_text(path: Path, lines: list[str]) -> PromptSet:
    found = PromptSet()
    for number, line in enumerate(lines, start=1):
        if "\x00" in line:
            found.problems.append(f"{path.name} line {number}: the prompt contains a NUL character, which the "
                                  "store cannot keep on PostgreSQL; skipped")
        elif line.strip():
            found.prompts.append(Prompt(f"line-{number}", line.strip()))
    return found


def _parse_jsonl(path: Path, lines: list[str]) -> PromptSet:
    found = PromptSet()
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            found.problems.append(f"{where}: malformed JSON ({exc.msg} at column {exc.colno}); skipped")
            continue
        if not isinstance(item, dict):
            found.problems.append(f"{where}: expected a JSON object with a 'prompt', "
                                  f"got {type(item).__name__}; skipped")
            continue
        prompt = item.get("prompt", item.get("text"))
        if not isinstance(prompt, str):
            found.problems.append(f"{where}: no 'prompt' string (keys: {', '.join(item) or 'none'}); skipped")
            continue
        if not prompt.strip():
            found.problems.append(f"{where}: empty prompt; skipped")
            continue
        if "\x00" in prompt:
            found.problems.append(f"{where}: the prompt contains a NUL character (\\u0000), which the store "
                                  "cannot keep on PostgreSQL; skipped")
            continue
        pid = str(item.get("id", item.get("prompt_id", f"line-{number}")))
        if not pid.strip() or len(pid) > PROMPT_ID_LIMIT or "\x00" in pid:
            found.problems.append(f"{where}: id has {len(pid)} characters; it must have 1 to {PROMPT_ID_LIMIT}, none NUL; "
                                  "skipped")
            continue
        if pid in seen:
            found.problems.append(f"{where}: id {pid!r} was already used on an earlier line; skipped")
            continue
        seen.add(pid)
        found.prompts.append(Prompt(pid, prompt))
    return found
