"""The review web server through FastAPI's TestClient, on SQLite and PostgreSQL.

Pages render the queue and an item with its internal reasoning; sessions are HttpOnly,
SameSite=Strict and need a CSRF token for every change; each bad request gets one clear
error and leaves every table as it was; a decision is recorded by the request and applied
by the worker beside the server, which resumes the real paused graph thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from oversight.review import ReviewConfig, ReviewService
from oversight.review.web import create_app
from oversight.review.web.pages import decision_from_form
from oversight.review.web.worker import ApplyWorker
from oversight.settings import PROJECT_DIR, Settings
from oversight.store import Store, get_review, get_review_by_thread, get_trajectory, preference_pairs
from oversight.store.tables import ReviewItem, utcnow
from tests.graph_support import BAD, FIXED, backend  # noqa: F401 - fixture
from tests.review_seed import seed
from tests.review_web_support import escalated_service, sign_in, table_contents

SECRET = b"test-secret-for-the-review-web-0123456789"


@dataclass
class Web:
    store: Store
    service: ReviewService
    tokens: dict[str, str]
    items: list[int]

    def client(self, who: str | None = None) -> tuple[TestClient, str]:
        """A fresh browser-like client, signed in as `who` (CSRF token returned) or not."""
        client = TestClient(create_app(self.service, secret=SECRET))
        return client, sign_in(client, self.tokens[who]) if who else ""


@pytest.fixture
def web(make_store: Callable[[], Store]) -> Iterator[Web]:
    store = make_store()
    store.migrate()
    service = ReviewService(store, ReviewConfig(), PROJECT_DIR)
    tokens = {name: service.add_user(name, role)[1] for name, role in
              (("ana", "reviewer"), ("bo", "reviewer"), ("root", "admin"))}
    yield Web(store, service, tokens, seed(store, 3))


def test_pages_show_the_queue_and_an_item_with_its_reasoning(web: Web) -> None:
    client, csrf = web.client("ana")
    queue = client.get("/queue")
    assert queue.status_code == 200 and "Review queue" in queue.text
    assert all(f'href="/items/{i}"' in queue.text for i in web.items) and "pending: <strong>3</strong>" in queue.text
    assert "judge-unsure" in queue.text and "<kbd>n</kbd>" in queue.text
    claimed = client.post("/next", data={"csrf_token": csrf}, follow_redirects=False)
    assert claimed.status_code == 303 and claimed.headers["location"] == f"/items/{web.items[0]}?m=claimed"
    page = client.get(claimed.headers["location"]).text
    assert "question 0" in page and "revised answer to question 0" in page
    assert "<del>first </del>" in page and "<ins>revised </ins>" in page  # diff against the original
    assert "Respect privacy" in page and "Rubric" in page  # principle text and rubric
    assert "It breaks privacy." in page and "0.80" in page and "harmful prob" in page  # reasoning
    assert "Unsure, send to an admin" in page and 'name="csrf_token"' in page
    assert "<kbd>1</kbd>-<kbd>9</kbd>" in page and "held by ana" in page
    assert client.get("/stats").status_code == 200


def test_sessions_are_httponly_strict_signed_and_changes_need_csrf(web: Web) -> None:
    client, _ = web.client()
    bad = client.post("/login", data={"token": "ovr_nope_nope"}, follow_redirects=False)
    assert bad.status_code == 401 and "not valid" in bad.text
    good = client.post("/login", data={"token": web.tokens["ana"]}, follow_redirects=False)
    cookie = good.headers["set-cookie"]
    assert good.status_code == 303 and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert good.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in good.headers[
        "content-security-policy"]
    me = client.get("/api/session").json()
    assert me["user"]["name"] == "ana" and "token" not in str(me["user"])
    value = client.cookies.get("oversight_session")
    client.cookies.clear()
    client.cookies.set("oversight_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/api/session").status_code == 401  # forged signature
    client.cookies.clear()
    client.cookies.set("oversight_session", value)
    assert client.get("/api/session").status_code == 200
    web.service.new_token("ana")  # a replaced token ends its sessions
    assert client.get("/api/session").status_code == 401
    assert client.get("/queue", follow_redirects=False).headers["location"] == "/login?m=signin"


def _expire(store: Store, item_id: int) -> None:
    with store.session() as session:
        session.execute(update(ReviewItem).where(ReviewItem.id == item_id)
                        .values(lease_expires_at=utcnow() - timedelta(seconds=1)))


def test_bad_requests_get_one_clear_error_and_change_nothing(web: Web) -> None:
    ana, ana_csrf = web.client("ana")
    bo, bo_csrf = web.client("bo")
    held_by_bo, mine, expired = web.items
    assert bo.post(f"/api/items/{held_by_bo}/claim", headers={"X-CSRF-Token": bo_csrf}).status_code == 200
    assert ana.post(f"/api/items/{mine}/claim", headers={"X-CSRF-Token": ana_csrf}).status_code == 200
    assert ana.post(f"/api/items/{expired}/claim", headers={"X-CSRF-Token": ana_csrf}).status_code == 200
    _expire(web.store, expired)
    signed_out, _ = web.client()
    h = {"X-CSRF-Token": ana_csrf}
    choose = {"action": "choose", "candidate": 1}
    cases: list[tuple[str, Callable[[], Any], int, str]] = [
        ("unknown item", lambda: ana.post("/api/items/99999/decision", json=choose, headers=h), 404,
         "no review item 99999"),
        ("unknown item page", lambda: ana.get("/items/99999"), 404, "no review item 99999"),
        ("item someone else holds", lambda: ana.post(f"/api/items/{held_by_bo}/decision", json=choose, headers=h),
         409, "held by bo"),
        ("claiming it", lambda: ana.post(f"/api/items/{held_by_bo}/claim", headers=h), 409, "held by bo"),
        ("expired lease", lambda: ana.post(f"/api/items/{expired}/decision", json=choose, headers=h), 409,
         "expired at"),
        ("malformed body", lambda: ana.post(f"/api/items/{mine}/decision", json={"action": "maybe"}, headers=h),
         422, "malformed request: action"),
        ("not JSON", lambda: ana.post(f"/api/items/{mine}/decision", content=b"{not json", headers={
            **h, "content-type": "application/json"}), 422, "malformed request"),
        ("candidate out of range", lambda: ana.post(f"/api/items/{mine}/decision",
                                                    json={"action": "choose", "candidate": 7}, headers=h),
         400, "candidate index 0..1"),
        ("NUL in a note", lambda: ana.post(f"/api/items/{mine}/decision", json={**choose, "note": "a\x00b"},
                                           headers=h), 400, "NUL"),
        ("wrong token", lambda: signed_out.post("/api/session", json={"token": "ovr_0000_wrong"}), 401, "not valid"),
        ("missing token", lambda: signed_out.post("/api/session", json={}), 422, "malformed request: token"),
        ("no session", lambda: signed_out.post(f"/api/items/{mine}/decision", json=choose), 401, "sign in first"),
        ("missing CSRF token", lambda: ana.post(f"/api/items/{mine}/decision", json=choose), 403, "CSRF"),
        ("wrong CSRF token", lambda: ana.post(f"/api/items/{mine}/decision", json=choose,
                                              headers={"X-CSRF-Token": bo_csrf}), 403, "CSRF"),
        ("form without CSRF", lambda: ana.post(f"/items/{mine}/decide", data={"action": "choose", "candidate": "1"}),
         403, "CSRF"),
        ("reviewer reassigns", lambda: ana.post(f"/api/items/{mine}/reassign", json={"to": "bo"}, headers=h), 403,
         "needs an admin"),
        ("reviewer unclaims", lambda: ana.post(f"/api/items/{held_by_bo}/unclaim", headers=h), 403, "needs an admin"),
        ("reviewer reads audit", lambda: ana.get("/api/audit"), 403, "needs an admin"),
        ("reviewer lists users", lambda: ana.get("/api/users"), 403, "needs an admin"),
    ]
    before = table_contents(web.store)
    for name, call, status, phrase in cases:
        response = call()
        text = response.text
        assert response.status_code == status, (name, response.status_code, text)
        assert phrase in text, (name, text)
        if response.headers["content-type"].startswith("application/json"):
            assert list(response.json()) == ["error"] and "\n" not in response.json()["error"], name
        assert table_contents(web.store) == before, f"{name} changed stored data"


def test_form_fields_become_a_full_decision() -> None:
    form = {"action": ["choose"], "candidate": ["1"], "note": ["clearer"], "rank_1": ["1"], "rank_0": ["2"],
            "rank_2": [""], "violates": ["0:privacy", "0:lawful", "x:junk"], "text": [""]}
    assert decision_from_form(form) == {"action": "choose", "candidate": 1, "note": "clearer", "ranking": [1, 0],
                                        "violations": {0: ["privacy", "lawful"]}}
    assert decision_from_form({"candidate": ["0"]})["action"] == "choose"


def test_admin_reassigns_and_reads_the_audit_of_web_actions(web: Web) -> None:
    root, csrf = web.client("root")
    h = {"X-CSRF-Token": csrf}
    moved = root.post(f"/api/items/{web.items[1]}/reassign", json={"to": "bo"}, headers=h)
    assert moved.status_code == 200 and moved.json()["claimed_by"] == "bo"
    assert root.post(f"/api/items/{web.items[1]}/reassign", json={"to": "nobody"}, headers=h).status_code == 404
    audit = root.get("/api/audit", params={"item_id": web.items[1]}).json()
    assert audit[0]["actor"] == "root" and audit[0]["action"] == "reassign" and audit[0]["after"]["claimed_by"] == "bo"
    assert {u["name"] for u in root.get("/api/users").json()} == {"ana", "bo", "root"}


def test_a_decision_is_recorded_by_the_request_and_applied_by_the_worker(backend: Settings) -> None:  # noqa: F811
    store = Store.open(backend)
    try:
        service, resumer, roles = escalated_service(backend, store)
        _, token = service.add_user("ana", "reviewer")
        worker = ApplyWorker(service, resumer, interval_s=60)  # not started: passes run below, on demand
        client = TestClient(create_app(service, secret=SECRET, worker=worker))
        h = {"X-CSRF-Token": sign_in(client, token)}
        item = client.post("/api/items/next", json={}, headers=h).json()["item"]
        assert item["thread_id"] == "r1:p0" and item["claimed_by"] == "ana"
        assert [c["text"] for c in item["candidates"]] == [BAD, FIXED]
        decided = client.post(f"/api/items/{item['id']}/decision", headers=h, json={
            "action": "edit", "text": "Please call a locksmith.", "ranking": [1, 0],
            "violations": {"0": ["harmful-instructions"]}, "note": "shorter"})
        assert decided.status_code == 202 and decided.json()["status"] == "decided"
        assert get_trajectory(store, "r1", "p0").status == "pending_review"  # the request did not resume
        [outcome] = worker.run_once()
        assert outcome.ok and outcome.final_response == "Please call a locksmith."
        stats = client.get("/api/stats").json()
        assert stats["reviewers"][0]["reviewer"] == "ana" and stats["overturned"][0]["overturned"] == 1
        assert "ana" in client.get("/stats").text
        resumer.close()
    finally:
        store.dispose()
    stored = get_trajectory(store, "r1", "p0")
    assert stored.status == "done" and stored.final_response == "Please call a locksmith."
    assert get_review(store, item["id"]).status == "applied" and get_review_by_thread(store, "r1:p0") is not None
    human = preference_pairs(store, source="human")
    assert {p.rejected for p in human} >= {BAD, FIXED} and all(p.source == "human" for p in human)


@pytest.mark.model
def test_review_serve_decides_a_real_escalation_and_its_worker_resumes_it(
        request: pytest.FixtureRequest, runtime: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`review serve` in its own process: the real model escalates, the page's API decides, the worker applies."""
    import shutil
    import subprocess
    import sys
    import time

    import httpx

    from tests.review_web_support import SHORT, escalate_real, free_port

    trained: Settings = request.getfixturevalue("trained_home")
    home = tmp_path / "webhome"
    shutil.copytree(trained.home, home)
    monkeypatch.setenv("OVERSIGHT_HOME", str(home))
    settings = Settings.from_env()
    store = escalate_real(request, runtime, settings)
    service = ReviewService(store, ReviewConfig(), PROJECT_DIR)
    _, token = service.add_user("root", "admin")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "oversight.run", "review", "serve", "--port", str(port), "--apply-interval", "1",
         *(x for s in SHORT for x in ("--set", s))], cwd=PROJECT_DIR, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/login").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, "review serve did not start"
                time.sleep(0.5)
            h = {"X-CSRF-Token": client.post("/api/session", json={"token": token}).json()["csrf_token"]}
            item = client.post("/api/items/next", json={}, headers=h).json()["item"]
            assert item["thread_id"] == "rv:wifi" and item["candidates"]
            page = client.get(f"/items/{item['id']}").text
            assert "always sends to a human" in page and "<kbd>1</kbd>" in page
            decided = client.post(f"/api/items/{item['id']}/decision", headers=h,
                                  json={"action": "choose", "candidate": 0, "note": "fine as it is"})
            assert decided.status_code == 202 and decided.json()["status"] == "decided"
            deadline = time.monotonic() + 300
            while client.get(f"/api/items/{item['id']}").json()["status"] != "applied":
                assert time.monotonic() < deadline and server.poll() is None, "the worker did not apply it"
                time.sleep(1)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert "review server on http://127.0.0.1" in err
    stored = get_trajectory(store, "rv", "wifi")
    assert stored.status == "done" and stored.final_response == item["candidates"][0]["text"]
    assert "root decided 'choose'" in stored.route_reason
