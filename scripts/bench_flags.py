"""What the judges' flags cost each poll: derby's ingest of the benchmark contest
(``scripts/bench.py``'s synthetic polls through ``poller.poll_once``) with the flags
computed at the end of each poll, against the same ingest with that step left out.
Runs are interleaved (without, with, without, with, …) so both see the same machine
load; the medians and their ratio are printed.

    python scripts/bench_flags.py                 # 10 thousand media, 3 runs each
    python scripts/bench_flags.py --media 100000 --runs 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402 - the benchmark contest lives there

from derby import poll as polling  # noqa: E402


def timed_ingest(n: int, flags: bool) -> float:
    real = polling._flag_poll
    if not flags:
        polling._flag_poll = lambda *args: None
    try:
        with tempfile.TemporaryDirectory(prefix="derby-bench-flags-") as tmp:
            start = time.perf_counter()
            bench.derby_ingest(Path(tmp) / "b.db", n)
            return time.perf_counter() - start
    finally:
        polling._flag_poll = real


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    without, with_flags = [], []
    for run in range(args.runs):
        without.append(timed_ingest(args.media, flags=False))
        with_flags.append(timed_ingest(args.media, flags=True))
        print(f"run {run + 1}: without flags {without[-1]:.2f} s, with flags {with_flags[-1]:.2f} s", flush=True)
    a, b = statistics.median(without), statistics.median(with_flags)
    print(f"{args.media:,} media, {bench.POLLS} polls: ingest without flags {a:.2f} s, with flags {b:.2f} s "
          f"(×{b / a:.2f}; {(b - a) / bench.POLLS * 1000:.0f} ms per poll)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
