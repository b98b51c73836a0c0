"""`constitution`: validate a constitution and show its resolved principles and hash."""

from __future__ import annotations

import argparse

from oversight.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("constitution", help="show a constitution's principles and content hash",
                       description="Load a constitution (after `extends`), validate it, and list its "
                                   "principles by priority with its content hash. "
                                   "Example: python -m oversight.run constitution strict")
    p.add_argument("name", nargs="?", default="default", help="name under constitutions/ or a path")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.constitution import load_constitution

    c = load_constitution(args.name, settings.project_dir)
    print(f"{c.name} {c.version}  hash {c.content_hash}  ({len(c.principles)} principles)")
    for p in c.by_priority():
        print(f"  [{p.priority}] {p.id:<22} {p.category:<13} weight {p.weight:<4g} {p.text}")
    return 0
