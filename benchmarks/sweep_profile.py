"""Where the time of one sweep goes, and whether runs slow down as a sweep goes on.

Runs one sweep in this process (the ``sequential`` executor, the layout's threads per run: 1 on 2 cores, as in a
``local`` worker), with every engine phase wrapped from this script -- nothing in the engine changes -- and
prints:

1. **start-up**: ``import shrinkbench`` (and whether it imported torch: it must not), ``import torch``, what a
   worker imports for its first run, ``shrinkbench --help``, and two ``local`` workers started and given one
   task each (spawn, imports, unpickling), each as subprocess wall times (median of ``--reps``);
2. **phases**: dense training, then per run (mean, median, share of a run, the first run apart): setup + data,
   build + load, the dense reference (each metric), pruning (the strategy, the checks), finetuning (training,
   validation), each metric before and after finetuning, save, invariant, the rest; then the report;
3. **growth**: seconds per run in sweep order -- wall, main-thread CPU and the time the thread waited for a core
   (``/proc/thread-self/schedstat``) -- with each one's least-squares slope per run, and process state after
   each run (live Python objects, RSS, engine caches, dispatch/function-mode stacks, global hooks, threads);
   with ``--repeat N`` the sweep's first run again N times in the same process (identical work), the cleanest
   test for something that accumulates. Wall time that grows while CPU time stays flat is the machine (other
   processes on the cores): the waiting column shows it directly.

``--workers`` also runs the sweep as ``shrinkbench bench`` does (default layout: worker processes), fresh cache
and results, and prints its ``seconds`` column in finish order. Times on a shared machine are indicative only:
read the load average printed first, and compare CPU times and ratios rather than wall times.

Usage (repository root, project venv)::

    .venv/bin/python benchmarks/sweep_profile.py                          # README default: lenet-300-100, mnist-5k
    .venv/bin/python benchmarks/sweep_profile.py --mnistnet --repeat 6    # the issue's MnistNet sweep (18 runs)
    .venv/bin/python benchmarks/sweep_profile.py --model mnistnet -s random -c 2 --finetune-epochs 1   # any bench flags
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import io
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SHRINKBENCH = str(Path(sys.executable).parent / "shrinkbench")
MNISTNET = {"model": ["mnistnet"], "strategy": ["global-magnitude", "layer-magnitude", "random"],
            "pretrain_epochs": 10, "finetune_epochs": 5}
"""The issue's sweep: ``shrinkbench bench -m mnistnet -s ... --pretrain-epochs 10 --finetune-epochs 5``."""


# -- timing ---------------------------------------------------------------------------------------------------


def _schedstat() -> tuple[float, float]:
    """(CPU seconds, seconds waiting for a core) of the calling thread, from ``/proc/thread-self/schedstat``."""
    try:
        cpu, wait, _ = Path("/proc/thread-self/schedstat").read_text().split()
        return int(cpu) / 1e9, int(wait) / 1e9
    except (OSError, ValueError):
        return time.thread_time(), math.nan


@dataclass
class RunRecord:
    """One run: its identity, wall / CPU / core-wait seconds, exclusive seconds per phase, state after it."""

    index: int
    run_id: str
    wall: float = 0.0
    cpu: float = 0.0
    wait: float = 0.0
    phases: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    phases_cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    state: dict[str, float] = field(default_factory=dict)


class Recorder:
    """Exclusive wall and CPU seconds (of the whole process: every torch thread) per phase name: a phase's time
    minus that of the phases opened inside it, so the phases of a run add up to the run."""

    def __init__(self) -> None:
        self.runs: list[RunRecord] = []
        self.outside: dict[str, float] = defaultdict(float)
        self.outside_cpu: dict[str, float] = defaultdict(float)
        self.current: RunRecord | None = None
        self.stack: list[list[float]] = []  # [start, cpu start, children's seconds, children's cpu]
        self.names: list[str] = []
        self.repeat_from: int | None = None  # index of the first repeated run

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.stack.append([time.perf_counter(), time.process_time(), 0.0, 0.0])
        self.names.append(name)
        try:
            yield
        finally:
            start, cpu_start, children, children_cpu = self.stack.pop()
            self.names.pop()
            took, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            current = self.current
            (current.phases if current is not None else self.outside)[name] += took - children
            (current.phases_cpu if current is not None else self.outside_cpu)[name] += cpu - children_cpu
            if self.stack:
                self.stack[-1][2] += took
                self.stack[-1][3] += cpu

    def stage(self) -> str:
        """``reference`` inside the dense reference, else the innermost metric stage (``pre``/``post``)."""
        return next((n for n in reversed(self.names) if n in ("reference", "pre", "post")), "post")


