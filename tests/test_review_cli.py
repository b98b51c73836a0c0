"""`python -m oversight.run review ...`: accounts, the token file, the queue, decisions, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oversight.cli.main import main
from oversight.settings import Settings
from oversight.store import Store, get_review
from tests.review_seed import seed


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["review", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def queue(settings: Settings) -> list[int]:
    store = Store.open(settings)
    ids = seed(store, 3)
    store.dispose()
    return ids


def tokens(capsys: pytest.CaptureFixture[str], settings: Settings) -> dict[str, str]:
    code, out, _ = cli(capsys, "--json", "users", "add", "root", "--role", "admin")
    assert code == 0
    admin = json.loads(out)["token"]
    code, out, _ = cli(capsys, "--token", admin, "--json", "users", "add", "ana")
    assert code == 0
    return {"root": admin, "ana": json.loads(out)["token"]}


def test_a_reviewer_works_the_queue_from_the_terminal(capsys: pytest.CaptureFixture[str], settings: Settings,
                                                      queue: list[int]) -> None:
    keys = tokens(capsys, settings)
    settings.ensure_home()
    (settings.home / "review.token").write_text(keys["ana"] + "\n")
    code, out, _ = cli(capsys, "list")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["id", "status", "prio"] and len(out.splitlines()) == 5
    code, out, _ = cli(capsys, "next")
    assert code == 0 and f"review item {queue[0]}" in out and "PROMPT" in out and "CANDIDATES" in out
    assert "<- the graph's proposal" in out and "critic: privacy violated p=0.80" in out
    assert "judge: P(better than [0]) = 0.55" in out and "PRINCIPLES INVOLVED" in out and "Check:" in out
    code, out, _ = cli(capsys, "decide", str(queue[0]), "choose", "--candidate", "1", "--rank", "1,0",
                       "--violates", "0:privacy", "--note", "the revision keeps the address private")
    assert code == 0 and out.strip() == f"item {queue[0]}: decided (recorded; `review apply` resumes the thread)"
    decision = get_review(Store(settings.database_url), queue[0]).decision_json
    assert decision == {"action": "choose", "candidate": 1, "ranking": [1, 0], "violations": {"0": ["privacy"]},
                        "note": "the revision keeps the address private", "reviewer": "ana",
                        "review_item": queue[0]}
    code, out, _ = cli(capsys, "--json", "next")
    view: dict[str, Any] = json.loads(out)
    assert code == 0 and view["id"] == queue[1] and view["claimed_by"] == "ana"
    code, out, _ = cli(capsys, "release", str(queue[1]))
    assert code == 0 and out.strip() == f"released item {queue[1]}"
    code, out, _ = cli(capsys, "--token", keys["root"], "stats")
    assert code == 0 and "decided 1" in out and "judge-unsure" in out
    code, out, _ = cli(capsys, "--token", keys["root"], "--json", "audit", "--item", str(queue[0]))
    assert code == 0 and [e["action"] for e in json.loads(out)] == ["decide", "claim"]


@pytest.mark.parametrize("args, message", [
    (["--token", "ovr_nope_nope", "list"], "error: that reviewer token is not valid"),
    (["list"], "error: a reviewer token is needed"),
    (["--token-file", "/nonexistent/token", "list"], "error: token file /nonexistent/token does not exist"),
    (["@ana", "show", "999"], "error: no review item 999"),
    (["@ana", "decide", "1", "accept"], "error: you do not hold review item 1"),
    (["@ana", "decide", "1", "accept", "--rank", "x"], "error: --rank takes indices"),
    (["@ana", "audit"], "error: ana is a reviewer; this action needs an admin"),
    (["@ana", "reassign", "1", "--to", "root"], "error: ana is a reviewer; this action needs an admin"),
    (["@ana", "users", "add", "eve"], "error: ana is a reviewer; this action needs an admin"),
    (["users", "add", "eve"], "error: a reviewer token is needed"),
    (["--queue", "nosuch", "@ana", "list"], "no queue named 'nosuch'"),
])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(capsys: pytest.CaptureFixture[str], settings: Settings,
                                                         queue: list[int], args: list[str], message: str) -> None:
    keys = tokens(capsys, settings)
    args = [a for arg in args for a in (["--token", keys["ana"]] if arg == "@ana" else [arg])]
    store = Store(settings.database_url)
    before = [get_review(store, i) for i in queue]
    code, out, err = cli(capsys, *args)
    assert code == 2 and err.startswith("error:") and message in err and len(err.strip().splitlines()) == 1
    assert [get_review(store, i) for i in queue] == before
