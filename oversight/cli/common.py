"""Options several subcommands share, declared once."""

from __future__ import annotations

import argparse


def add_roles_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--roles", default="default", help="roles file: a name under roles/ or a path")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a roles key, e.g. --set roles.base.generation.max_new_tokens=64 "
                             "(repeatable)")
