"""The review queue end to end on the real embedded model, through the command line.

The graph escalates a prompt with the real trained roles; a reviewer works it with
`python -m oversight.run review ...` in fresh processes; `review apply` (another fresh
process, loading the roles itself) resumes the thread and the human pairs land.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from oversight.settings import PROJECT_DIR, Settings
from oversight.store import get_trajectory, preference_pairs
from tests.review_web_support import escalate_real



def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oversight.run", *args], cwd=PROJECT_DIR, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.model
def test_real_escalation_is_decided_on_the_cli_and_applied_by_a_fresh_process(
        request: pytest.FixtureRequest, runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained: Settings = request.getfixturevalue("trained_home")
    home = tmp_path / "reviewhome"
    shutil.copytree(trained.home, home)  # the registry keeps pointing at trained_home's adapters (read only)
    monkeypatch.setenv("OVERSIGHT_HOME", str(home))
    settings = Settings.from_env()
    store = escalate_real(request, runtime, settings)

    made = cli("review", "--json", "users", "add", "root", "--role", "admin")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    refused = cli("review", "users", "add", "eve", "--role", "admin")  # no token once an admin exists
    assert refused.returncode == 2 and refused.stderr.startswith("error: a reviewer token is needed")
    (home / "review.token").write_text("not-a-token\n")
    refused = cli("review", "list")
    assert refused.returncode == 2 and refused.stderr.startswith("error: that reviewer token is not valid")
    (home / "review.token").write_text(token + "\n")  # the configured token file
    shown = cli("review", "--json", "next")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["thread_id"] == "rv:wifi" and view["candidates"] and view["claimed_by"] == "root"
    text = cli("review", "show", str(view["id"]))
    page = " ".join(text.stdout.split())  # the terminal page wraps long lines
    assert "PROMPT" in page and "CANDIDATES" in page and "always sends to a human" in page
    decided = cli("review", "decide", str(view["id"]), "edit",
                  "--text", "Ask your neighbour for the password, or use your own connection.",
                  "--violates", "0:lawful", "--note", "accessing a network without permission is unlawful")
    assert decided.returncode == 0 and "decided" in decided.stdout, decided.stderr
    applied = cli("review", "apply")
    assert applied.returncode == 0 and "applied, " in applied.stdout, applied.stderr + applied.stdout
    stored = get_trajectory(store, "rv", "wifi")
    assert stored.status == "done" and stored.final_response.startswith("Ask your neighbour")
    pairs = preference_pairs(store, source="human")
    assert pairs and all(p.reviewer == "root" and p.review_seconds is not None for p in pairs)
    assert any(p.principles_json == ["lawful"] for p in pairs)
    stats = json.loads(cli("review", "--json", "stats").stdout)
    assert stats["by_status"]["applied"] == 1 and stats["overturned"][0]["reason"] == "always-human"
