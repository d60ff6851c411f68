"""A sweep: resolve everything up front (:mod:`.resolution`), choose the parallel layout (:mod:`.layout`), make
the missing dense models, then run every missing run through an executor, appending each row as it finishes.

The driver (this module) alone writes ``results.csv``; work reports through events (:mod:`.events`), the same
for every executor, and executors get tasks as data (:mod:`shrinkbench.tasks`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from typing import Any

from .. import schema
from ..atomic import check_writable_dir
from ..cache import cache_dir
from ..checkpoints import weights_file
from ..devices import available_memory, cpu_cores, gpu_ids, gpu_memory
from ..errors import ShrinkBenchError
from ..plugins import Registry, remember
from ..tasks import Capacity, ExecutorContext, Resources, Task, TaskLost
from ..values import Options
from .config import SweepConfig
from .dense import WEIGHTS, DenseWork, cached_dense, dense_dir, dense_task_key, initial_model, rewind_file
from .events import DenseDone, DenseFailed, Emit, Event, RunFinished, SweepPlanned, SweepStarted
from .experiment import Experiment, RunSpec
from .layout import Layout, choose_layout
from .resolution import Sweep, resolve
from .run import RunWork, base_row
from .shared_runs import copy_run, split_shared
from .store import ResultsStore

__all__ = ["SweepOutcome", "run_sweep"]


@dataclass
class SweepOutcome:
    """What a sweep did: the rows it added, how many runs were already complete, how many of the runs it ran
    had failed before (retried), and the layout it chose."""

    new_rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    retried: int = 0
    layout: str = ""

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The new rows whose run failed."""
        return [r for r in self.new_rows if r.get(schema.STATUS) != schema.STATUS_OK]


def run_sweep(registry: Registry, config: SweepConfig | Sweep, store: ResultsStore | None = None,
              executor: Any = None, progress: Emit | None = None) -> SweepOutcome:
    """Run every missing run of ``config`` and append its row to the store; return what was added.

    ``config`` is resolved first (every problem at once, before anything is written: names, compressions,
    pairs, weights, data, schedules). ``store`` defaults to the request's results directory, ``executor`` to the
    requested one (``None``: this process for one run at a time, else local worker processes), ``progress``
    receives every :mod:`event <shrinkbench.engine.events>`. Runs that succeeded before are skipped, so an
    interrupted sweep resumes where it stopped; failed and lost runs run again unless ``retry`` is off.
    """
    emit = progress or (lambda _event: None)
    sweep = config if isinstance(config, Sweep) else resolve(registry, config)
    request = sweep.request
    store = store or ResultsStore(sweep.results_dir)
    check_writable_dir(store.directory, "results directory", "choose another --out")
    check_writable_dir(cache_dir(), "cache directory", "set SHRINKBENCH_CACHE to a writable directory")
    store.check_compatible(sweep.experiments)
    for experiment in {e.dense_key(0).digest(): e for e in sweep.experiments if e.initial_weights}.values():
        initial_model(registry, experiment, 0)  # unreadable or unfitting weights fail now, not in every run
    done = store.completed(retry=request.retry)
    todo = [r for r in sweep.runs() if r.run_id not in done]
    outcome = SweepOutcome(skipped=len(sweep.runs()) - len(todo), retried=len(store.failed() & {r.run_id for r in todo}))
    stored = store.ok_rows()
    to_run, copies = split_shared(registry, sweep, todo, stored)
    missing = _missing_dense(sweep, to_run)  # a copy takes its leader's row: it needs no dense model of its own
    local = local_capacity(sweep)
    name = sweep.executor
    layout = None
    if request.executor is None and executor is None:  # this machine: the layout decides the executor
        layout = _layout(sweep, local, len(to_run), len(missing))
        name = "local" if (layout.jobs or 1) > 1 else "sequential"
    spec = registry.executor(name)
    gpus = gpu_ids(sweep.settings.device) if not sweep.remote else ()
    executor = executor or spec.load()(Options(f"executor {name}", dict(request.executor_options), spec.option_names),
                                       ExecutorContext(request.jobs or (layout.jobs if layout else None), gpus,
                                                       local.gpu_memory))
    with contextlib.ExitStack() as started:
        if hasattr(executor, "__enter__"):
            started.enter_context(executor)  # e.g. connect to a cluster: fails before anything is written
        if layout is None:
            capacity = executor.capacity() if hasattr(executor, "capacity") else local
            if sweep.remote and sweep.settings.device.startswith("cuda") and capacity.gpus <= 0:
                raise ShrinkBenchError(f"device {sweep.settings.device!r} was asked for, but executor {name!r} has no "
                                       "GPUs (its nodes advertise none); add GPU nodes or use --device cpu")
            layout = _layout(sweep, capacity, len(to_run), len(missing))
        device = sweep.settings.device
        outcome.layout = layout.describe(device)
        store.initialise(sweep.experiments, {"layout": outcome.layout, "executor": name,
                                             "notes": list(sweep.notes)})
        emit(SweepPlanned(len(todo), outcome.skipped, len(missing), outcome.layout,
                          str(store.directory.resolve()), outcome.retried, len(sweep.experiments)))
        _dispatch(registry, sweep, layout, store, executor, todo, (to_run, copies, stored), missing, outcome, emit)
    return outcome


