"""A sweep: validate everything up front, make the missing dense models, then run every missing
(strategy, compression, seed) combination through an executor, appending each row as it finishes.

The driver (this module) alone writes ``results.csv``; work reports through events (:mod:`.events`), the same
for every executor.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import schema
from ..atomic import check_writable_dir
from ..cache import cache_dir
from ..checkpoints import weights_file
from ..devices import auto_threads, gpu_indices, resolve_device
from ..errors import CompressionError, IncompatibleError, ShrinkBenchError
from ..metrics.collect import check_metric_columns
from ..plugins import Registry, remember
from ..pruning import prunable_parameters, weights_to_keep
from .config import RunSpec, SweepConfig
from .dense import DenseTask, build_model, cached_dense, file_sha256, initial_model, load_data
from .events import (
    DenseDone,
    DenseFailed,
    Emit,
    Event,
    RunDone,
    RunFailed,
    RunFiles,
    SweepPlanned,
    SweepStarted,
    TaskLost,
)
from .executors import Executor, ExecutorContext, create_executor
from .run import RunTask, base_row
from .store import ResultsStore

__all__ = ["SweepOutcome", "resolve_runtime", "run_sweep", "validate"]


@dataclass
class SweepOutcome:
    """What a sweep did: the rows it added, and how many runs were already complete."""

    new_rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The new rows whose run failed."""
        return [r for r in self.new_rows if r.get(schema.STATUS) != schema.STATUS_OK]


def validate(registry: Registry, config: SweepConfig) -> SweepConfig:
    """Check every name, compression, the model/dataset pair, the metric columns, the device and the initial
    weights before any work; return the config resolved for this machine: a concrete device, thread and worker
    counts, evaluation batch size, and the weights files' hashes. Raises :class:`ShrinkBenchError`."""
    config = resolve_runtime(config)
    dataset = registry.dataset(config.dataset)
    model = registry.model(config.model)
    if not config.strategies:
        raise ShrinkBenchError("no strategies to run: install a strategy plugin or pass --strategy")
    for name in config.strategies:
        registry.strategy(name)
    for c in config.compressions:
        if not (isinstance(c, (int, float)) and c == c and c != float("inf")) or c < 1:
            raise CompressionError(f"compression must be a finite number >= 1 (1 = no pruning), got {c:g}; "
                                   "e.g. --compression 1,2,4")
    problem = model.incompatibility(tuple(dataset.input_shape))
    if problem:
        raise IncompatibleError(f"{problem}; pick another --model or --dataset")
    check_reachable(registry, config)
    check_metric_columns(registry)
    if not registry.list("executors"):
        raise ShrinkBenchError("no executor is registered: this registry was built without core's plugins; add "
                               "('core-engine', shrinkbench.engine.plugin) to load_registry(inline=...)")
    registry.executor(config.executor_name)
    config = check_schedules(registry, config)
    if config.checkpoint:
        if not Path(config.checkpoint).expanduser().is_file():
            raise ShrinkBenchError(f"cannot read checkpoint {config.checkpoint}: no such file; pass the path of a dense "
                                   "state dict (.pt/.pth/.safetensors), or --pretrained for a pretrained tag")
        config = replace(config, checkpoint_sha256=file_sha256(config.checkpoint))
    if config.pretrained:
        path = weights_file(config.pretrained, "pass the path of a local state dict or a pretrained tag")
        config = replace(config, pretrained_sha256=file_sha256(path) if path is not None else None)
    return config


def check_reachable(registry: Registry, config: SweepConfig) -> None:
    """Build the model once (its plugin checks that it takes the dataset's inputs) and raise
    :class:`CompressionError`, with the highest reachable compression, for a target the model cannot reach."""
    model = build_model(registry, config, 0)
    prunable = prunable_parameters(model, include_classifier=config.include_classifier)
    for compression in config.compressions:
        try:
            weights_to_keep(model, prunable, compression)
        except CompressionError as exc:
            raise CompressionError(f"model {config.model!r}: {exc}") from None


def check_schedules(registry: Registry, config: SweepConfig) -> SweepConfig:
    """Check the schedules and their options (each option must be one a chosen schedule declares); return
    the config with the dense epochs that rewinding will need (``rewind_epochs``)."""
    specs = [registry.schedule(name) for name in config.schedules]
    declared = {option for spec in specs for option, _ in spec.options}
    for key, _ in config.schedule_options:
        if key not in declared:
            close = difflib.get_close_matches(key, sorted(declared), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(declared)) or 'none'}"
            raise ShrinkBenchError(f"no chosen schedule ({', '.join(config.schedules)}) takes option {key!r}; {hint}")
    structured = [name for name in config.strategies if registry.strategy(name).structured]
    if structured and "gradual" in config.schedules:
        raise ShrinkBenchError(f"the gradual schedule prunes during training, which structured strategies "
                               f"({', '.join(structured)}) cannot: removing channels replaces the layers the "
                               "optimizer updates; use oneshot or iterative with them")
    rewind: set[int] = set()
    for spec in specs:
        with registry.blame("schedules", spec.name):
            plan = spec.load()(dict(config.schedule_options))(2.0, config.finetune.epochs, 1, 100, 50)
        if plan.rewind_epoch is not None:
            rewind.add(plan.rewind_epoch)
    if rewind and config.checkpoint and rewind != {0}:
        raise ShrinkBenchError("rewinding to a pretraining epoch needs the dense pretraining run, not --checkpoint")
    too_late = [e for e in rewind if e > config.pretrain.epochs]
    if too_late:
        raise ShrinkBenchError(f"rewind_epoch {too_late[0]} is after the last pretraining epoch "
                               f"({config.pretrain.epochs}); choose one from 0 to {config.pretrain.epochs}")
    return replace(config, rewind_epochs=tuple(sorted(rewind)))


