"""The command line: instant --help everywhere, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import pytest

from oversight.cli.main import build_parser, main


def _help_paths() -> list[list[str]]:
    """Every command and nested action, as argv prefixes."""
    paths: list[list[str]] = [[]]

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    paths.append(prefix + [name])
                    walk(sub, prefix + [name])

    walk(build_parser(), [])
    return paths


@pytest.mark.parametrize("path", _help_paths(), ids=lambda p: " ".join(p) or "top")
def test_help_is_instant(path: list[str]) -> None:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "oversight.run", *path, "--help"],
                          capture_output=True, text=True, timeout=30)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
    assert elapsed < 2.0, f"{' '.join(path)} --help took {elapsed:.2f} s"


def test_help_does_not_import_heavy_libraries() -> None:
    code = ("import sys; from oversight.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'langgraph', 'trl', 'peft', 'sqlalchemy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_usage_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["models", "nonsense"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
