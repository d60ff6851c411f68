"""From what the user asked (:class:`~shrinkbench.engine.config.SweepConfig`) to what will run (:class:`Sweep`):
every check before any work, in one layer, reporting every problem of a request at once.

Checked: every name (datasets, models, strategies, schedules, executor; unknown ones with a suggestion), every
compression, the metric columns, the device (on the driver, unless the executor is remote: its workers resolve
it), the weight files (hashed), each (dataset, model) pair (a pair that cannot work is refused with its reason
and the others still run), each strategy's requirements of the model (left out of the default set with a note;
refused when named), the data, and every schedule's plan for every target: its last pruning must reach the
target, its rewinds need a dense pretraining run and an unstructured strategy, a structured strategy needs a
schedule that allows it, and the strategy must be able to prune to every compression the plan passes through.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..checkpoints import weights_file
from ..environment import choose_device
from ..errors import CompressionError, IncompatibleError, ShrinkBenchError, UnknownNameError
from ..metrics.collect import check_metric_columns
from ..modules import missing_requirement
from ..plans import ScheduleContext
from ..plugins import Registry
from ..pruning import count_parameters, make_context, prunable_parameters, weights_to_keep
from .config import DEFAULT_RECIPES, SweepConfig, Variant
from .dense import build_model, file_sha256, load_data
from .experiment import Experiment, RunSpec, compression_label, slug_clash
from .layout import ModelProfile, profile_of
from .runtime import RunSettings
from .tasking import check_calibration_source, pretraining_asked, task_mismatch

__all__ = ["ConfigError", "Sweep", "resolve"]


class ConfigError(ShrinkBenchError):
    """Several problems of a sweep request, one line each (:attr:`problems`)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(dict.fromkeys(problems))
        super().__init__("; ".join(self.problems))


class _Problems:
    """Collects problems instead of stopping at the first: one is raised as it is (its own type), several as
    one :class:`ConfigError`."""

    def __init__(self) -> None:
        self.errors: list[ShrinkBenchError] = []

    @property
    def items(self) -> list[str]:
        return [str(e) for e in self.errors]

    def add(self, error: ShrinkBenchError | str) -> None:
        self.errors.append(error if isinstance(error, ShrinkBenchError) else ShrinkBenchError(error))

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except ConfigError as exc:
            self.errors.extend(ShrinkBenchError(p) for p in exc.problems)
        except ShrinkBenchError as exc:
            self.errors.append(exc)

    def raise_any(self) -> None:
        unique = list({str(e): e for e in self.errors}.values())
        if len(unique) == 1:
            raise unique[0]
        if unique:
            raise ConfigError([str(e) for e in unique])


@dataclass(frozen=True)
class Sweep:
    """A resolved sweep: its experiments (one per valid (dataset, model) pair and variant), the strategies of
    each (by experiment slug), schedules, compressions and seeds, how runs execute (``settings``; jobs and
    threads still ``auto`` until the executor says what it has), the executor, each experiment's model profile,
    notes (strategies left out, pairs refused), and the (experiment, strategy, schedule, compression)
    combinations of the default strategies that cannot run and are left out."""

    request: SweepConfig
    experiments: tuple[Experiment, ...]
    strategies: dict[str, tuple[str, ...]]
    settings: RunSettings
    executor: str
    remote: bool
    profiles: dict[str, ModelProfile] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    excluded: frozenset[tuple[str, str, str, float]] = frozenset()
    targets: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def compressions_of(self, slug: str) -> tuple[float, ...]:
        """The target compressions of experiment ``slug``: the request's, or those its ``--sparsity`` values
        mean for its model (:func:`sparsity_compression`)."""
        return self.targets.get(slug, self.request.compressions)

    @property
    def results_dir(self) -> Path:
        """Where the results go."""
        return self.request.results_dir

    def experiment(self, slug: str) -> Experiment:
        """The experiment called ``slug``."""
        return next(e for e in self.experiments if e.slug == slug)

    def runs(self) -> list[RunSpec]:
        """Every (experiment, strategy, schedule, compression, seed), seeds outermost."""
        request = self.request
        return [RunSpec(e.slug, strategy, compression, seed, schedule)
                for seed in request.seeds for e in self.experiments for strategy in self.strategies[e.slug]
                for schedule in request.schedules for compression in self.compressions_of(e.slug)
                if (e.slug, strategy, schedule, compression) not in self.excluded]


