"""What a sweep would do, without doing it: the plan ``shrinkbench bench --dry-run`` prints, and how long it
would take.

**The plan** (:func:`plan_sweep`) reads, never writes: the runs of the resolved sweep, split into those to do,
those already complete in the results store and those to retry (they failed before); the dense models the
runs to do need that are not in the cache; the parallel layout :func:`run_sweep` would choose (the same rule,
:mod:`shrinkbench.engine.layout`, on the same capacity), and the checks ``run_sweep`` makes before it writes
(results and cache directories writable, the store compatible, initial weights loadable).

**The estimate** is measured, not guessed from a formula: a short *calibration* in this process, per
experiment, of its own model on its own data. The model is built fresh (no dense weights needed), placed on
the device the runs use (the driver's resolution of ``--device``; a remote executor's runs are timed on this
machine), in the run's precision and memory format, with the layout's threads per run. Then, after one
warm-up step each:

- :data:`STEPS` training steps (forward, loss, backward, optimizer step, the device synchronised) at every
  batch size the sweep trains with (finetuning, and pretraining for the dense models or rewinding rounds):
  the median is the seconds per step (a busy machine makes single steps slow);
- one evaluation of up to :data:`EVAL_BATCHES` test batches at the evaluation batch size: the median of
  their seconds per example.

These are scaled by the recipes' epochs and the runs::

    epoch(batch)   = ceil(train examples / batch) x step(batch) + validation examples x eval
    dense model    = pretrain epochs x epoch(pretrain batch) + test examples x eval
    run            = sum over its schedule's rounds of epochs x epoch(round's batch)
                     + 2 x test examples x eval + RUN_OVERHEAD_SECONDS (metrics)
    wall clock     = max(dense sum / dense jobs, longest dense) + max(run sum / jobs, longest run)
                     (+ START_SECONDS when worker processes start)

Left out, so expect the real time within about a factor of 1.5: the masking overhead of pruned training, data
that strategies score with (SNIP, GraSP: a few batches), ``torch.compile`` time, slow-downs of runs sharing
cores, memory bandwidth or a GPU (perfect scaling is assumed), DataLoader start-up for folder datasets, and a
cluster's real parallelism (its ``jobs`` is unknown here: the estimate is then per run, one at a time).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..atomic import check_writable_dir
from ..cache import cache_dir
from ..devices import resolve_device
from ..plugins import Registry
from .dense import build_model, dense_dir, dense_task_key, initial_model, load_data
from .experiment import Experiment, RunSpec
from .layout import RUN_OVERHEAD_SECONDS, START_SECONDS, Layout
from .resolution import Sweep
from .shared_runs import split_shared
from .store import ResultsStore
from .sweep import (  # the very rules run_sweep applies (private there for now)
    _layout,
    _missing_dense,
    local_capacity,
)

__all__ = ["EVAL_BATCHES", "STEPS", "Calibration", "Estimate", "SweepPlan", "calibrate", "describe_seconds", "plan_sweep"]

STEPS = 3
"""Timed training steps per batch size (after one warm-up step); their median counts."""
EVAL_BATCHES = 3
"""Timed evaluation batches at most (after one warm-up batch); their median time per example counts."""


@dataclass(frozen=True)
class Calibration:
    """What one experiment's model measured: seconds per training step by batch size, seconds per evaluated
    example, where (``device``, ``threads``) and how long measuring took."""

    step_seconds: dict[int, float]
    eval_seconds: float
    device: str
    threads: int
    seconds: float


@dataclass(frozen=True)
class Estimate:
    """How long the sweep would take: ``seconds`` of wall clock (dense models first, then runs), the work of
    each part summed over its items (as if one at a time), the calibration of each experiment, and how long
    calibrating took."""

    seconds: float
    dense_seconds: float
    run_seconds: float
    dense_work: float
    run_work: float
    calibrations: dict[str, Calibration]
    calibration_seconds: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"seconds": round(self.seconds, 1), "dense_seconds": round(self.dense_seconds, 1),
                "run_seconds": round(self.run_seconds, 1), "dense_work_seconds": round(self.dense_work, 1),
                "run_work_seconds": round(self.run_work, 1), "calibration_seconds": round(self.calibration_seconds, 2),
                "calibrations": {slug: {"step_seconds": {str(b): round(s, 6) for b, s in c.step_seconds.items()},
                                        "eval_seconds_per_example": c.eval_seconds, "device": c.device,
                                        "threads": c.threads} for slug, c in self.calibrations.items()}}


@dataclass
class SweepPlan:
    """What ``run_sweep`` would do with a resolved sweep (see the module docstring)."""

    sweep: Sweep
    layout: Layout
    layout_text: str
    executor: str
    todo: list[RunSpec]
    complete: list[str]
    retry: list[str]
    dense: dict[str, tuple[Experiment, int]]
    estimate: Estimate | None = None
    dense_cached: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``bench --dry-run --json``)."""
        sweep = self.sweep
        return {
            "results_dir": str(sweep.results_dir.absolute()), "executor": self.executor, "layout": self.layout_text,
            "jobs": self.layout.jobs, "threads": self.layout.threads, "gpus_per_run": self.layout.gpus_per_run,
            "experiments": [{"slug": e.slug, "dataset": e.dataset, "model": e.model, "variant": e.variant,
                             "strategies": list(sweep.strategies[e.slug]), "fingerprint": e.fingerprint()}
                            for e in sweep.experiments],
            "runs": {"total": len(sweep.runs()), "todo": [r.run_id for r in self.todo], "complete": self.complete,
                     "retry": self.retry},
            "dense": {"to_train": [{"experiment": e.slug, "seed": s + e.dense_seed_offset, "unit": str(dense_dir(e, s))}
                                   for e, s in self.dense.values()], "cached": self.dense_cached},
            "notes": list(sweep.notes) + self.notes,
            "estimate": self.estimate.to_json() if self.estimate else None,
        }


