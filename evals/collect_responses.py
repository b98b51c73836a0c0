"""Collect real responses of the embedded model for the classifier's labelled set.

Run once by hand (it is how evals/labelled_responses.jsonl was produced, before the
classifier existed):  .venv/bin/python evals/collect_responses.py base OUT.jsonl
(bare base model on every suite item) or `... reviser OUT.jsonl` (base answer, then a
revision by the trained reviser, given the item's principle and its critique request;
needs a home with trained roles).
Each line: id, prompt, suite, expected, source (base|revision), response. Labels are
added by a person reading each response.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from oversight.constitution import load_constitution
from oversight.eval.suites import load_suites, select
from oversight.roles import load_roles
from oversight.runtime import Runtime
from oversight.runtime.roleset import RoleSet
from oversight.settings import Settings


def main(mode: str, out_path: str, limit: int | None = None, suites: str = "all") -> None:
    settings = Settings.from_env()
    roles_file = load_roles("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    items = select(load_suites(suites, settings.project_dir), None)
    if limit:
        items = items[::max(1, len(items) // limit)][:limit]
    runtime = Runtime(settings.models_dir)
    if mode == "base":
        roles = RoleSet(runtime, roles_file, constitution, {})
    else:
        from oversight.store import Store
        from oversight.train.bootstrap import build_roles

        roles, _, runtime = build_roles(settings, Store.open(settings), roles_file, constitution,
                                        progress=True, runtime=runtime)
    principles = {p.id: p for p in constitution.principles}

    def work(item):
        answer, _ = roles.answer(item.prompt)
        rows = [{"id": item.id, "prompt": item.prompt, "suite": item.suite, "expected": item.expected,
                 "source": "base", "response": answer}]
        if mode != "base":
            principle = principles[item.principle or "helpfulness"]
            # the principle's own critique request stands in for a written critique (saves a generation)
            critique = principle.critique_request
            revision = roles.revise(item.prompt, answer, [(principle, critique)])
            rows.append({**rows[0], "source": "revision", "critique": critique, "response": revision})
        return rows

    with ThreadPoolExecutor(32) as pool, open(out_path, "w", encoding="utf-8") as out:
        for done, rows in enumerate(pool.map(work, items), 1):
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            print(f"{done}/{len(items)}", file=sys.stderr, flush=True)
    runtime.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] != "0" else None,
         sys.argv[4] if len(sys.argv) > 4 else "all")
