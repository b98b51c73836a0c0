"""`dtype: auto` picks bfloat16 only where the CPU computes it natively (runtime/loading.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from oversight.runtime.loading import cpu_has_bf16, dtype_name, pick_dtype


def test_bf16_units_are_read_from_the_cpu_flags(tmp_path: Path) -> None:
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n")
    assert not cpu_has_bf16(avx2) and cpu_has_bf16(amx)
    assert not cpu_has_bf16(tmp_path / "missing")  # unreadable: float32, the safe choice


def test_auto_follows_the_cpu_and_explicit_dtypes_are_kept() -> None:
    expected = "bfloat16" if cpu_has_bf16() else "float32"
    assert dtype_name("auto", "cpu") == expected and pick_dtype("auto", "cpu") == getattr(torch, expected)
    assert dtype_name("float32", "cpu") == "float32" and pick_dtype("bfloat16", "cpu") == torch.bfloat16
