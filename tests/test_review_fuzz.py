"""Fuzzing the review API from its own OpenAPI schema (schemathesis strategies, hypothesis runner).

Every operation the server publishes gets a bounded, reproducible run (derandomized, a
fixed number of examples): signed in with a CSRF token no response is a server error;
signed out no response is a server error or a success, and no table changes at all.
Path ids are drawn partly from the seeded items, so the fuzzer reaches real items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oversight.review import ReviewConfig, ReviewService
from oversight.review.web import create_app
from oversight.settings import PROJECT_DIR
from oversight.store import Store
from tests.review_seed import seed
from tests.review_web_support import sign_in, table_contents

schemathesis = pytest.importorskip("schemathesis")
SECRET = b"fuzz-secret-for-the-review-web-0123456789"
SIGNED_IN_EXAMPLES = 30
SIGNED_OUT_EXAMPLES = 15


def fuzz_settings(examples: int) -> Callable[[Any], Any]:
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.fixture
def target(make_store: Callable[[], Store]) -> tuple[Store, Any, dict[str, str], list[int]]:
    store = make_store()
    store.migrate()
    service = ReviewService(store, ReviewConfig(), PROJECT_DIR)
    tokens = {name: service.add_user(name, role)[1] for name, role in (("ana", "reviewer"), ("root", "admin"))}
    return store, create_app(service, secret=SECRET), tokens, seed(store, 4)


def operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) >= 14, [op.label for op in ops]
    return ops


def _aim(case: Any, item: int | None) -> None:
    """Point the case at a real item some of the time (otherwise ids are mostly unknown)."""
    if item is not None and case.path_parameters and "item_id" in case.path_parameters:
        case.path_parameters["item_id"] = item


def _check(case: Any, response: Any, label: str) -> None:
    assert response.status_code < 500, f"{label}: {case.method} {case.formatted_path} -> {response.status_code}: " \
                                       f"{response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], (label, body)


@pytest.mark.parametrize("who", ["ana", "root"])
def test_signed_in_fuzzing_finds_no_server_error(target: tuple[Store, Any, dict[str, str], list[int]],
                                                 who: str) -> None:
    store, app, tokens, items = target
    client = TestClient(app)
    csrf = sign_in(client, tokens[who])
    session_cookie = {"oversight_session": client.cookies.get("oversight_session")}
    succeeded: set[str] = set()
    for op in operations(app):
        if op.method.upper() == "DELETE" and op.path == "/api/session":
            continue  # signing out would end the run's session; covered signed out below

        @fuzz_settings(SIGNED_IN_EXAMPLES)
        @given(case=op.as_strategy(), item=st.sampled_from([None, *items]))
        def run(case: Any, item: int | None) -> None:
            _aim(case, item)
            response = case.call(headers={"X-CSRF-Token": csrf}, cookies=session_cookie)
            _check(case, response, f"signed in as {who}")
            if response.status_code < 300:
                succeeded.add(op.label)

        run()
    # The fuzzer got past sign-in and CSRF: reads and real queue actions succeeded, and were audited.
    assert {"GET /api/items", "GET /api/items/{item_id}", "POST /api/items/{item_id}/claim"} <= succeeded, succeeded
    assert table_contents(store)["review_audit"], "no queue action was audited"


def test_signed_out_fuzzing_changes_nothing(target: tuple[Store, Any, dict[str, str], list[int]]) -> None:
    store, app, tokens, items = target
    before = table_contents(store)
    for op in operations(app):

        @fuzz_settings(SIGNED_OUT_EXAMPLES)
        @given(case=op.as_strategy(), item=st.sampled_from([None, *items]))
        def run(case: Any, item: int | None) -> None:
            _aim(case, item)
            response = case.call()
            _check(case, response, "signed out")
            assert response.status_code >= 400, f"signed out, {case.method} {case.formatted_path} succeeded"
            assert table_contents(store) == before, f"signed out, {case.method} {case.formatted_path} changed data"

        run()
