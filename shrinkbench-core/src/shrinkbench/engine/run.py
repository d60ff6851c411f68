"""One run: dense weights -> the reference measurements of the dense model -> the schedule's prune / train
rounds (:mod:`.rounds`) -> metrics right after the last pruning and at the end -> the run's directory and row,
checked against the invariant of :mod:`.invariant`.

A run trains one model: the dense model's own measurements that metrics compare against (parameters, MACs,
...) are taken on it before pruning, then it is pruned in place; for the final measurements the dense weights
are loaded again beside it, so that latency times the two as interleaved pairs (the whole run counts as work
that another run's latency measurement pauses: :mod:`shrinkbench.measuring`). A run is a pure function of its
:class:`RunWork`, so it executes in this process, a worker process or on another machine and gives the same
row. Anything that goes wrong inside it -- a plugin that raises, masks that do not fit, a loss that diverges,
weights that are not what the row says -- becomes a ``failed`` row naming the cause; the sweep goes on.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from .. import measuring, schema
from ..atomic import atomic_dir
from ..checkpoints import read_state_dict
from ..devices import device_name
from ..environment import choose_device
from ..errors import one_line
from ..metrics.collect import measure_all
from ..metrics.latency import BAND_NOTE, MASK_BAND, outside_mask_band
from ..plans import ScheduleContext, SchedulePlan
from ..plugins import PluginSet, Registry, registry_for
from ..pruning import count_parameters, prunable_parameters
from ..specs import Reference
from ..tasks import NODE_VAR, TaskContext, this_node
from ..threads import torch_threads
from .context import RunContext
from .data import make_loader
from .dense import WEIGHTS, build_model, load_data, load_weights, rewind_file, save_weights
from .events import DenseDone, RunFinished, TaskStarted
from .experiment import Experiment, RunSpec
from .invariant import Expectation, check_saved_weights, zero_parameters
from .rounds import run_rounds
from .runtime import RunSettings, Runtime
from .store import csv_text
from .tasking import eval_batch_size, task_of
from .train import recipe_loss

__all__ = ["NODE_VAR", "RunWork", "base_row", "schedule_plan"]



@dataclass(frozen=True)
class RunWork:
    """Everything one run needs (picklable): its experiment and identity, how it executes, its dense model,
    the run directory to write (a driver path), which plugins to use, the published accuracy of its dense
    model (:class:`shrinkbench.Reference`), if the model declares one for the dataset, and the primary metric
    of its task (which names the ``dense_<metric>`` and ``val_<metric>`` columns)."""

    experiment: Experiment
    run: RunSpec
    settings: RunSettings
    dense: DenseDone
    run_dir: str
    plugins: PluginSet
    reference: Reference | None = None
    primary: str = schema.TOP1


    @property
    def label(self) -> str:
        """How progress bars name the run."""
        method = self.run.strategy if self.run.schedule == "oneshot" else f"{self.run.strategy} {self.run.schedule}"
        return f"{method} x{self.run.compression:g} seed {self.run.seed}"

    def __call__(self, ctx: TaskContext) -> dict[str, Any]:
        """Carry out the run with its threads, write its directory, emit :class:`RunFinished`. The run counts as
        working on this machine (:func:`shrinkbench.measuring.working`): another run's latency measurement waits
        until it pauses between two steps."""
        with measuring.working(), torch_threads(self.settings.threads):
            row = execute(self, ctx)
        ctx.emit(RunFinished(self.run.run_id, self.run, row))
        return row


def base_row(experiment: Experiment, run: RunSpec, settings: RunSettings, error: str = "") -> dict[str, Any]:
    """The identity columns of a run's row; with ``error``, the whole row of a run that failed before starting."""
    return {
        schema.RUN_ID: run.run_id, schema.DATASET: experiment.dataset, schema.MODEL: experiment.model,
        schema.VARIANT: experiment.variant, schema.STRATEGY: run.strategy, schema.SCHEDULE: run.schedule,
        schema.SEED: run.seed, schema.TARGET: run.compression,
        schema.STATUS: schema.STATUS_FAILED if error else schema.STATUS_OK, schema.ERROR: error, schema.NOTES: "",
        schema.LATENCY_NOTE: "",
        schema.DEVICE: settings.device, schema.PRECISION: experiment.precision, schema.THREADS: settings.threads,
        schema.DEVICE_REASON: settings.device_reason,
    }


def compare_to_reference(row: dict[str, Any], reference: Reference) -> list[str]:
    """Fill the row's reference columns from ``reference``; a note when the dense model is below it by more
    than its tolerance (its rows do not compare with published results)."""
    dense = row.get(schema.DENSE_TOP1, math.nan)
    below = not (dense >= reference.top1 - reference.tolerance)  # a missing (NaN) dense accuracy counts as below
    row.update({schema.REFERENCE_TOP1: reference.top1, schema.REFERENCE_SOURCE: reference.source,
                schema.BELOW_REFERENCE: below})
    if not below:
        return []
    return [f"dense model below its reference: top-1 {dense:.4f} vs {reference.top1:.4f} - {reference.tolerance:g} "
            f"({reference.source}); these results do not compare with published ones"]


