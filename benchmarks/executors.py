"""One sweep through each executor, as the README's commands run it: wall time, parallel efficiency, same rows.

The sweep: 12 runs of MnistNet on the bundled mnist-5k (3 strategies x 4 compressions, 4 finetuning epochs)::

    shrinkbench bench -m mnistnet -s global-magnitude -s layer-magnitude -s random -c 2,4,8,16 \\
        --finetune-epochs 4 --no-report --out DIR --executor sequential|local|ray

with default flags otherwise -- no ``--threads``, no ``--jobs``, no ``num_cpus``: each executor gets the layout
ShrinkBench chooses for it, which is what is measured. The baseline, ``serial``, is the same sweep on one core
(``--executor sequential --threads 1``): parallel efficiency = serial time / (cores x time), the textbook
definition; ``sequential`` with its default layout (one run at a time, every core as threads) is shown beside. The dense model is trained once beforehand (the same
command, one run) into a ``SHRINKBENCH_CACHE`` that every command shares, so every executor times the same 12
runs; the report (``--no-report``) is left out, being the same work whatever ran the runs. Each timed command
is a fresh process, its whole wall time counted (Python and torch start-up, a local Ray instance's start-up).
With ``--repeat N`` the executors take turns (the order rotates every repetition, so drift hits each alike) and
the median counts. Every executor's rows must equal the serial ones, timing columns and the ``node`` column aside
(``ray`` names the Ray node there); ``sequential``'s, with 2 threads, differ in the last bits of float sums.

Afterwards, Ray's own overheads: starting a local instance (``ray.init``) and an empty task's round trip (mean of
100). Run from the repository root with nothing else running (``--quick``: a 4-run smoke version)::

    uv run --with-editable plugins/shrinkbench-ray python benchmarks/executors.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = ("-m", "mnistnet", "-s", "global-magnitude", "-s", "layer-magnitude", "-s", "random", "-c", "2,4,8,16",
         "--finetune-epochs", "4")
QUICK = ("-m", "mnistnet", "-s", "global-magnitude", "-s", "random", "-c", "2,4", "--finetune-epochs", "1",
         "--pretrain-epochs", "1")
EXECUTORS = ("sequential", "local", "ray")
SERIAL_NAMES = ("serial", "sequential")


def shrinkbench(args: list[str], env: dict[str, str]) -> float:
    """Run ``shrinkbench bench ARGS`` (the installed command, else the CLI module) and return its wall time; a
    failure stops the benchmark with the command's output."""
    command = Path(sys.executable).with_name("shrinkbench")
    argv = [str(command)] if command.exists() else [sys.executable, "-c", "from shrinkbench_cli.main import main; main()"]
    argv.append("bench")
    started = time.perf_counter()
    done = subprocess.run([*argv, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"shrinkbench {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def rows(directory: Path) -> dict[str, dict]:
    """The rows of a results directory by run id, timing columns and ``node`` aside."""
    from shrinkbench import schema
    from shrinkbench.engine import ResultsStore

    varying = schema.TIMINGS | {schema.NODE}
    return {r["run_id"]: {k: v for k, v in r.items() if k not in varying} for r in ResultsStore(directory).raw_rows()}


def differences(found: dict[str, dict], expected: dict[str, dict]) -> list[str]:
    """What differs between two sets of rows, one line each (empty when they are equal)."""
    if found.keys() != expected.keys():
        return [f"run ids differ: {sorted(found.keys() ^ expected.keys())}"]
    return [f"{run_id}: {k} = {v!r}, sequential {expected[run_id].get(k)!r}" for run_id, row in sorted(found.items())
            for k, v in row.items() if v != expected[run_id].get(k) and not (v != v and expected[run_id].get(k) != expected[run_id].get(k))]


def layout_line(directory: Path) -> str:
    """The layout the sweep chose (recorded in sweep.json)."""
    try:
        return json.loads((directory / "sweep.json").read_text())["last_sweep"]["layout"]
    except (OSError, ValueError, KeyError):
        return "?"


def ray_overheads() -> tuple[float, float]:
    """Seconds to start a local Ray instance; mean seconds of an empty task's round trip (100 of them)."""
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    from shrinkbench_ray.executor import local_temp_dir

    started = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, _temp_dir=local_temp_dir())
    start = time.perf_counter() - started
    try:
        noop = ray.remote(lambda: None)
        ray.get([noop.remote() for _ in range(10)])
        started = time.perf_counter()
        for _ in range(100):
            ray.get(noop.remote())
        return start, (time.perf_counter() - started) / 100
    finally:
        ray.shutdown()


def main() -> None:
    """Time the sweep through every available executor; print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every executor, in rotating order")
    parser.add_argument("--quick", action="store_true", help="4 short runs: a smoke test, not a measurement")
    parser.add_argument("--executors", default=",".join(EXECUTORS), help="comma separated (sequential is always in)")
    parser.add_argument("--keep", action="store_true", help="keep the results directories (printed)")
    args = parser.parse_args()

    from shrinkbench.devices import cpu_cores
    from shrinkbench.plugins import get_registry

    executors = ["serial", "sequential", *[e for e in args.executors.split(",") if e and e not in SERIAL_NAMES]]
    if "ray" in executors:
        try:
            get_registry().executor("ray")
        except KeyError:
            print("shrinkbench-ray is not installed: ray is left out")
            executors.remove("ray")
    sweep = list(QUICK if args.quick else SWEEP)
    root = Path(tempfile.mkdtemp(prefix="sb-executors-"))
    env = {**os.environ, "SHRINKBENCH_CACHE": str(root / "cache"), "COLUMNS": "200"}
    cores = cpu_cores()
    try:
        warm = shrinkbench([*sweep[:2], "-s", "random", "-c", "2", *sweep[sweep.index("--finetune-epochs"):],
                            "--no-report", "--out", str(root / "warm")], env)
        print(f"dense model trained beforehand in {warm:.1f} s; {cores} cores, load average {os.getloadavg()[0]:.1f}")
        seconds: dict[str, list[float]] = {name: [] for name in executors}
        layouts: dict[str, str] = {}
        for rep in range(args.repeat):
            for name in executors[rep % len(executors):] + executors[:rep % len(executors)]:
                out = root / f"{name}-{rep}"
                how = ["--executor", "sequential", "--threads", "1"] if name == "serial" else ["--executor", name]
                seconds[name].append(shrinkbench([*sweep, "--no-report", *how, "--out", str(out)], env))
                layouts[name] = layout_line(out)
                print(f"  round {rep + 1}: {name:<10} {seconds[name][-1]:7.1f} s  ({layouts[name]})", flush=True)
        expected = rows(root / "serial-0")
        problems = [f"{name} round {rep + 1}: {line}" for name in executors if name != "sequential"
                    for rep in range(args.repeat) for line in differences(rows(root / f"{name}-{rep}"), expected)]
        runs = len(expected)
        overheads = ray_overheads() if "ray" in executors else None
    finally:
        if args.keep:
            print(f"results directories kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    serial = statistics.median(seconds["serial"])
    print(f"\n{runs} runs ({' '.join(sweep)}), {cores} cores, median of {args.repeat}")
    print(f"{'executor':<12} {'wall s':>8} {'efficiency':>11}   layout")
    result: dict = {"runs": runs, "cores": cores, "repeat": args.repeat, "seconds": {}, "efficiency": {},
                    "rows_equal": not problems}
    for name in executors:
        wall = statistics.median(seconds[name])
        efficiency = serial / (cores * wall)
        result["seconds"][name] = [round(s, 2) for s in seconds[name]]
        result["efficiency"][name] = round(efficiency, 3)
        shown = f"{efficiency:>11.2f}" if name != "serial" else f"{'-':>11}"
        print(f"{name:<12} {wall:>8.1f} {shown}   {layouts[name]}")
    if overheads is not None:
        result.update(ray_start_s=round(overheads[0], 2), ray_task_ms=round(1000 * overheads[1], 2))
        print(f"ray: local instance started in {overheads[0]:.1f} s; empty task round trip {1000 * overheads[1]:.1f} ms")
    print("rows: every executor's equal the serial ones (timing and node aside; sequential's 2 threads sum in "
          "another order)" if not problems else "rows DIFFER from the serial ones:\n  " + "\n  ".join(problems[:20]))
    print(json.dumps(result))
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
