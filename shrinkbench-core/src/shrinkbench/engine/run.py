"""One run: dense weights -> masks -> metrics before finetuning -> finetune with masks enforced -> metrics.

A run is a pure function of its :class:`RunTask`, so it executes in this process, a worker process or on
another machine and gives the same row. Anything that goes wrong inside it -- a plugin that raises, masks
that do not fit, a loss that diverges -- becomes a ``failed`` row naming the cause; the sweep goes on.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from .. import schema
from ..devices import device_name
from ..errors import CompressionError
from ..masking import MaskedModel, apply_masks, validate_masks
from ..metrics.collect import measure_all
from ..plugins import PluginSet, Registry, registry_for
from ..pruning import count_parameters, make_context, weights_to_keep
from ..threads import torch_threads
from .config import RunSpec, SweepConfig
from .data import Splits, make_loader
from .dense import build_model, describe, load_data, load_weights, save_weights
from .events import DenseDone, Emit, EpochDone, EpochLog, RunDone, RunFailed, RunFiles, TaskStarted
from .runtime import Runtime
from .store import ResultsStore, read_run_files
from .train import recipe_loss, train

__all__ = ["RunTask", "base_row", "execute", "prune"]


@dataclass(frozen=True)
class RunTask:
    """Everything one run needs (picklable): the sweep, the run, its dense model, where results go and
    which plugins to use."""

    config: SweepConfig
    run: RunSpec
    dense: DenseDone
    out_dir: str
    plugins: PluginSet
    send_files: bool = False
    """Emit the run directory's files (:class:`RunFiles`) instead of writing them into ``out_dir``: for workers
    that do not share the results directory's file system."""

    @property
    def key(self) -> str:
        """The run id."""
        return self.run.run_id

    def __call__(self, emit: Emit) -> dict[str, Any]:
        """Carry out the run; emit its start, its epochs and :class:`RunDone` or :class:`RunFailed`."""
        emit(TaskStarted(self.key, f"{self.run.strategy} x{self.run.compression:g} seed {self.run.seed}",
                         self.config.finetune.epochs))
        row = execute(self, emit)
        emit((RunDone if row[schema.STATUS] == schema.STATUS_OK else RunFailed)(self.key, self.run, row))
        return row


def execute(task: RunTask, emit: Emit | None = None) -> dict[str, Any]:
    """Carry out one run with the task's thread count, write its directory, and return its result row."""
    with torch_threads(task.config.threads):
        return _execute(task, emit or (lambda _event: None))


def base_row(config: SweepConfig, run: RunSpec, error: str = "") -> dict[str, Any]:
    """The identity columns of a run's row; with ``error``, the whole row of a run that failed before starting."""
    return {
        schema.RUN_ID: run.run_id, schema.DATASET: config.dataset, schema.MODEL: config.model,
        schema.STRATEGY: run.strategy, schema.SEED: run.seed, schema.TARGET: run.compression,
        schema.STATUS: schema.STATUS_FAILED if error else schema.STATUS_OK, schema.ERROR: error,
        schema.DEVICE: config.device, schema.PRECISION: config.precision, schema.THREADS: config.threads,
    }