def _wrap(patches: list, owner: Any, name: str, label: Callable[..., str], rec: Recorder) -> None:
    """Replace ``owner.name`` by a version timed as phase ``label(*args, **kwargs)``; remembered in ``patches``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with rec.phase(label(*args, **kwargs)):
            return original(*args, **kwargs)

    patches.append((owner, name, original))
    setattr(owner, name, timed)


def _timed_load(spec_class: type, rec: Recorder, label: Callable[[Any], str], patches: list) -> None:
    """``spec_class.load`` returning the loaded callable timed as phase ``label(spec)``."""
    original = spec_class.load

    def load(self: Any) -> Callable[..., Any]:
        fn = original(self)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with rec.phase(label(self)):
                return fn(*args, **kwargs)

        return timed

    patches.append((spec_class, "load", original))
    spec_class.load = load


def _state() -> dict[str, float]:
    """Process state that could carry from one run to the next."""
    import torch
    from torch.nn.modules import module as nn_module

    from shrinkbench.engine import data, run

    hooks = sum(len(value) for n in dir(nn_module) if n.startswith("_global_") and "hook" in n
                and isinstance(value := getattr(nn_module, n), dict))
    rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    usage = resource.getrusage(resource.RUSAGE_SELF)
    state = {"objects": len(gc.get_objects()), "rss_mib": rss, "references": len(run._references),
             "on_device": len(data._on_device), "splits": len(data._splits_cache),
             "dispatch_modes": torch._C._len_torch_dispatch_stack(),
             "function_modes": torch._C._len_torch_function_stack(), "global_hooks": hooks,
             "threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd")),
             "minor_faults": usage.ru_minflt, "major_faults": usage.ru_majflt,
             "grad_enabled": int(torch.is_grad_enabled()), "torch_threads": torch.get_num_threads()}
    if "torch._dynamo" in sys.modules:
        from torch._dynamo.utils import counters

        state["dynamo_graphs"] = int(counters["stats"]["unique_graphs"])
    return state


@contextlib.contextmanager
def instrumented(rec: Recorder, callgrind: Callgrind | None = None) -> Iterator[list]:
    """Wrap the engine's phases (see the module docstring); yields the list of captured :class:`RunWork`.
    With ``callgrind``, each run's instructions are counted and dumped."""
    from shrinkbench.engine import dense, rounds, run, sweep, train
    from shrinkbench.engine.runtime import Runtime
    from shrinkbench.engine.store import ResultsStore
    from shrinkbench.specs import MetricSpec, StrategySpec

    works: list = []
    patches: list = []
    original_execute = run.execute

    def execute(work: Any, task: Any) -> dict[str, Any]:
        works.append(work)
        record = RunRecord(len(rec.runs), work.run.run_id)
        rec.runs.append(record)
        rec.current = record
        if callgrind is not None:
            callgrind.start()
        wall0, (cpu0, wait0) = time.perf_counter(), _schedstat()
        try:
            with rec.phase("other (row, files)"):
                return original_execute(work, task)
        finally:
            cpu1, wait1 = _schedstat()
            if callgrind is not None:
                callgrind.dump(f"run{record.index} {record.run_id}")
            record.wall, record.cpu, record.wait = time.perf_counter() - wall0, cpu1 - cpu0, wait1 - wait0
            rec.current = None
            record.state = _state()

    patches.append((run, "execute", original_execute))
    run.execute = execute
    fixed = {
        (run, "load_data"): "setup + data", (run, "make_loader"): "setup + data", (Runtime, "setup"): "setup + data",
        (run, "build_model"): "build + load", (run, "load_weights"): "build + load", (Runtime, "place"): "build + load",
        (run, "zero_parameters"): "bookkeeping", (run, "schedule_plan"): "bookkeeping",
        (run, "read_state_dict"): "bookkeeping", (run, "dense_reference"): "reference",
        (run, "run_rounds"): "rounds (rest)", (rounds, "prune"): "prune (checks)", (rounds, "train"): "finetune",
        (train, "evaluate"): "finetune: validation", (run, "save_weights"): "save",
        (run, "check_saved_weights"): "invariant", (dense, "make_dense"): "dense (rest)",
        (dense, "train"): "dense training", (dense, "evaluate"): "dense evaluation",
        (ResultsStore, "append"): "driver: append row", (ResultsStore, "initialise"): "driver: store",
        (ResultsStore, "completed"): "driver: store", (ResultsStore, "check_compatible"): "driver: store",
        (sweep, "_missing_dense"): "driver: find dense", (sweep, "_layout"): "driver: layout",
        (sweep, "cached_dense"): "driver: find dense", (sweep, "initial_model"): "driver: initial model",
    }
    for (owner, name), label in fixed.items():
        _wrap(patches, owner, name, lambda *a, _l=label, **k: _l, rec)
    _wrap(patches, run, "measure_all",
          lambda *a, **k: "reference" if rec.stage() == "reference" else ("pre" if k.get("data_only") else "post"), rec)
    _timed_load(MetricSpec, rec, lambda spec: f"{rec.stage()}: {spec.name}", patches)
    _timed_load(StrategySpec, rec, lambda spec: "prune: strategy", patches)
    try:
        yield works
    finally:
        for owner, name, original in reversed(patches):
            setattr(owner, name, original)