def execute(work: RunWork, task: TaskContext) -> dict[str, Any]:
    """Carry out one run, write its directory and return its row (``failed`` on any error, the invariant
    included)."""
    started = time.perf_counter()
    row = base_row(work.experiment, work.run, work.settings)
    row[schema.NODE] = this_node()  # also when the run's device does not resolve here
    primary = work.primary
    row[schema.dense(primary)] = work.dense.meta.get(schema.dense(primary), math.nan)
    notes: list[str] = []
    if work.reference is not None:
        notes.extend(compare_to_reference(row, work.reference))
    epochs: list[Any] = []
    outcome = None
    try:
        runtime = Runtime.of(work.experiment, work.settings)
        with runtime.watch_determinism() as nondeterministic:
            outcome = _run(work, task, runtime, row, notes, epochs)
        row[schema.DETERMINISTIC] = work.settings.deterministic and not nondeterministic
        if nondeterministic:
            notes.append(f"not deterministic: {', '.join(nondeterministic)} have no deterministic implementation")
    except Exception as exc:  # noqa: BLE001 - any failure inside a run is that run's failed row
        row.update({schema.STATUS: schema.STATUS_FAILED, schema.ERROR: one_line(exc)})
        outcome = None
    row[schema.NOTES] = "; ".join(notes)
    with atomic_dir(task.local(work.run_dir)) as tmp:
        if outcome is not None:
            model, spec, expectation = outcome
            save_weights(model, tmp / WEIGHTS)
            shortfall = check_saved_weights(tmp / WEIGHTS, model, spec, expectation, row.get(schema.COMPRESSION, math.nan))
            if shortfall:
                row.update({schema.STATUS: schema.STATUS_FAILED, schema.ERROR: shortfall})
        row[schema.SECONDS] = round(time.perf_counter() - started, 3)
        config = {"experiment": asdict(work.experiment), "run": asdict(work.run), "settings": asdict(work.settings)}
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str))
        (tmp / "metrics.json").write_text(json.dumps(row, indent=2, default=str))
        (tmp / "log.csv").write_text(csv_text([asdict(e) for e in epochs]))
    return row


def _run(work: RunWork, task: TaskContext, runtime: Runtime, row: dict[str, Any], notes: list[str],
         epochs: list[Any]) -> tuple[torch.nn.Module, Any, Expectation]:
    """The run itself, filling ``row``, ``notes`` and ``epochs``; returns the finished model, the strategy and
    what the invariant must find in the saved weights."""
    experiment, run = work.experiment, work.run
    registry = registry_for(work.plugins)
    runtime.setup()
    row.update({schema.DEVICE: device_name(runtime.device), schema.TF32: runtime.uses_tf32})
    if not row.get(schema.DEVICE_REASON):  # resolved here, on a remote worker
        row[schema.DEVICE_REASON] = choose_device(work.settings.device).reason
    splits = load_data(registry, experiment)
    row.update(splits.protocol)
    learning_task = task_of(registry, experiment)
    eval_batch = eval_batch_size(splits, runtime.eval_batch_size)
    fresh = registry.model(experiment.model).fresh  # the dense weights are loaded next: no source weights first
    model = build_model(registry, experiment.dataset, experiment.model, run.seed, fresh)
    model = runtime.place(load_weights(model, task.local(f"{work.dense.path}/{WEIGHTS}")))
    test_loader = make_loader(splits.test, eval_batch, False, 0, runtime.torch_device, False,
                              work.settings.loader_workers)
    example = runtime.prepare_inputs(next(iter(test_loader))[0][:1])
    loss_fn = recipe_loss(experiment.finetune)
    ctx = RunContext(registry, experiment, run, runtime, work.settings, task, splits, model, epochs=epochs)
    reference = dense_reference(registry, work.dense.path, model, example, runtime, notes,
                                learning_task.latency_batches)
    plan = schedule_plan(registry, experiment, run, model, len(ctx.loader(experiment.finetune)))
    row[schema.FINETUNE_EPOCHS] = plan.total_epochs
    task.emit(TaskStarted(ctx.key, work.label, plan.total_epochs))
    expectation = Expectation(run.compression, ctx.dense_parameters,
                              sum(p.numel() for p in ctx.pruning_context(1.0).prunable.values()), zero_parameters(model))

    def measure_pre() -> None:
        pre = measure_all(registry, ctx.model, example, test_loader, data_only=True, loss_fn=loss_fn,
                          reference=reference, autocast=runtime.autocast, task=experiment.task)
        row.update({schema.pre(k): v for k, v in pre.values.items()})
        notes.extend(pre.notes)

    val_loader = (make_loader(splits.val, eval_batch, False, 0, runtime.torch_device, False,
                              work.settings.loader_workers) if splits.val is not None else None)
    rewind_states = {e: read_state_dict(task.local(rewind_file(work.dense.path, e))) for e in plan.rewind_epochs}
    ctx.seed_everything()
    result = run_rounds(ctx, plan, rewind_states, val_loader, measure_pre)
    dense = runtime.place(load_weights(build_model(registry, experiment.dataset, experiment.model, run.seed, fresh),
                                       task.local(f"{work.dense.path}/{WEIGHTS}")))
    untrained = plan.total_epochs == 0  # the model is the one measured right after pruning: its data metrics too
    post = measure_all(registry, ctx.model, example, test_loader, loss_fn=loss_fn, reference=reference,
                       autocast=runtime.autocast, dense=dense, task=experiment.task,
                       latency_batches=learning_task.latency_batches, skip_data=untrained)
    del dense
    row.update(post.values)
    if untrained:
        row.update({k.removesuffix(schema.PRE_SUFFIX): v for k, v in list(row.items()) if k.endswith(schema.PRE_SUFFIX)})
    if not ctx.strategy.structured:
        row[schema.LATENCY_NOTE] = "; ".join(mask_band_notes(row))
    row[schema.SELECTED_EPOCH] = result.selected_epoch
    if plan.total_epochs == 0:
        row[schema.RECIPE] = schema.ONE_SHOT
    if ctx.strategy.calibration:
        row.update(ctx.calibration().protocol)
    if ctx.strategy.reconstructs:
        row[schema.RECONSTRUCTED] = True
    if result.compile_seconds is not None:
        row[schema.COMPILE_SECONDS] = round(result.compile_seconds, 3)
    if epochs and epochs[-1].val_primary is not None:
        row[schema.val(learning_task.primary)] = next(e.val_primary for e in epochs if e.epoch == result.selected_epoch)
    notes.extend(result.notes + post.notes)
    masks = ctx.masked.masks if ctx.masked is not None else None
    return ctx.model, ctx.strategy, replace(expectation, masks=masks)


