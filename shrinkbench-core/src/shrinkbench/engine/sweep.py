"""A sweep: validate everything up front, train/fetch the dense models, then run every missing
(strategy, compression, seed) combination through an executor and append each row as it finishes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ..errors import IncompatibleError, ShrinkBenchError
from ..plugins import Registry
from .config import RunSpec, SweepConfig
from .dense import build_model, ensure_dense, file_sha256, load_weights
from .executors import Executor, SequentialExecutor
from .run import RunTask, execute, splits_for, torch_threads
from .store import ResultsStore
from .train import EpochLog


class Progress(Protocol):
    """Receives what a sweep is doing (the CLI draws progress bars from it). All methods are optional no-ops
    in :class:`QuietProgress`."""

    def phase(self, text: str, total_epochs: int) -> None: ...
    def epoch(self, log: EpochLog) -> None: ...
    def sweep_started(self, total: int, skipped: int) -> None: ...
    def run_started(self, run: RunSpec, total_epochs: int) -> None: ...
    def run_finished(self, run: RunSpec, row: dict[str, Any]) -> None: ...


class QuietProgress:
    """A :class:`Progress` that shows nothing."""

    def phase(self, text: str, total_epochs: int) -> None: ...
    def epoch(self, log: EpochLog) -> None: ...
    def sweep_started(self, total: int, skipped: int) -> None: ...
    def run_started(self, run: RunSpec, total_epochs: int) -> None: ...
    def run_finished(self, run: RunSpec, row: dict[str, Any]) -> None: ...


@dataclass
class SweepOutcome:
    """What a sweep did: the rows it added, and how many runs were already complete."""

    new_rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0


def validate(registry: Registry, config: SweepConfig, store: ResultsStore) -> SweepConfig:
    """Check every name, compression, the model/dataset pair, the checkpoint and the results directory before
    any work; return the config with the checkpoint's hash filled in. Raises :class:`ShrinkBenchError`."""
    dataset = registry.dataset(config.dataset)
    model = registry.model(config.model)
    for name in config.strategies:
        registry.strategy(name)
    if not config.strategies:
        raise ShrinkBenchError("no strategies to run: install a strategy plugin or pass --strategy")
    for c in config.compressions:
        if not (isinstance(c, (int, float)) and math.isfinite(c)) or c < 1:
            raise ShrinkBenchError(f"compression must be >= 1 (1 = no pruning), got {c:g}; e.g. --compression 1,2,4")
    problem = model.incompatibility(tuple(dataset.input_shape))
    if problem:
        raise IncompatibleError(f"{problem}; pick another --model or --dataset")
    _check_metric_columns(registry)
    if config.checkpoint:
        config = replace(config, checkpoint_sha256=file_sha256(config.checkpoint))
    store.check_compatible(config)
    return config


def _check_metric_columns(registry: Registry) -> None:
    owner: dict[str, str] = {}
    for entry in registry.list("metrics"):
        for column in entry.spec.columns:
            if column in owner:
                raise ShrinkBenchError(
                    f"metrics {owner[column]!r} and {entry.name!r} both produce column {column!r}; disable one plugin"
                )
            owner[column] = entry.name


def run_sweep(
    registry: Registry,
    config: SweepConfig,
    store: ResultsStore,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> SweepOutcome:
    """Run every missing run of ``config`` and append its row to ``store``; return what was added.

    Validation (names, compressions, pairing, checkpoint, directory) and data loading happen before anything
    is written. Runs already in the store are skipped, so an interrupted sweep resumes where it stopped.
    """
    executor = executor or SequentialExecutor()
    progress = progress or QuietProgress()
    config = validate(registry, config, store)
    if config.checkpoint:
        load_weights(build_model(registry, config, 0), config.checkpoint)  # fail now, not in every run
    splits = splits_for(registry, config)  # raises DataNotFoundError before anything is written
    store.initialise(config)

    done = store.completed()
    todo = [r for r in config.runs() if r.run_id not in done]
    outcome = SweepOutcome(skipped=len(config.runs()) - len(todo))
    dense: dict[int, tuple[str, dict]] = {}
    for seed in sorted({r.seed for r in todo}):
        epochs = 0 if config.checkpoint else config.pretrain.epochs
        progress.phase(f"dense {config.model} on {config.dataset}, seed {seed}", epochs)
        with torch_threads(config.threads):
            path, meta = ensure_dense(registry, config, seed, splits, on_epoch=progress.epoch)
        dense[seed] = (str(path), meta)

    progress.sweep_started(len(todo), outcome.skipped)
    tasks = [RunTask(config.to_json(), r, *dense[r.seed], str(store.directory), config.threads) for r in todo]
    run_fn: Callable[[RunTask], dict[str, Any]] = execute
    if isinstance(executor, SequentialExecutor):
        def run_fn(task: RunTask) -> dict[str, Any]:
            progress.run_started(task.run, config.finetune.epochs)
            return execute(task, on_epoch=progress.epoch, registry=registry)

    for task, row in executor.map_unordered(run_fn, tasks):
        store.append(row)
        outcome.new_rows.append(row)
        progress.run_finished(task.run, row)
    return outcome
