"""One run: dense weights -> the schedule's prune / finetune rounds (:mod:`.rounds`) -> metrics before the
last finetuning and at the end -> the run's row and directory.

A run is a pure function of its :class:`RunTask`, so it executes in this process, a worker process or on
another machine and gives the same row. Anything that goes wrong inside it -- a plugin that raises, masks
that do not fit, a loss that diverges -- becomes a ``failed`` row naming the cause; the sweep goes on.
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from .. import schema
from ..checkpoints import read_state_dict
from ..devices import device_name
from ..metrics.collect import measure_all
from ..plugins import PluginSet, Registry, registry_for
from ..pruning import count_parameters, prunable_parameters
from ..threads import torch_threads
from .config import RunSpec, SweepConfig
from .data import make_loader
from .dense import build_model, describe, load_data, load_weights, save_weights
from .events import DenseDone, Emit, EpochDone, EpochLog, RunDone, RunFailed, RunFiles, TaskStarted
from .rounds import run_rounds
from .runtime import Runtime
from .schedules import SchedulePlan
from .store import ResultsStore, read_run_files
from .train import recipe_loss

__all__ = ["RunTask", "base_row", "execute", "schedule_plan"]


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

    @property
    def label(self) -> str:
        """How progress bars name the run."""
        method = self.run.strategy if self.run.schedule == "oneshot" else f"{self.run.strategy} {self.run.schedule}"
        return f"{method} x{self.run.compression:g} seed {self.run.seed}"

    def __call__(self, emit: Emit) -> dict[str, Any]:
        """Carry out the run; emit its start, its epochs and :class:`RunDone` or :class:`RunFailed`."""
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
        schema.STRATEGY: run.strategy, schema.SCHEDULE: run.schedule, schema.SEED: run.seed,
        schema.TARGET: run.compression,
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
    runtime = Runtime.of(config)
    try:
        with runtime.watch_determinism() as nondeterministic:
            model = _run(task, runtime, row, epochs, emit)
        row[schema.DETERMINISTIC] = config.deterministic and not nondeterministic
        if nondeterministic:
            notes = [row[schema.ERROR]] if row[schema.ERROR] else []
            row[schema.ERROR] = "; ".join([*notes, f"not deterministic: {', '.join(nondeterministic)} "
                                                   "have no deterministic implementation"])
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


def _run(task: RunTask, runtime: Runtime, row: dict[str, Any], epochs: list[EpochLog], emit: Emit) -> torch.nn.Module:
    """The run itself, filling ``row`` and ``epochs``; returns the finished model."""
    config, run = task.config, task.run
    registry = registry_for(task.plugins)
    runtime.setup()
    row[schema.DEVICE] = device_name(config.device)
    row[schema.TF32] = runtime.uses_tf32
    spec = registry.dataset(config.dataset)
    splits = load_data(registry, config)
    model = runtime.place(load_weights(build_model(registry, config, run.seed), task.dense.path))
    dense_model = copy.deepcopy(model)
    test_loader = evaluation_loader(config, splits.test, runtime)
    example = next(iter(test_loader))[0][:1]
    loss_fn = recipe_loss(config.finetune)

    def loader():
        return make_loader(splits.train, config.finetune.batch_size, True, run.seed, runtime.torch_device,
                           spec.augmented, config.workers or 0, drop_last=config.compile)

    plan = schedule_plan(registry, config, run, model, len(loader()))
    row[schema.FINETUNE_EPOCHS] = plan.total_epochs
    emit(TaskStarted(task.key, task.label, plan.total_epochs))
    notes: list[str] = []

    def measure_pre(pruned) -> None:
        pre = measure_all(registry, pruned, example, test_loader, data_only=True, loss_fn=loss_fn,
                          reference=dense_model)
        row.update({schema.pre(k): v for k, v in pre.values.items()})
        notes.extend(pre.notes)

    def record(log: EpochLog) -> None:
        epochs.append(log)
        emit(EpochDone(task.key, log))

    torch.manual_seed(run.seed)
    val_loader = evaluation_loader(config, splits.val, runtime) if splits.val is not None else None
    result = run_rounds(registry, config, run, model, splits, runtime, plan, rewind_state(task, plan),
                        loader, val_loader, measure_pre, record)
    model = result.model
    post = measure_all(registry, model, example, test_loader, loss_fn=loss_fn, reference=dense_model,
                       autocast=runtime.autocast)
    row.update(post.values)
    row[schema.SELECTED_EPOCH] = result.selected_epoch
    if result.compile_seconds is not None:
        row[schema.COMPILE_SECONDS] = round(result.compile_seconds, 3)
    if epochs and epochs[-1].val_top1 is not None:
        row[schema.VAL_TOP1] = next(e.val_top1 for e in epochs if e.epoch == result.selected_epoch)
    row[schema.ERROR] = "; ".join(result.notes + notes + post.notes)
    return model


def schedule_plan(registry: Registry, config: SweepConfig, run: RunSpec, model: torch.nn.Module,
                  steps_per_epoch: int) -> SchedulePlan:
    """The rounds the run's schedule plans for its target, the finetuning recipe and the model's sizes."""
    spec = registry.schedule(run.schedule)
    prunable = prunable_parameters(model, include_classifier=config.include_classifier)
    with registry.blame("schedules", spec.name):
        plan = spec.load()(dict(config.schedule_options))
        return plan(run.compression, config.finetune.epochs, steps_per_epoch, count_parameters(model),
                    sum(p.numel() for p in prunable.values()))


def rewind_state(task: RunTask, plan: SchedulePlan) -> dict[str, torch.Tensor] | None:
    """The dense run's weights at the plan's rewind epoch (``None`` when it does not rewind)."""
    if plan.rewind_epoch is None:
        return None
    path = task.dense.meta.get("rewind", {}).get(str(plan.rewind_epoch))
    return read_state_dict(path) if path else None


def evaluation_loader(config: SweepConfig, dataset, runtime: Runtime):
    """Unshuffled batches of an evaluation split on the run's device."""
    return make_loader(dataset, config.eval_batch_size or 256, False, 0, runtime.torch_device, False, config.workers or 0)