def resolve(registry: Registry, request: SweepConfig) -> Sweep:
    """Check ``request`` against the installed plugins and this machine and resolve it (see the module
    docstring); raises :class:`ConfigError` listing every problem, before anything is written."""
    problems = _Problems()
    names = _check_names(registry, request, problems)
    device, device_reason = request.device, ""
    executor = request.executor or ("local" if (request.jobs or 0) > 1 else None)
    remote = False
    with problems.collect():
        spec = registry.executor(executor or "sequential") if registry.list("executors") else None
        if spec is None:
            raise ShrinkBenchError("no executor is registered: this registry was built without core's plugins; add "
                                   "('core-engine', shrinkbench.engine.plugin) to load_registry(inline=...)")
        remote = spec.remote
        if not remote:
            choice = choose_device(request.device)
            device, device_reason = choice.device, choice.reason
        elif request.device.strip().lower().startswith("cuda:"):
            raise ShrinkBenchError(f"--device {request.device} names a GPU of this machine, but executor "
                                   f"{spec.name!r} gives each run a GPU of its nodes itself; use --device cuda (start "
                                   "a node with CUDA_VISIBLE_DEVICES set to offer it only some of its GPUs)")
    weights = _weights(request, problems)
    notes: list[str] = []
    excluded: set[tuple[str, str, str, float]] = set()
    experiments, strategies, profiles = [], {}, {}
    targets: dict[str, tuple[float, ...]] = {}
    if names:
        pairs = [(d, m) for d in request.datasets for m in request.models]
        for dataset, model in pairs:
            built = _pair(registry, request, dataset, model, pairs, problems, notes)
            if built is None:
                continue
            chosen = _strategies(registry, request, model, built, problems, notes)
            splits = None
            with problems.collect():
                data = registry.dataset(dataset)
                splits = load_data(registry, Experiment(dataset, model, *request.recipes_for(data.recipes, Variant("x")),
                                                        val_fraction=request.val_fraction, task=data.task,
                                                        context_length=request.context_length,
                                                        eval_windows=request.eval_windows_for(data.eval_windows),
                                                        data_root=request.data_root))
            if registry.dataset(dataset).recipes is None and not (request.pretrain and request.finetune):
                notes.append(f"dataset {dataset} declares no standard recipes: the generic ones apply (pretrain "
                             f"{DEFAULT_RECIPES[0].epochs} epochs, finetune {DEFAULT_RECIPES[1].epochs}); set them with "
                             "--pretrain-epochs/--finetune-epochs or a TOML [pretrain]/[finetune] table")
            for variant in request.variant_list:
                experiment = _experiment(registry, request, dataset, model, variant, weights)
                if request.sparsities:
                    targets[experiment.slug] = pair_targets(request, built)
                with problems.collect():
                    check_calibration_source(registry, experiment, chosen)
                if splits is not None:
                    experiment = _plans(registry, request, experiment, built, chosen, len(splits.train), problems,
                                        notes, excluded)
                experiments.append(experiment)
                strategies[experiment.slug] = chosen
                profiles[experiment.slug] = profile_of(built, experiment, splits)
        if clash := slug_clash(experiments):
            problems.add(clash)
        if not experiments and len(pairs) > 1 and not problems.errors:
            problems.add("no (dataset, model) pair of the grid can run: " + "; ".join(notes))
    problems.raise_any()
    settings = RunSettings(device, request.threads, request.workers, request.eval_batch_size, request.compile,
                           request.channels_last, request.deterministic, request.tf32, device_reason)
    return Sweep(request, tuple(experiments), strategies, settings, executor or "sequential", remote, profiles,
                 tuple(dict.fromkeys(notes)), frozenset(excluded), targets)