def _execute(task: RunTask, emit: Emit) -> dict[str, Any]:
    config, run = task.config, task.run
    started = time.perf_counter()
    row = base_row(config, run)
    row[schema.DENSE_TOP1] = task.dense.meta.get("dense_top1", math.nan)
    epochs: list[EpochLog] = []
    model = None
    try:
        registry = registry_for(task.plugins)
        runtime = Runtime.of(config)
        runtime.setup()
        row[schema.DEVICE] = device_name(config.device)
        spec = registry.dataset(config.dataset)
        splits = load_data(registry, config)
        model = runtime.place(load_weights(build_model(registry, config, run.seed), task.dense.path))
        test_loader = evaluation_loader(config, splits.test, runtime)
        example = next(iter(test_loader))[0][:1]
        loss_fn = recipe_loss(config.finetune)
        masked = prune(registry, config, run, model, splits, runtime)
        pre = measure_all(registry, model, example, test_loader, data_only=True, loss_fn=loss_fn)
        row.update({schema.pre(k): v for k, v in pre.values.items()})
        torch.manual_seed(run.seed)
        loader = make_loader(splits.train, config.finetune.batch_size, True, run.seed, runtime.torch_device,
                             spec.augmented, config.workers or 0, drop_last=config.compile)
        val_loader = evaluation_loader(config, splits.val, runtime) if splits.val is not None else None

        def record(log: EpochLog) -> None:
            epochs.append(log)
            emit(EpochDone(task.key, log))

        result = train(model, config.finetune, loader, val_loader, masked,
                       select_best_val=config.selection == "best-val", on_epoch=record, runtime=runtime)
        model = masked.remove()
        post = measure_all(registry, model, example, test_loader, loss_fn=loss_fn)
        row.update(post.values)
        row[schema.SELECTED_EPOCH] = result.selected_epoch
        if result.compile_seconds is not None:
            row[schema.COMPILE_SECONDS] = round(result.compile_seconds, 3)
        if epochs and epochs[-1].val_top1 is not None:
            row[schema.VAL_TOP1] = next(e.val_top1 for e in epochs if e.epoch == result.selected_epoch)
        row[schema.ERROR] = "; ".join(result.notes + pre.notes + post.notes)
    except Exception as exc:  # noqa: BLE001 - any failure inside a run is that run's failed row
        row.update({schema.STATUS: schema.STATUS_FAILED, schema.ERROR: describe(exc)})
        model = None
    row[schema.SECONDS] = round(time.perf_counter() - started, 3)
    weights = model
    files = ({"sweep": config.to_json(), "run": asdict(run)}, row, [asdict(e) for e in epochs],
             (lambda path: save_weights(weights, path)) if weights is not None else None)
    if not task.send_files:
        ResultsStore(task.out_dir).save_run(run.run_id, *files)
        return row
    with tempfile.TemporaryDirectory() as scratch:
        written = ResultsStore(scratch).save_run(run.run_id, *files)
        emit(RunFiles(task.key, run.run_id, read_run_files(written)))
    return row


def evaluation_loader(config: SweepConfig, dataset, runtime: Runtime):
    """Unshuffled batches of an evaluation split on the run's device."""
    return make_loader(dataset, config.eval_batch_size or 256, False, 0, runtime.torch_device, False, config.workers or 0)


def prune(registry: Registry, config: SweepConfig, run: RunSpec, model: torch.nn.Module, splits: Splits,
          runtime: Runtime) -> MaskedModel:
    """Compute the strategy's masks on the dense model (training batches on the run's device), check them and
    apply them (returns the MaskedModel)."""
    spec = registry.strategy(run.strategy)
    batch_loader = make_loader(splits.train, config.finetune.batch_size, True, run.seed, runtime.torch_device,
                               registry.dataset(config.dataset).augmented, config.workers or 0)

    def batches():
        return iter(batch_loader)

    ctx = make_context(model, run.compression, seed=run.seed, batches=batches,
                       include_classifier=config.include_classifier, loss_fn=recipe_loss(config.finetune))
    torch.manual_seed(run.seed)
    with registry.blame("strategies", spec.name):
        masks = spec.load()(ctx)
    validate_masks(model, masks, expected=set(ctx.prunable), source=f"strategy {spec.name!r}")
    check_target(model, ctx.prunable, masks, run.compression, f"strategy {spec.name!r}")
    return apply_masks(model, masks)


def check_target(model: torch.nn.Module, prunable: dict, masks: dict, compression: float, who: str) -> None:
    """Raise :class:`CompressionError` when ``masks`` keep more or fewer weights than ``compression`` needs,
    beyond a tolerance for ties (5 weights, or 0.1% of the prunable weights if more)."""
    want = weights_to_keep(model, prunable, compression)
    kept = sum(int(m.count_nonzero()) for m in masks.values())
    total = count_parameters(model)
    n_prunable = sum(p.numel() for p in prunable.values())
    tolerance = max(5, n_prunable // 1000)
    if abs(kept - want) > tolerance:
        achieved = total / (total - n_prunable + kept) if total - n_prunable + kept else math.inf
        raise CompressionError(f"{who} achieved {achieved:.2f}x for target {compression:g}x: it keeps {kept:,} of "
                               f"{n_prunable:,} prunable weights, {want:,} expected (tolerance {tolerance:,})")