def plan_sweep(registry: Registry, sweep: Sweep, *, estimate: bool = True) -> SweepPlan:
    """The plan of ``sweep`` (and, with ``estimate``, its calibrated duration); writes nothing. Raises the
    one-line :class:`~shrinkbench.errors.ShrinkBenchError` that ``run_sweep`` would raise before writing."""
    request = sweep.request
    store = ResultsStore(sweep.results_dir)
    check_writable_dir(store.directory, "results directory", "choose another --out")
    check_writable_dir(cache_dir(), "cache directory", "set SHRINKBENCH_CACHE to a writable directory")
    store.check_compatible(sweep.experiments)
    for experiment in {e.dense_key(0).digest(): e for e in sweep.experiments if e.initial_weights}.values():
        initial_model(registry, experiment, 0)
    done = store.completed(retry=request.retry)
    failed = store.failed()
    runs = sweep.runs()
    todo = [r for r in runs if r.run_id not in done]
    executed, copies = split_shared(registry, sweep, todo, store.ok_rows())
    missing = _missing_dense(sweep, executed)
    needed = {dense_task_key(sweep.experiment(r.experiment), r.seed) for r in executed}
    layout = _layout(sweep, local_capacity(sweep), len(executed), len(missing))
    executor = request.executor or ("local" if (layout.jobs or 1) > 1 else "sequential")
    plan = SweepPlan(sweep, layout, layout.describe(sweep.settings.device), executor, todo,
                     [r.run_id for r in runs if r.run_id in done], [r.run_id for r in todo if r.run_id in failed],
                     missing, dense_cached=len(needed - set(missing)))
    if sweep.remote:
        plan.notes.append(f"executor {executor!r} decides how many runs execute at once: the estimate assumes one "
                          "at a time, timed on this machine")
    shared = sum(len(c) for c in copies.values())
    if shared:
        plan.notes.append(f"{shared} compression-1 run{'s' if shared != 1 else ''} share{'' if shared != 1 else 's'} "
                          "another strategy's (nothing is pruned at compression 1): not run, not timed")
    if estimate and executed:
        plan.estimate = _estimate(registry, sweep, layout, executed, missing)
    return plan


def _estimate(registry: Registry, sweep: Sweep, layout: Layout, todo: list[RunSpec],
              missing: dict[str, tuple[Experiment, int]]) -> Estimate:
    from .run import schedule_plan

    started = time.perf_counter()
    device = resolve_device("auto" if sweep.remote else sweep.settings.device)
    calibrations: dict[str, Calibration] = {}
    run_times: list[float] = []
    dense_times: list[float] = []
    for experiment in sweep.experiments:
        runs = [r for r in todo if r.experiment == experiment.slug]
        dense = [seed for e, seed in missing.values() if e.slug == experiment.slug]
        if not runs and not dense:
            continue
        splits = load_data(registry, experiment)
        model = build_model(registry, experiment.dataset, experiment.model, 0, registry.model(experiment.model).fresh)
        batches = {experiment.finetune.batch_size}
        plans = {}
        for run in runs:
            key = (run.schedule, run.compression)
            if key not in plans:
                plans[key] = schedule_plan(registry, experiment, run, model, _batches(len(splits.train),
                                           experiment.finetune.batch_size, experiment.full_batches))
                if any(r.rewind_to is not None for r in plans[key].rounds):
                    batches.add(experiment.pretrain.batch_size)
        pretrain_batch = experiment.pretrain.batch_size
        train_dense = bool(dense) and experiment.dense_epochs > 0
        if train_dense and layout.dense_threads == layout.threads:
            batches.add(pretrain_batch)
        calibration = calibrate(registry, experiment, sweep, device, layout.threads, sorted(batches), model)
        calibrations[experiment.slug] = calibration
        dense_cal = calibration
        if train_dense and layout.dense_threads != layout.threads:
            dense_cal = calibrate(registry, experiment, sweep, device, layout.dense_threads, [pretrain_batch], model)
        sizes = (len(splits.train), len(splits.val) if splits.val is not None else 0, len(splits.test))

        def epoch(cal: Calibration, batch: int, sizes: tuple[int, int, int] = sizes,
                  full: bool = experiment.full_batches) -> float:
            return _batches(sizes[0], batch, full) * cal.step_seconds[batch] + sizes[1] * cal.eval_seconds

        test = sizes[2] * calibration.eval_seconds
        dense_times += [(epoch(dense_cal, pretrain_batch) * experiment.dense_epochs if train_dense else 0.0)
                        + test] * len(dense)
        for run in runs:
            rounds = plans[(run.schedule, run.compression)].rounds
            train = sum(r.epochs * epoch(calibration, pretrain_batch if r.rewind_to is not None
                                         else experiment.finetune.batch_size) for r in rounds)
            run_times.append(train + 2 * test + RUN_OVERHEAD_SECONDS)
    jobs = layout.jobs or 1
    dense_jobs = layout.dense_jobs or 1
    dense_wall = max(sum(dense_times) / dense_jobs, max(dense_times, default=0.0))
    run_wall = max(sum(run_times) / jobs, max(run_times, default=0.0))
    start = START_SECONDS if jobs > 1 or dense_jobs > 1 else 0.0
    return Estimate(dense_wall + run_wall + start, dense_wall, run_wall, sum(dense_times), sum(run_times),
                    calibrations, time.perf_counter() - started)


