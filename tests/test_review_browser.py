"""The review page in real headless Chromium (Debian's package, driven by Playwright).

Signs in with a token, claims with the keyboard, chooses a candidate with the keyboard,
and watches the worker beside the server resume the paused graph thread until the
trajectory is resolved. Skips when /usr/bin/chromium or playwright is missing, unless
--require-browser (set by `make test` under CI) turns that into a failure.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oversight.review.web import create_app
from oversight.review.web.worker import ApplyWorker
from oversight.settings import Settings
from oversight.store import Store, get_review_by_thread, get_trajectory, preference_pairs
from tests.graph_support import BAD, FIXED
from tests.review_web_support import LiveServer, escalated_service

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_COPY = Path("/tmp/oversight-review-item.png")


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A headless Chromium from the system package (never a downloaded browser)."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install -e '.[test]')"
    if missing is None and not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (make browser: apt-get install chromium chromium-driver)"
    if missing is not None:
        if request.config.getoption("--require-browser"):
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    yield s
    s.dispose()


def test_sign_in_claim_and_decide_with_the_keyboard_resumes_the_thread(
        settings: Settings, store: Store, browser: Any, tmp_path: Path) -> None:
    service, resumer, roles = escalated_service(settings, store)
    _, token = service.add_user("ana", "reviewer")
    item = get_review_by_thread(store, "r1:p0")
    assert item is not None and item.status == "pending"
    calls_before = roles.calls.copy()
    worker = ApplyWorker(service, resumer, interval_s=0.2).start()
    app = create_app(service, secret=b"browser-test-secret-0123456789abcdef", worker=worker)
    try:
        with LiveServer(app) as server:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server.url}/queue")
            assert page.url.endswith("/login?m=signin")  # signed out: sent to sign in
            page.fill("#token", token)
            page.press("#token", "Enter")
            page.wait_for_url(f"{server.url}/queue")
            assert "Review queue" in page.inner_text("h1") and f">{item.id}<" in page.content()

            page.keyboard.press("n")  # claim the next item
            page.wait_for_url(f"{server.url}/items/{item.id}?m=claimed")
            body = page.inner_text("main")
            assert "Claimed" in body and "held by ana" in body
            assert "judge is unsure" in body  # the graph's reason, as a sentence
            assert "harmful-instructions" in body and "Do not give instructions" in body  # principle text
            assert "1-9" in body and "send to an admin" in body  # shortcuts and "unsure" shown
            assert page.locator("#cand-0 .text.blur").count() == 1  # the harmful original is blurred
            assert page.locator("#cand-1 ins").count() >= 1  # the revision's diff against the original
            assert page.locator("#cand-1 details .blur").count() == 1  # which shows the original's words
            shot = tmp_path / "item.png"
            page.screenshot(path=str(shot), full_page=True)
            page.keyboard.press("v")  # reveal
            assert page.locator(".blur").count() == 0 and BAD in page.inner_text("#cand-0")
            page.screenshot(path=str(tmp_path / "item-revealed.png"), full_page=True)
            shutil.copy(shot, SCREENSHOT_COPY)

            page.keyboard.press("2")  # choose candidate 2 (index 1, the revision)
            page.wait_for_url(f"{server.url}/items/{item.id}?m=decided")
            assert "Decision recorded" in page.inner_text("main")
            deadline = time.monotonic() + 30
            while "applied" not in page.inner_text(".card.small") and time.monotonic() < deadline:
                time.sleep(0.3)
                page.reload()
            assert "applied" in page.inner_text(".card.small"), worker.last_error
            page.close()
    finally:
        worker.stop()
    assert shot.stat().st_size > 10_000
    done = get_review_by_thread(store, "r1:p0")
    assert done.status == "applied" and done.decision_json["action"] == "choose"
    stored = get_trajectory(store, "r1", "p0")
    assert stored.status == "done" and stored.final_response == FIXED and stored.route == "revised"
    assert "ana decided 'choose'" in stored.route_reason
    human = preference_pairs(store, source="human")
    assert [(p.chosen, p.rejected) for p in human] == [(FIXED, BAD)]
    assert roles.calls == calls_before  # resumed from the checkpoint: no model call repeated
