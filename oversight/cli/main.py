"""Top-level parser: subcommands, the --debug switch, and the one-line error contract.

Each subcommand module exposes `add_parser(subparsers)` and a `run(args, settings)`
it sets as the parser default; heavy libraries are imported inside `run` only.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from oversight import __version__
from oversight.errors import OversightError
from oversight.settings import Settings

# Subcommand modules under oversight.cli, in the order --help lists them.
COMMANDS: tuple[str, ...] = ("constitution", "models", "graph", "train", "roles", "status", "store", "export",
                            "review", "retrain", "eval", "loop")


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors follow the same one-line, exit-2 contract."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m oversight.run",
        description="Constitutional oversight of language models.",
        epilog="Data folder: $OVERSIGHT_HOME (default ~/.cache/oversight). "
               "Store: $OVERSIGHT_DATABASE_URL (default SQLite in the data folder).",
    )
    parser.add_argument("--version", action="version", version=f"oversight {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"oversight.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    _quiet_libraries(args.debug)
    try:
        return int(args.run(args, Settings.from_env()) or 0)
    except OversightError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `... | head` closed the pipe: not an error of ours; keep Python from complaining at exit.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _quiet_libraries(debug: bool) -> None:
    """Keep library chatter (transformers warnings, hub notices) out of user output."""
    import os
    import warnings

    if debug:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # weight-loading bars are noise here
    warnings.filterwarnings("ignore")
