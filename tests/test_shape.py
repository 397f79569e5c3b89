"""The code's shape: no function in derby/ reaches 80 lines (scripts/longest_functions.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "longest_functions.py"


def test_no_function_in_derby_reaches_80_lines():
    spec = importlib.util.spec_from_file_location("longest_functions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lengths = module.function_lengths()
    assert len(lengths) > 100  # it found the package's functions
    assert [item for item in lengths if item[0] >= 80] == []