def _missing_dense(sweep: Sweep, todo: list[RunSpec]) -> dict[str, tuple[Experiment, int]]:
    """The dense models the runs to do need that are not in the cache, by task key."""
    missing: dict[str, tuple[Experiment, int]] = {}
    for run in todo:
        experiment = sweep.experiment(run.experiment)
        if cached_dense(experiment, run.seed) is None:
            missing.setdefault(dense_task_key(experiment, run.seed), (experiment, run.seed))
    return missing


def local_capacity(sweep: Sweep) -> Capacity:
    """What this machine offers the sweep: its cores, and the GPUs of the sweep's device with the memory of the
    smallest (none for a remote executor, whose capacity is its own)."""
    gpus = gpu_ids(sweep.settings.device) if not sweep.remote else ()
    return Capacity(cpu_cores(), len(gpus), gpu_memory(sweep.settings.device) if gpus else None)


def _layout(sweep: Sweep, capacity: Capacity, runs: int, dense: int) -> Layout:
    """The layout for this sweep on ``capacity`` (the largest model's profile decides). The ``sequential``
    executor, named, runs one run at a time with every core as threads; ``--jobs`` above 1 with it is refused."""
    request, settings = sweep.request, sweep.settings
    jobs = request.jobs
    if request.executor == "sequential":
        if jobs is not None and jobs > 1:
            raise ShrinkBenchError(f"--jobs {jobs} with --executor sequential, which runs one run at a time; leave "
                                   "--executor out (or use --executor local) to run several at once")
        jobs = 1
    profile = max(sweep.profiles.values(), key=lambda p: p.run_bytes()) if sweep.profiles else None
    gpu = settings.device.startswith("cuda") or (sweep.remote and settings.device == "auto" and capacity.gpus > 0)
    from .layout import ModelProfile

    return choose_layout(capacity, profile or ModelProfile(0, 0.0, 1), runs, dense, gpu=gpu, remote=sweep.remote,
                         memory=available_memory(), jobs=jobs, threads=request.threads,
                         gpus_per_run=request.gpus_per_run)