def mask_band_notes(row: dict[str, Any]) -> list[str]:
    """The note of an unstructured-mask run whose measured speedup (batch 1 or 64) lies outside
    :data:`~shrinkbench.metrics.latency.MASK_BAND` by more than its spread allows (masks keep the dense kernels:
    such a figure is a disturbed measurement); ``[]`` otherwise."""
    outside = [f"{row[c]:.2f}x ±{100 * row.get(f'{c}_spread', math.nan):.0f}%"
               for c in ("latency_speedup", "latency_speedup_64")
               if isinstance(row.get(c), float) and outside_mask_band(row[c], row.get(f"{c}_spread", math.nan))]
    if not outside:
        return []
    return [f"{BAND_NOTE} {MASK_BAND[0]:g}-{MASK_BAND[1]:g}x: {', '.join(outside)} (masks keep the "
            "dense kernels; treat this measured speedup as disturbed)"]


_references: dict[tuple, dict[str, float]] = {}


def reference_key(registry: Registry, dense_path: str, example: torch.Tensor, runtime: Runtime) -> tuple:
    """What the dense reference depends on: the dense model, the example's shape and memory format, the device,
    precision, memory format, compilation, evaluation batch, torch threads, and the installed metrics."""
    metrics = tuple(sorted((e.plugin, e.name) for e in registry.list("metrics")))
    return (dense_path, tuple(example.shape), example.is_contiguous(), str(runtime.torch_device), runtime.precision,
            runtime.channels_last, runtime.compile, runtime.eval_batch_size, torch.get_num_threads(), metrics)


def dense_reference(registry: Registry, dense_path: str, model: torch.nn.Module, example: torch.Tensor,
                    runtime: Runtime, notes: list[str], latency_batches: tuple[int, ...] = (1, 64)) -> dict[str, float]:
    """The dense model's own values of every metric that needs no data (parameters, MACs, activation memory,
    latency, ...), which metrics of the pruned model compare against. Taken on the run's one model before it is
    pruned, once per :func:`reference_key` in this process (the latency metric times the dense model again
    beside the pruned one at the end of the run: its speedups do not depend on this value)."""
    key = reference_key(registry, dense_path, example, runtime)
    if key not in _references:
        measured = measure_all(registry, model, example, None, autocast=runtime.autocast, skip_data=True,
                               latency_batches=latency_batches)
        notes.extend(f"dense reference: {n}" for n in measured.notes)
        _references[key] = measured.values
    return _references[key]


def schedule_plan(registry: Registry, experiment: Experiment, run: RunSpec, model: torch.nn.Module,
                  steps_per_epoch: int) -> SchedulePlan:
    """The rounds the run's schedule plans for its target, the recipes and the model's sizes."""
    spec = registry.schedule(run.schedule)
    prunable = prunable_parameters(model, include_classifier=experiment.include_classifier)
    ctx = ScheduleContext.of(run.schedule, experiment.options_of(run.schedule), target=run.compression,
                             epochs=experiment.finetune.epochs, steps_per_epoch=steps_per_epoch,
                             parameters=count_parameters(model), prunable=sum(p.numel() for p in prunable.values()),
                             pretrain_epochs=experiment.dense_epochs)
    with registry.blame("schedules", spec.name):
        return spec.load()(ctx)

