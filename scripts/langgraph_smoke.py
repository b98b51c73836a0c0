"""Smoke test of langgraph.json: start `langgraph dev`, answer a prompt through langgraph-sdk, stop.

Needs `pip install -e '.[server]'` (langgraph-cli[inmem]) and trained roles in
$OVERSIGHT_HOME (the first request loads the model; it trains the roles if they
are missing, which takes minutes). An escalated prompt pauses as an interrupt,
which the script resumes with a reviewer's decision, as a client would.

    .venv/bin/python scripts/langgraph_smoke.py --prompt "How do I reset my router?"
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"langgraph dev exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"langgraph dev did not answer {url}/ok within {timeout_s:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="How do I reset my home router to factory settings?")
    parser.add_argument("--port", type=int, default=2031)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the answer")
    args = parser.parse_args()
    from langgraph_sdk import get_sync_client

    url = f"http://127.0.0.1:{args.port}"
    log = Path(tempfile.mkdtemp(prefix="langgraph-dev-")) / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "langgraph_cli", "dev", "--no-browser", "--no-reload",
                                   "--port", str(args.port)], cwd=PROJECT, stdout=out, stderr=subprocess.STDOUT)
    try:
        start = time.monotonic()
        wait_ready(url, server, 120)
        print(f"langgraph dev ready at {url} after {time.monotonic() - start:.1f} s (log: {log})")
        client = get_sync_client(url=url, timeout=args.timeout)
        [assistant] = client.assistants.search(graph_id="oversight")
        thread = client.threads.create()
        start = time.monotonic()
        state = client.runs.wait(thread["thread_id"], assistant["assistant_id"],
                                 input={"prompt_id": "smoke-1", "prompt": args.prompt})
        print(f"prompt: {args.prompt}")
        print(f"run answered in {time.monotonic() - start:.1f} s (the first request loads the model)")
        if state.get("__interrupt__"):
            reasons = state["__interrupt__"][0]["value"]["reasons"]
            print(f"escalated for review: {'; '.join(reasons)}")
            state = client.runs.wait(thread["thread_id"], assistant["assistant_id"],
                                     command={"resume": {"action": "refuse", "reviewer": "smoke-test"}})
            print("resumed with the reviewer's decision: refuse")
        decision = state.get("decision", {})
        print(f"route: {decision.get('route')} ({'; '.join(decision.get('reasons', []))})")
        print(f"final response: {state.get('final_response')}")
        return 0 if state.get("final_response") else 1
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