def resolve_runtime(config: SweepConfig) -> SweepConfig:
    """``config`` with ``auto`` settings decided for this machine: the device (an unavailable one raises a
    one-line :class:`ShrinkBenchError`), torch threads (cores / jobs), DataLoader workers (min(8, cores /
    jobs)) and the evaluation batch size (1024 on CUDA, else 256)."""
    device = resolve_device(config.device)
    return replace(
        config,
        device=device,
        threads=config.threads or auto_threads(config.jobs),
        workers=config.workers if config.workers is not None else min(8, auto_threads(config.jobs)),
        eval_batch_size=config.eval_batch_size or (1024 if device.startswith("cuda") else 256),
    )


def run_sweep(
    registry: Registry,
    config: SweepConfig,
    store: ResultsStore | None = None,
    executor: Executor | None = None,
    progress: Emit | None = None,
) -> SweepOutcome:
    """Run every missing run of ``config`` and append its row to the store; return what was added.

    ``store`` defaults to ``config.results_dir``, ``executor`` to ``config.jobs`` local processes (one: this
    process; on CUDA the workers are spread over the GPUs), ``progress`` receives every :mod:`event <shrinkbench.engine.events>`. Validation (names,
    compressions, pairing, weights, directory) and data loading happen before anything is written. Runs
    already in the store are skipped, so an interrupted sweep resumes where it stopped.
    """
    emit = progress or (lambda _event: None)
    config = validate(registry, config)
    context = ExecutorContext(config.jobs, gpu_indices(config.device), config.threads or 1, config.device)
    executor = executor or create_executor(registry.executor(config.executor_name), dict(config.executor_options),
                                           context)
    store = store or ResultsStore(config.results_dir)
    check_writable_dir(store.directory, "results directory", "choose another --out")
    check_writable_dir(cache_dir(), "cache directory", "set SHRINKBENCH_CACHE to a writable directory")
    store.check_compatible(config)
    if config.checkpoint or config.pretrained:
        initial_model(registry, config, 0)  # unreadable or unfitting weights fail now, not in every run
    load_data(registry, config)  # missing data: now
    with contextlib.ExitStack() as started:
        if hasattr(executor, "__enter__"):
            started.enter_context(executor)  # e.g. connect to a cluster: fails before anything is written
        store.initialise(config)
        return _dispatch(registry, config, store, executor, emit)


def _dispatch(registry: Registry, config: SweepConfig, store: ResultsStore, executor: Executor,
              emit: Emit) -> SweepOutcome:
    """Make the missing dense models, then run the missing runs, appending each row as it arrives."""
    remember(registry)
    out_dir = str(store.directory.resolve())

    done = store.completed()
    todo = [r for r in config.runs() if r.run_id not in done]
    outcome = SweepOutcome(skipped=len(config.runs()) - len(todo))
    dense: dict[int, DenseDone | None] = {seed: cached_dense(config, seed) for seed in sorted({r.seed for r in todo})}
    dense_errors: dict[int, str] = {}
    runs_by_key: dict[str, RunSpec] = {r.run_id: r for r in todo}

    def record(row: dict[str, Any]) -> None:
        store.append(row)
        outcome.new_rows.append(row)

    def on_event(event: Event) -> None:
        if isinstance(event, DenseDone):
            dense[event.seed] = event
        elif isinstance(event, DenseFailed):
            dense_errors[event.seed] = event.error
        elif isinstance(event, (RunDone, RunFailed)):
            record(event.row)
        elif isinstance(event, RunFiles):
            store.write_run_files(event.run_id, event.files)
        elif isinstance(event, TaskLost) and event.key in runs_by_key:
            run = runs_by_key[event.key]
            row = base_row(config, run, f"lost: {event.reason}")
            record(row)
            emit(RunFailed(event.key, run, row))
        emit(event)

    dense_tasks = [DenseTask(config, seed, registry.plugin_set) for seed, d in dense.items() if d is None]
    emit(SweepPlanned(len(todo), outcome.skipped, len(dense_tasks), config.device, config.threads or 1, out_dir))
    executor.run(dense_tasks, on_event)
    emit(SweepStarted(len(todo), outcome.skipped))
    tasks = []
    for run in todo:
        ready = dense.get(run.seed)
        if ready is None:
            reason = dense_errors.get(run.seed, "its worker was lost")
            row = base_row(config, run, f"dense model of seed {run.seed} failed: {reason}")
            record(row)
            emit(RunFailed(run.run_id, run, row))
        else:
            tasks.append(RunTask(config, run, ready, out_dir, registry.plugin_set))
    executor.run(tasks, on_event)
    return outcome