def _check_names(registry: Registry, request: SweepConfig, problems: _Problems) -> bool:
    """Every name and value that needs no model; whether the datasets and models are all known."""
    known = True
    for kind, values in (("datasets", request.datasets), ("models", request.models)):
        for name in values:
            with problems.collect():
                try:
                    registry.get(kind, name)
                except UnknownNameError:
                    known = False
                    raise
    for name in request.strategies:
        with problems.collect():
            registry.strategy(name)
    for name in request.schedules:
        with problems.collect():
            spec = registry.schedule(name)
            from ..values import Options

            Options(f"schedule {name}", request.options_of(name), spec.option_names)
    for name, _ in request.schedule_options:
        if name not in request.schedules:
            problems.add(f"options are given for schedule {name!r}, which is not run; add --schedule {name}")
    for c in request.compressions:
        if not (isinstance(c, (int, float)) and math.isfinite(c)) or c < 1:
            problems.add(CompressionError(f"compression must be a finite number >= 1 (1 = no pruning), got {c:g}; "
                                          "e.g. --compression 1,2,4"))
    repeated = sorted({float(c) for c in request.compressions if request.compressions.count(c) > 1})
    if repeated:
        problems.add(CompressionError(f"compression {', '.join(compression_label(c) for c in repeated)} is given more "
                                      "than once; give each target once, e.g. --compression 1,2,4"))
    with problems.collect():
        check_metric_columns(registry)
    if request.checkpoint and len(request.datasets) * len(request.models) > 1:
        problems.add("a checkpoint holds one model for one dataset: give one --dataset and one --model "
                              "with --checkpoint (or use --pretrained, which a grid can share)")
    return known


def _weights(request: SweepConfig, problems: _Problems) -> dict[str, str | None]:
    """The SHA-256 of the checkpoint or pretrained weights file (``None`` for a pretrained tag)."""
    hashes: dict[str, str | None] = {}
    with problems.collect():
        if request.checkpoint:
            if not Path(request.checkpoint).expanduser().is_file():
                raise ShrinkBenchError(f"cannot read checkpoint {request.checkpoint}: no such file; pass the path of a "
                                       "dense state dict (.pt/.pth/.safetensors), or --pretrained for a pretrained tag")
            hashes[request.checkpoint] = file_sha256(request.checkpoint)
    sources = [request.pretrained, *(v.get("pretrained") for v in request.variants)]
    for source in filter(None, sources):
        with problems.collect():
            path = weights_file(source, "pass the path of a local state dict or a pretrained tag")
            hashes[source] = file_sha256(path) if path is not None else None
    return hashes


def _pair(registry: Registry, request: SweepConfig, dataset: str, model: str, pairs: list, problems: _Problems,
          notes: list[str]) -> Any:
    """The model built for ``dataset`` (seed 0), or ``None`` when the pair cannot work: a problem for a single
    pair, a note for one pair of a grid (the others still run)."""
    spec, data = registry.model(model), registry.dataset(dataset)
    reason = task_mismatch(registry, spec, data)
    if reason is None and data.input_shape:
        reason = spec.incompatibility(tuple(data.input_shape))
    built = None
    if reason is None:
        try:
            built = build_model(registry, dataset, model, 0, spec.fresh)  # the architecture: no source weights
        except IncompatibleError as exc:
            reason = str(exc)
        except ShrinkBenchError as exc:
            problems.add(exc)
            return None
    if reason is not None:
        if len(pairs) == 1:
            problems.add(IncompatibleError(f"{reason}; pick another --model or --dataset"))
        else:
            notes.append(f"pair {dataset} x {model} refused: {reason}")
        return None
    prunable = prunable_parameters(built, include_classifier=request.include_classifier)
    for compression in pair_targets(request, built):
        with problems.collect():
            try:
                weights_to_keep(built, prunable, compression)
            except CompressionError as exc:
                raise CompressionError(f"model {model!r}: {exc}") from None
    return built


