"""Print the longest functions of derby/ (lines from ``def`` to the last line of the
body, decorators excluded) and exit 1 when one is over the limit.

    python scripts/longest_functions.py            # the 10 longest, limit 80
    python scripts/longest_functions.py --top 3 --limit 60
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "derby"


def function_lengths(root: Path = ROOT) -> list[tuple[int, str]]:
    """Return ``(lines, "path:line name")`` for every function and method under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                found.append((lines, f"{path.relative_to(root.parent)}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--limit", type=int, default=80)
    args = parser.parse_args()
    lengths = function_lengths()
    for lines, where in lengths[: args.top]:
        print(f"{lines:4d}  {where}")
    over = [item for item in lengths if item[0] >= args.limit]
    if over:
        print(f"{len(over)} function(s) of {args.limit} lines or more", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