# -- the sweep ------------------------------------------------------------------------------------------------


def overrides_of(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """``shrinkbench bench`` settings (setting words -> values) for the chosen sweep."""
    values: dict[str, Any] = dict(MNISTNET) if args.mnistnet else {}
    for key in ("model", "strategy"):
        if getattr(args, key):
            values[key] = getattr(args, key)
    for key in ("pretrain_epochs", "finetune_epochs"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.compression:
        values["compression"] = [float(c) for c in args.compression.split(",")]
    values["out"] = str(out)
    return values


def bench_flags(values: dict[str, Any]) -> list[str]:
    """The same settings as ``shrinkbench bench`` flags."""
    flags: list[str] = []
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if key == "compression":
            flags += [flag, ",".join(f"{c:g}" for c in value)]
        elif isinstance(value, list):
            flags += [x for v in value for x in (flag, str(v))]
        else:
            flags += [flag, str(value)]
    return flags


def profiled_sweep(args: argparse.Namespace, scratch: Path, rec: Recorder,
                   callgrind: Callgrind | None = None) -> dict[str, float]:
    """Run the sweep in this process under :func:`instrumented`; the sweep-level seconds."""
    totals: dict[str, float] = {}
    start = time.perf_counter()
    from shrinkbench.engine import build_sweep_config, resolve, run_sweep
    from shrinkbench.engine.executors import SequentialExecutor
    from shrinkbench.plugins import get_registry

    totals["imports (engine, in this process)"] = time.perf_counter() - start
    out = scratch / "results"
    with rec.phase("resolve"):
        registry = get_registry()
        sweep = resolve(registry, build_sweep_config(registry, args.config, overrides_of(args, out)))
    with instrumented(rec, callgrind) as works:
        started = time.perf_counter()
        outcome = run_sweep(registry, sweep, executor=SequentialExecutor())
        totals["sweep"] = time.perf_counter() - started
        with rec.phase("report"):
            from rich.console import Console

            from shrinkbench_cli.reporting.render import print_report

            print_report(out, Console(file=io.StringIO(), width=140))
        if args.repeat:
            first = works[0]
            from shrinkbench.tasks import TaskContext

            rec.repeat_from = len(rec.runs)
            for k in range(args.repeat):
                work = replace(first, run_dir=str(scratch / f"repeat{k}"))
                work(TaskContext(lambda _event: None))
    totals["layout"] = outcome.layout
    totals["failed"] = len(outcome.failed)
    return totals


# -- instruction counts ---------------------------------------------------------------------------------------

_CALLGRIND_C = r"""
#include <valgrind/callgrind.h>
void sb_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void sb_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); CALLGRIND_STOP_INSTRUMENTATION; }
"""


class Callgrind:
    """Client requests to callgrind from Python (a 2-function C library built with ``gcc`` into ``folder``):
    :meth:`start` zeroes the counters and turns instrumentation on, :meth:`dump` writes the instructions since
    then to a file of its own and turns it off. Outside valgrind both are no-ops."""

    def __init__(self, folder: Path) -> None:
        import ctypes

        source, library = folder / "sbcg.c", folder / "libsbcg.so"
        source.write_text(_CALLGRIND_C)
        subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
        self.lib = ctypes.CDLL(str(library))
        self.lib.sb_dump.argtypes = [ctypes.c_char_p]

    def start(self) -> None:
        self.lib.sb_start()

    def dump(self, name: str) -> None:
        self.lib.sb_dump(name.encode())


def callgrind_totals(prefix: Path) -> list[tuple[str, int]]:
    """(dump reason, instructions) of every dump file ``prefix.<n>`` callgrind wrote, in order."""
    out = []
    for path in sorted(prefix.parent.glob(prefix.name + ".*"), key=lambda p: int(p.suffix[1:] or 0)):
        reason, total = "", 0
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger:"):
                reason = line.split("Client Request:", 1)[-1].strip()
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
        out.append((reason, total))
    return out


def run_callgrind(args: argparse.Namespace) -> None:
    """This script under ``valgrind --tool=callgrind --instr-atstart=no`` on the sweep given (plus ``--repeat``):
    instructions of every run, counted from its start to its end (imports and dense training uninstrumented)."""
    folder = Path(tempfile.mkdtemp(prefix="sb-callgrind-"))
    try:
        inner = [a for a in sys.argv[1:] if a != "--callgrind"]
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={folder}/cg.out",
                   PYTHON, __file__, "--_under-callgrind", str(folder), "--no-startup", *inner]
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
        dumps = [(reason, n) for reason, n in callgrind_totals(folder / "cg.out") if reason.startswith("run")]
        print(f"\n{'#':>3} {'instructions':>15} {'vs first':>9}  run")
        for i, (reason, n) in enumerate(dumps):
            print(f"{i:3d} {n:15,d} {n / dumps[0][1] - 1:+9.3%}  {reason}")
        if len(dumps) >= 3:
            values = [n for _, n in dumps[1:]]
            print(f"slope (runs 1..): {slope(values):+,.0f} instructions/run = "
                  f"{slope(values) / statistics.fmean(values):+.4%} of a run per run")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- start-up -------------------------------------------------------------------------------------------------


_WORKER_IMPORTS = ("import shrinkbench.engine.run, shrinkbench.metrics.flops, shrinkbench.metrics.latency, "
                   "shrinkbench.metrics.memory, shrinkbench.metrics.size, shrinkbench.metrics.accuracy")


def _wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def startup(reps: int) -> list[tuple[str, float, str]]:
    """Subprocess wall times (median of ``reps``) of the start-up steps, with this shell's environment
    (``PYTHONDONTWRITEBYTECODE`` as set: without bytecode every process compiles torch's modules again) and
    with bytecode cached (``PYTHONPYCACHEPREFIX`` in a scratch folder, written by a first untimed run)."""
    lazy = subprocess.run([PYTHON, "-c", "import sys, shrinkbench; print('torch' in sys.modules)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    commands = {
        "import shrinkbench": [PYTHON, "-c", "import shrinkbench"],
        "import torch": [PYTHON, "-c", "import torch"],
        "worker's first-run imports": [PYTHON, "-c", _WORKER_IMPORTS],
        "shrinkbench --help": [SHRINKBENCH, "--help"],
        "2 local workers, 1 task each": [PYTHON, __file__, "--_workers-start"],
    }
    out = []
    cache = Path(tempfile.mkdtemp(prefix="sb-pyc-"))
    try:
        envs = {"as this shell": dict(os.environ),
                "bytecode cached": {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
                                    "PYTHONPYCACHEPREFIX": str(cache)}}
        for env_name, env in envs.items():
            for label, command in commands.items():
                _wall(command, env)  # warm the page cache (and, with the prefix, write the bytecode)
                times = [_wall(command, env) for _ in range(reps)]
                note = f"torch imported: {lazy}" if label == "import shrinkbench" else ""
                out.append((f"{label} ({env_name})", statistics.median(times), note))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


def _first_task_imports(_ctx: Any) -> None:
    import importlib

    for name in _WORKER_IMPORTS.removeprefix("import ").split(", "):
        importlib.import_module(name)


def _workers_start() -> None:
    """Two ``local`` workers started, each running one task that imports what a run imports."""
    from shrinkbench.engine.executors import ProcessExecutor
    from shrinkbench.tasks import Resources, Task

    tasks = [Task(f"t{i}", f"t{i}", _first_task_imports, Resources(1, 0)) for i in range(2)]
    ProcessExecutor(jobs=2).run(tasks, lambda _event: None)


# -- the sweep as the CLI runs it -----------------------------------------------------------------------------


def cli_sweep(args: argparse.Namespace, scratch: Path) -> tuple[float, list[float]]:
    """``shrinkbench bench`` with the same settings, fresh cache and results: wall seconds and the ``seconds``
    column in finish order."""
    import csv

    out = scratch / "cli-results"
    env = {**os.environ, "SHRINKBENCH_CACHE": str(scratch / "cli-cache")}
    values = overrides_of(args, out)
    command = [SHRINKBENCH, "bench", *bench_flags(values), *(["--config", args.config] if args.config else [])]
    took = _wall(command, env)
    with (out / "results.csv").open() as f:
        return took, [float(r["seconds"]) for r in csv.DictReader(f)]


# -- printing -------------------------------------------------------------------------------------------------


def slope(values: list[float]) -> float:
    """Least-squares slope of ``values`` against their index (NaN for fewer than 3)."""
    if len(values) < 3:
        return math.nan
    xs = range(len(values))
    mx, my = statistics.fmean(xs), statistics.fmean(values)
    return sum((x - mx) * (y - my) for x, y in zip(xs, values, strict=True)) / sum((x - mx) ** 2 for x in xs)


_ORDER = ("setup + data", "build + load", "bookkeeping", "reference", "prune: strategy", "prune (checks)",
          "finetune", "finetune: validation", "rounds (rest)", "pre", "post", "save", "invariant",
          "other (row, files)")


def _rank(name: str) -> tuple[int, str]:
    stage = name.split(":")[0]
    for i, prefix in enumerate(_ORDER):
        if name == prefix or (":" in name and stage == prefix and not prefix.startswith(("prune", "finetune"))):
            return i, name
    return len(_ORDER), name


def print_phases(rec: Recorder, runs: list[RunRecord], totals: dict[str, Any]) -> None:
    outside, outside_cpu = rec.outside, rec.outside_cpu
    run_sum, run_cpu = sum(r.wall for r in runs), sum(sum(r.phases_cpu.values()) for r in runs)
    print(f"\nsweep in this process: {totals['sweep']:.1f} s (layout: {totals['layout']}; "
          f"{len(runs)} runs, {totals['failed']} failed)")
    print(f"{'phase':<34} {'wall s':>9} {'cpu s':>9}")
    print(f"{'engine imports (this process)':<34} {totals['imports (engine, in this process)']:9.2f}")
    inside = [k for k in outside if k not in ("resolve", "report")]
    for name in ("resolve", *sorted(inside)):
        print(f"{name:<34} {outside.get(name, 0.0):9.2f} {outside_cpu.get(name, 0.0):9.2f}")
    print(f"{'runs (sum)':<34} {run_sum:9.2f} {run_cpu:9.2f}")
    rest_wall = totals["sweep"] - sum(outside[k] for k in inside) - run_sum
    print(f"{'driver (rest: events, executor)':<34} {rest_wall:9.2f}")
    print(f"{'report':<34} {outside.get('report', 0):9.2f} {outside_cpu.get('report', 0):9.2f}")
    names = sorted({n for r in runs for n in r.phases}, key=_rank)
    rest = runs[1:] or runs
    mean_run = statistics.fmean(r.wall for r in rest)
    mean_cpu = statistics.fmean(sum(r.phases_cpu.values()) for r in rest)
    print(f"\nper run: first run {runs[0].wall:.3f} s (first use of kernels, imports, dense reference); the other "
          f"{len(rest)}: mean {mean_run:.3f} s wall, {mean_cpu:.3f} s cpu; median "
          f"{statistics.median(r.wall for r in rest):.3f} s wall")
    print(f"{'phase':<34} {'first':>8} {'mean':>8} {'median':>8} {'cpu mean':>9} {'cpu share':>9}")
    for name in names:
        values = [r.phases.get(name, 0.0) for r in rest]
        cpu = statistics.fmean(r.phases_cpu.get(name, 0.0) for r in rest)
        print(f"{name:<34} {runs[0].phases.get(name, 0.0):8.4f} {statistics.fmean(values):8.4f} "
              f"{statistics.median(values):8.4f} {cpu:9.4f} {cpu / mean_cpu:9.1%}")


def print_growth(title: str, runs: list[RunRecord]) -> None:
    print(f"\n{title}")
    keys = ["objects", "rss_mib", "references", "on_device", "dispatch_modes", "function_modes", "global_hooks",
            "threads", "fds"]
    print(f"{'#':>3} {'wall':>7} {'cpu':>7} {'wait':>7}  {'run':<44} " + " ".join(f"{k:>9}" for k in keys))
    for i, r in enumerate(runs):
        cells = " ".join(f"{r.state.get(k, math.nan):9.0f}" for k in keys)
        print(f"{i:3d} {r.wall:7.3f} {r.cpu:7.3f} {r.wait:7.3f}  {r.run_id[-44:]:<44} {cells}")
    body = runs[1:]
    if len(body) >= 3:
        mean = statistics.fmean(r.wall for r in body)
        print(f"slope per run (runs 1..): wall {slope([r.wall for r in body]) * 1000:+.2f} ms, cpu "
              f"{slope([r.cpu for r in body]) * 1000:+.2f} ms, waiting {slope([r.wait for r in body]) * 1000:+.2f} ms "
              f"(mean run {mean:.3f} s); objects {slope([r.state['objects'] for r in body]):+.0f}/run, rss "
              f"{slope([r.state['rss_mib'] for r in body]):+.2f} MiB/run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnistnet", action="store_true", help="the issue's MnistNet sweep (18 runs, 10 + 5 epochs)")
    parser.add_argument("--model", "-m", action="append")
    parser.add_argument("--strategy", "-s", action="append")
    parser.add_argument("--compression", "-c")
    parser.add_argument("--pretrain-epochs", type=int)
    parser.add_argument("--finetune-epochs", type=int)
    parser.add_argument("--config", help="a bench --config file (e.g. the original's recipe)")
    parser.add_argument("--repeat", type=int, default=0, help="run the sweep's first run N more times")
    parser.add_argument("--workers", action="store_true", help="also run it as `shrinkbench bench` does")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each start-up measurement")
    parser.add_argument("--no-startup", action="store_true")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--callgrind", action="store_true",
                        help="count each run's instructions under valgrind (slow: use a small sweep)")
    parser.add_argument("--_workers-start", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_under-callgrind", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._workers_start:
        _workers_start()
        return
    if args.callgrind:
        run_callgrind(args)
        return
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(a shared machine: times are indicative; compare CPU and waiting columns)", flush=True)
    results: dict[str, Any] = {}
    if not args.no_startup:
        rows = startup(args.reps)
        print(f"\n{'start-up (subprocess wall, median of ' + str(args.reps) + ')':<58} {'seconds':>8}")
        for label, seconds, note in rows:
            print(f"{label:<58} {seconds:8.2f}  {note}")
        results["startup"] = {label: seconds for label, seconds, _ in rows}
    scratch = Path(tempfile.mkdtemp(prefix="sb-sweep-profile-"))
    os.environ["SHRINKBENCH_CACHE"] = str(scratch / "cache")
    try:
        rec = Recorder()
        callgrind = Callgrind(Path(args._under_callgrind)) if args._under_callgrind else None
        totals = profiled_sweep(args, scratch, rec, callgrind)
        runs = rec.runs[: rec.repeat_from] if rec.repeat_from is not None else rec.runs
        print_phases(rec, runs, totals)
        print_growth("per run in sweep order (s; state after the run)", runs)
        if rec.repeat_from is not None:
            print_growth(f"the first run ({runs[0].run_id}) repeated {args.repeat} times in the same process",
                         rec.runs[rec.repeat_from:])
        results.update(totals=totals, outside=dict(rec.outside), outside_cpu=dict(rec.outside_cpu),
                       runs=[{"run_id": r.run_id, "wall": r.wall, "cpu": r.cpu, "wait": r.wait,
                              "phases": dict(r.phases), "phases_cpu": dict(r.phases_cpu), "state": r.state}
                             for r in rec.runs])
        if args.workers:
            took, seconds = cli_sweep(args, scratch)
            print(f"\nshrinkbench bench (default layout), fresh cache: {took:.1f} s wall; run seconds in finish order:")
            print(" ".join(f"{s:.2f}" for s in seconds))
            print(f"slope {slope(seconds) * 1000:+.1f} ms/run over {len(seconds)} runs "
                  f"(mean {statistics.fmean(seconds):.2f} s)")
            results["cli"] = {"wall": took, "seconds": seconds}
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