def _strategies(registry: Registry, request: SweepConfig, model: str, built: Any, problems: _Problems,
                notes: list[str]) -> tuple[str, ...]:
    """The strategies to run on ``built``: the requested ones (an inapplicable one is a problem), else every
    installed one whose requirements the model meets (those left out get a note)."""
    named = bool(request.strategies)
    names = request.strategies or tuple(e.name for e in registry.list("strategies"))
    chosen = []
    for name in names:
        try:
            spec = registry.strategy(name)
        except ShrinkBenchError:
            continue  # reported with the names
        lack = missing_requirement(built, spec.requires)
        if lack is None:
            chosen.append(spec.name)
        elif named:
            problems.add(f"strategy {spec.name!r} cannot prune model {model!r}: it needs "
                                  f"{', '.join(spec.requires)} and the model has {lack}")
        else:
            notes.append(f"left out {spec.name} for {model}: it needs {', '.join(spec.requires)}, the model has {lack}")
    if not chosen and not named:
        problems.add("no strategies to run: install a strategy plugin or pass --strategy")
    return tuple(dict.fromkeys(chosen))


def _experiment(registry: Registry, request: SweepConfig, dataset: str, model: str, variant: Variant,
                hashes: dict[str, str | None]) -> Experiment:
    data = registry.dataset(dataset)
    pretrain, finetune = request.recipes_for(data.recipes, variant)
    if registry.model(model).trained and not pretraining_asked(request, variant):
        pretrain = replace(pretrain, epochs=0)  # a hub model starts from its own weights, not trained further
    pretrained = variant.get("pretrained", request.pretrained)
    return Experiment(dataset, model, pretrain, finetune, variant.name, request.val_fraction, request.selection,
                      request.include_classifier, request.precision, request.checkpoint,
                      hashes.get(request.checkpoint) if request.checkpoint else None, pretrained,
                      hashes.get(pretrained) if pretrained else None, int(variant.get("dense_seed_offset", 0)),
                      schedule_options=tuple(sorted((s, tuple(sorted(request.options_of(s).items())))
                                                    for s in request.schedules if request.options_of(s))),
                      full_batches=request.compile, task=data.task, context_length=request.context_length,
                      calibration_samples=int(variant.get("calibration_samples", request.calibration_samples)),
                      calibration_source=variant.get("calibration_source", request.calibration_source),
                      eval_windows=request.eval_windows_for(data.eval_windows), data_root=request.data_root)