def _batches(examples: int, batch: int, full_batches: bool) -> int:
    """Training steps per epoch."""
    return examples // batch if full_batches else math.ceil(examples / batch)


def calibrate(registry: Registry, experiment: Experiment, sweep: Sweep, device: str, threads: int,
              batch_sizes: list[int], model: Any = None) -> Calibration:
    """Time :data:`STEPS` training steps at each of ``batch_sizes`` and an evaluation of up to
    :data:`EVAL_BATCHES` test batches of ``experiment``'s model (``model``, copied, else built fresh) on its
    data, on ``device`` with ``threads`` torch threads (see the module docstring)."""
    import copy

    import torch

    from ..threads import torch_threads
    from .data import make_loader
    from .runtime import Runtime
    from .train import make_optimizer, recipe_loss

    started = time.perf_counter()
    runtime = Runtime.of(experiment, replace(sweep.settings, device=device, threads=threads, compile=False))
    if runtime.is_cuda or runtime.deterministic:  # TF32 and cuDNN's modes change the speed; on the CPU, skip
        runtime.setup()                             # the imports that setting them costs
    splits = load_data(registry, experiment)
    augmented = registry.dataset(experiment.dataset).augmented
    workers = sweep.settings.loader_workers
    base = model if model is not None else build_model(registry, experiment.dataset, experiment.model, 0, registry.model(experiment.model).fresh)
    steps: dict[int, float] = {}
    with torch_threads(threads):
        for batch in batch_sizes:
            net = runtime.place(copy.deepcopy(base))
            net.train()
            recipe = replace(experiment.finetune, batch_size=batch)
            optimizer = make_optimizer(net, recipe, fused=runtime.fused_optimizer)
            loss_fn = recipe_loss(recipe)
            loader = make_loader(splits.train, batch, True, 0, runtime.torch_device, augmented, workers,
                                 drop_last=experiment.full_batches)
            timed = _timed(loader, STEPS + 1, runtime, lambda x, y, net=net, opt=optimizer, loss_fn=loss_fn:
                           _train_step(net, opt, loss_fn, runtime, x, y))
            steps[batch] = statistics.median(t for t, _ in timed[1:] or timed)
        net = runtime.place(copy.deepcopy(base)).eval()
        loader = make_loader(splits.test, runtime.eval_batch_size, False, 0, runtime.torch_device, False, workers)
        with torch.inference_mode():
            timed = _timed(loader, EVAL_BATCHES + 1, runtime, lambda x, _y: _forward(net, runtime, x), restart=False)
    eval_seconds = statistics.median(t / max(n, 1) for t, n in timed[1:] or timed)
    return Calibration(steps, eval_seconds, str(runtime.torch_device), threads, time.perf_counter() - started)


def _train_step(net: Any, optimizer: Any, loss_fn: Any, runtime: Any, inputs: Any, targets: Any) -> None:
    optimizer.zero_grad(set_to_none=True)
    with runtime.autocast():
        loss = loss_fn(net(runtime.prepare_inputs(inputs)), targets)
    loss.backward()
    optimizer.step()


def _forward(net: Any, runtime: Any, inputs: Any) -> None:
    with runtime.autocast():
        net(runtime.prepare_inputs(inputs))


def _timed(loader: Any, count: int, runtime: Any, work: Any, restart: bool = True) -> list[tuple[float, int]]:
    """``(seconds, examples)`` of ``work(inputs, targets)`` on each of up to ``count`` batches of ``loader``
    (started again when it runs out, unless not ``restart``); the device is synchronised around each."""
    out: list[tuple[float, int]] = []
    while len(out) < count:
        before = len(out)
        for inputs, targets in loader:
            runtime.synchronize()
            start = time.perf_counter()
            work(inputs, targets)
            runtime.synchronize()
            out.append((time.perf_counter() - start, int(targets.shape[0])))
            if len(out) >= count:
                break
        if not restart or len(out) == before:
            break
    return out or [(0.0, 0)]


def describe_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 20 s``, ``2 h 05 min``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"