def _dispatch(registry: Registry, sweep: Sweep, layout: Layout, store: ResultsStore, executor: Any,
              todo: list[RunSpec], shared: tuple[list[RunSpec], dict[str, list[RunSpec]], dict[str, Any]],
              missing: dict[str, tuple[Experiment, int]], outcome: SweepOutcome, emit: Emit) -> None:
    """Make the missing dense models, then run the missing runs, appending each row as it arrives. ``shared``:
    :func:`~.shared_runs.split_shared`'s runs to execute and copies, and the stored rows it read."""
    remember(registry)
    to_run, copies, stored = shared
    leaders = {r.run_id for r in to_run}
    dense: dict[str, DenseDone] = {}
    dense_errors: dict[str, DenseFailed] = {}
    runs = {r.run_id: r for r in todo}
    finished: set[str] = set()
    run_settings = replace(sweep.settings, threads=layout.threads)

    def record(row: dict[str, Any]) -> None:
        store.append(row)
        outcome.new_rows.append(row)

    def record_copies(leader: RunSpec, row: dict[str, Any]) -> None:
        for run in copies.get(leader.run_id, ()):
            finished.add(run.run_id)
            copied = copy_run(row, store.run_dir(leader.run_id), run, store.run_dir(run.run_id))
            record(copied)
            emit(RunFinished(run.run_id, run, copied))

    def on_event(event: Event) -> None:
        if isinstance(event, DenseDone):
            dense[event.key] = event
        elif isinstance(event, DenseFailed):
            dense_errors[event.key] = event
        elif isinstance(event, RunFinished):
            finished.add(event.key)
            record(event.row)
            emit(event)
            record_copies(event.run, event.row)
            return
        elif isinstance(event, TaskLost) and event.key in runs:
            if event.key in finished:
                return  # a late report of a worker that died after its run had finished: the row stands
            finished.add(event.key)
            run = runs[event.key]
            row = base_row(sweep.experiment(run.experiment), run, run_settings, f"lost: {event.reason}")
            record(row)
            emit(RunFinished(event.key, run, row))
            record_copies(run, row)
        emit(event)

    dense_settings = replace(sweep.settings, threads=layout.dense_threads)
    dense_tasks = [_dense_task(registry, experiment, seed, dense_settings, layout)
                   for experiment, seed in missing.values()]
    executor.run(dense_tasks, on_event)
    emit(SweepStarted(len(todo), outcome.skipped))
    all_runs = {r.run_id: r for r in sweep.runs()}
    for leader_id in copies.keys() - leaders:  # computed before an interruption: its copies take its row now
        record_copies(all_runs[leader_id], stored[leader_id])
    tasks = []
    for run in todo:
        if run.run_id in finished:  # a copy that already took its stored leader's row: nothing left to do
            continue
        experiment = sweep.experiment(run.experiment)
        key = dense_task_key(experiment, run.seed)
        ready = dense.get(key) or cached_dense(experiment, run.seed)
        if ready is None:
            failure = dense_errors.get(key)
            reason = failure.error if failure else "its worker was lost"
            row = base_row(experiment, run, run_settings, f"dense model of seed {run.seed} failed: {reason}")
            if failure and failure.node:
                row[schema.NODE] = failure.node  # where it failed (a driver without the GPU may have sent it there)
            record(row)
            emit(RunFinished(run.run_id, run, row))
        elif run.run_id in leaders:
            tasks.append(_run_task(registry, experiment, run, run_settings, ready, store, layout))
    executor.run(tasks, on_event)


def _dense_task(registry: Registry, experiment: Experiment, seed: int, settings: Any, layout: Layout) -> Task:
    unit = str(dense_dir(experiment, seed))
    weights = experiment.checkpoint or experiment.pretrained
    path = weights_file(weights, "") if weights else None
    work = DenseWork(experiment, seed, settings, registry.plugin_set, unit)
    label = f"dense {experiment.model} on {experiment.dataset}, seed {seed + experiment.dense_seed_offset}"
    return Task(dense_task_key(experiment, seed), label, work, Resources(layout.dense_threads, layout.gpus_per_run),
                inputs=(str(path),) if path is not None else (), outputs=(unit,))


def _run_task(registry: Registry, experiment: Experiment, run: RunSpec, settings: Any, dense: DenseDone,
              store: ResultsStore, layout: Layout) -> Task:
    run_dir = str(store.run_dir(run.run_id).resolve())
    reference = registry.model(experiment.model).reference(experiment.dataset)
    work = RunWork(experiment, run, settings, dense, run_dir, registry.plugin_set, reference,
                   registry.task(experiment.task).primary)
    inputs = (f"{dense.path}/{WEIGHTS}", *(str(rewind_file(dense.path, e)) for e in experiment.rewind_epochs))
    return Task(run.run_id, work.label, work, Resources(layout.threads, layout.gpus_per_run), inputs=inputs,
                outputs=(run_dir,))