def _plans(registry: Registry, request: SweepConfig, experiment: Experiment, built: Any,
           strategies: tuple[str, ...], train_examples: int, problems: _Problems, notes: list[str],
           excluded: set[tuple[str, str, str, float]]) -> Experiment:
    """Check every schedule's plan for every target of ``experiment`` and every strategy's limits under it: a
    named strategy that cannot is a problem, one of the default set is left out of that combination (added to
    ``excluded`` with a note). Return the experiment with the rewind epochs its plans need."""
    prunable = prunable_parameters(built, include_classifier=experiment.include_classifier)
    steps = math.ceil(train_examples / experiment.finetune.batch_size) if not experiment.full_batches else (
        train_examples // experiment.finetune.batch_size)
    rewinds: set[int] = set()
    for name in request.schedules:
        try:
            schedule = registry.schedule(name)
        except ShrinkBenchError:
            continue  # reported with the names
        for compression in pair_targets(request, built):
            ctx = ScheduleContext.of(name, experiment.options_of(name), target=compression,
                                     epochs=experiment.finetune.epochs, steps_per_epoch=steps,
                                     parameters=count_parameters(built),
                                     prunable=sum(p.numel() for p in prunable.values()),
                                     pretrain_epochs=experiment.dense_epochs)
            plan = None
            with problems.collect(), registry.blame("schedules", name):
                plan = schedule.load()(ctx)
            if plan is None:
                continue
            targets = plan.prune_targets()
            if not targets or not math.isclose(targets[-1], compression, rel_tol=1e-9):
                problems.add(f"schedule {name!r} does not reach the target {compression:g}x (its plan ends at "
                                      f"{targets[-1] if targets else 1:g}x): fix the schedule")
            rewinds.update(plan.rewind_epochs)
            if plan.rewind_epochs:
                notes.append(rewind_cost(name, plan, experiment))
            if plan.rewind_epochs and experiment.checkpoint:
                problems.add(f"schedule {name!r} rewinds to a pretraining epoch, which needs the dense "
                                      "pretraining run: it does not combine with --checkpoint")
            for strategy in strategies:
                with problems.collect(), registry.blame("strategies", strategy):
                    reasons = _limits(registry.strategy(strategy), schedule, plan, built, compression,
                                      experiment.include_classifier)
                    if reasons and request.strategies:  # named: the user asked for something impossible
                        for reason in reasons:
                            problems.add(reason)
                    elif reasons:  # the default set: leave the combination out, say so
                        excluded.add((experiment.slug, strategy, name, compression))
                        notes.append(f"left out {strategy} + {name} at {compression:g}x for {experiment.slug}: "
                                     f"{reasons[0]}")
    return replace(experiment, rewind_epochs=tuple(sorted(rewinds)))


def rewind_cost(schedule: str, plan: Any, experiment: Experiment) -> str:
    """What a rewinding plan costs, for the sweep's notes: each rewound round retrains the remaining pretraining
    epochs with the pretraining recipe, so a run trains far more than the finetuning recipe's epochs."""
    rewound = [r for r in plan.rounds if r.rewind_to is not None]
    epochs = sorted({r.epochs for r in rewound})
    return (f"schedule {schedule!r} rewinds to pretraining epoch {'/'.join(str(e) for e in plan.rewind_epochs)}: "
            f"each of its {len(rewound)} rewound rounds retrains the remaining {'/'.join(map(str, epochs))} of "
            f"{experiment.dense_epochs} pretraining epochs with the pretraining recipe, {plan.total_epochs} epochs "
            f"per run of {experiment.slug} (finetune recipe: {experiment.finetune.epochs})")


def _limits(strategy: Any, schedule: Any, plan: Any, built: Any, compression: float,
            include_classifier: bool) -> list[str]:
    """Why ``strategy`` cannot run under ``schedule``'s ``plan`` for ``compression`` (empty when it can)."""
    reasons = []
    if strategy.structured and not schedule.structured:
        reasons.append(f"schedule {schedule.name!r} prunes during training, which structured strategy "
                       f"{strategy.name!r} cannot (removing channels replaces the layers the optimizer updates); use "
                       "oneshot or iterative with it")
    if strategy.structured and plan.rewind_epochs:
        reasons.append(f"schedule {schedule.name!r} rewinds, which needs the dense architecture: structured strategy "
                       f"{strategy.name!r} shrinks it")
    for target in dict.fromkeys(plan.prune_targets()):
        try:
            ctx = make_context(built, target, include_classifier=include_classifier)
        except CompressionError:
            continue  # out of reach for the model: reported with the compressions
        reason = strategy.limit(ctx)
        if reason:
            step = "" if target == compression else f" (a step of schedule {schedule.name!r} for {compression:g}x)"
            reasons.append(f"strategy {strategy.name!r} cannot prune to {target:.3g}x{step}: {reason}")
    return reasons


def sparsity_compression(model: Any, prunable: dict, sparsity: float) -> float:
    """The compression (all parameters / nonzero ones) at which ``sparsity`` of the ``prunable`` weights are
    zero, the others dense: ``total / (total - round(sparsity x prunable))`` -- the language-model papers' axis
    (50 % of every linear layer) as ShrinkBench's target. 1 for sparsity 0."""
    total = count_parameters(model)
    removed = round(sparsity * sum(p.numel() for p in prunable.values()))
    return total / (total - removed) if removed else 1.0


def pair_targets(request: SweepConfig, built: Any) -> tuple[float, ...]:
    """The target compressions of a (dataset, model) pair: the request's, or its ``sparsities`` for ``built``."""
    if not request.sparsities:
        return request.compressions
    prunable = prunable_parameters(built, include_classifier=request.include_classifier)
    return tuple(sparsity_compression(built, prunable, s) for s in request.sparsities)
