"""Wall time of the commands a new user runs first: ``shrinkbench --help``, ``shrinkbench list``, ``uv run
shrinkbench list``, ``shrinkbench list models 'timm:*'`` cold (no name cache) and warm (median of ``--reps``), and
the default ``shrinkbench bench`` with an empty dense-model cache
and a fresh results directory (once: it trains the dense model and 54 runs).

These are the figures quoted in README.md and ``shrinkbench --help``. Run from the repository root, with nothing
else running::

    uv run python benchmarks/cli_times.py [--reps 5] [--no-bench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHRINKBENCH = str(Path(sys.executable).parent / "shrinkbench")


def seconds(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one run of ``command``; fails loudly if the command fails."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Print one line per command: its median (or single) wall time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-bench", action="store_true", help="skip the default bench")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="sb-cli-times-"))
    env = {**os.environ, "SHRINKBENCH_CACHE": str(scratch / "cache")}
    try:
        seconds([SHRINKBENCH, "list"], env)  # warm the name caches once, as after a first use
        quick = {
            "shrinkbench --help": [SHRINKBENCH, "--help"],
            "shrinkbench list": [SHRINKBENCH, "list"],
            "uv run shrinkbench list": ["uv", "run", "shrinkbench", "list"],
        }
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        timm = [SHRINKBENCH, "list", "models", "timm:*"]
        shutil.rmtree(scratch / "cache", ignore_errors=True)
        print(f"{'shrinkbench list models timm:* (cold)':<40} {seconds(timm, env):6.2f} s (imports timm once)")
        quick_timm = statistics.median(seconds(timm, env) for _ in range(args.reps))
        print(f"{'shrinkbench list models timm:* (warm)':<40} median {quick_timm:6.2f} s over {args.reps}")
        for label, command in quick.items():
            times = [seconds(command, env) for _ in range(args.reps)]
            print(f"{label:<40} median {statistics.median(times):6.2f} s over {args.reps}")
        if not args.no_bench:
            shutil.rmtree(scratch / "cache", ignore_errors=True)
            took = seconds([SHRINKBENCH, "bench", "--out", str(scratch / "results")], env)
            print(f"{'shrinkbench bench (empty cache)':<40} {took:6.1f} s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
