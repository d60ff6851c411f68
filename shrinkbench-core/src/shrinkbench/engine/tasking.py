"""What the engine asks of an experiment's learning task (:class:`shrinkbench.TaskSpec`): its data splits
(prepared with the model's tokenizer where the task needs one), its evaluation, its primary metric and the
evaluation batch. The engine never tests for a task's name: everything task-specific comes from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ShrinkBenchError
from ..plugins import Registry
from ..spec_base import resolve
from ..task_spec import PrepareContext, TaskSpec, Tokenizer
from .config import SweepConfig, Variant
from .data import Splits, cached_splits
from .experiment import Experiment

__all__ = ["Evaluate", "check_calibration_source", "eval_batch_size", "evaluator", "load_data", "pretraining_asked", "primary_value", "task_mismatch", "task_of",
           "tokenizer_for"]

Evaluate = Callable[..., dict[str, float]]
"""``evaluate(model, loader, loss_fn, autocast) -> {column: value}`` of a task."""


def task_of(registry: Registry, experiment: Experiment) -> TaskSpec:
    """The experiment's task (the dataset's)."""
    return registry.task(experiment.task)


_tokenizers: dict[tuple[str, str | None], Tokenizer] = {}


def tokenizer_for(registry: Registry, model: str, pretrained: str | None = None) -> Tokenizer:
    """The tokenizer of ``model`` (for the weights ``pretrained`` names), loaded once per process; a plugin
    that raises becomes a :class:`shrinkbench.errors.PluginError` naming it."""
    key = (model, pretrained)
    if key not in _tokenizers:
        with registry.blame("models", model):
            _tokenizers[key] = registry.model(model).load_tokenizer(pretrained)
    return _tokenizers[key]


def load_data(registry: Registry, experiment: Experiment) -> Splits:
    """The experiment's data splits, loaded once per process: the dataset's own items, or for a task that
    prepares them (``causal-lm``) the raw splits turned into items with the model's tokenizer and the
    experiment's context length. A plugin that raises becomes a :class:`shrinkbench.errors.PluginError`."""
    spec = registry.dataset(experiment.dataset)
    task = task_of(registry, experiment)
    prepare, context = None, None
    if task.prepare is not None:
        tokenizer = tokenizer_for(registry, experiment.model, experiment.pretrained) if task.needs_tokenizer else None
        prepare = resolve(task.prepare)
        context = PrepareContext("train", tokenizer, experiment.context_length, experiment.eval_windows)
    with registry.blame("datasets", experiment.dataset):
        return cached_splits(spec, experiment.data_root, experiment.val_fraction, prepare, context)


def evaluator(registry: Registry, experiment: Experiment) -> Evaluate:
    """The task's ``evaluate(model, loader, loss_fn, autocast)``."""
    return task_of(registry, experiment).load()


def eval_batch_size(splits: Splits, default: int) -> int:
    """Items per evaluation batch: what the prepared items suit (token windows), else ``default``."""
    return splits.eval_batch_size or default


def primary_value(task: TaskSpec, values: dict[str, Any]) -> float | None:
    """The value of the task's primary metric in ``values`` (``None`` when absent)."""
    value = values.get(task.primary)
    return None if value is None else float(value)


def pretraining_asked(request: SweepConfig, variant: Variant) -> bool:
    """Whether the user set the pretraining epochs (a recipe, a change, or a variant)."""
    return (request.pretrain is not None or any(k == "pretrain.epochs" for k, _ in request.recipe_changes)
            or "epochs" in variant.recipe_changes("pretrain"))


def task_mismatch(registry: Registry, model: Any, data: Any) -> str | None:
    """Why ``model`` (a :class:`shrinkbench.ModelSpec`) cannot serve ``data``'s task, or ``None``: the task must
    be installed, be one the model serves, and get a tokenizer from the model when it needs one."""
    try:
        task = registry.task(data.task)
    except ShrinkBenchError as exc:
        return f"dataset {data.name!r} is a {data.task!r} dataset, but {exc}"
    if task.name not in model.tasks:
        return (f"model {model.name!r} serves {', '.join(model.tasks)}, dataset {data.name!r} is a {task.name} "
                f"dataset")
    if task.needs_tokenizer and model.tokenizer is None:
        return f"task {task.name} needs the model's tokenizer, and model {model.name!r} declares none"
    return None


def check_calibration_source(registry: Registry, experiment: Experiment, strategies: tuple[str, ...]) -> None:
    """Raise a one-line :class:`ShrinkBenchError` when a post-training strategy of ``strategies`` would draw its
    calibration from a dataset that is unknown or of another task than the experiment's."""
    source = experiment.calibration_source
    if source is None or not any(registry.strategy(s).calibration for s in strategies):
        return
    task = registry.dataset(source).task
    if task != experiment.task:
        raise ShrinkBenchError(f"--calibration-source {source} is a {task} dataset, {experiment.dataset} a "
                               f"{experiment.task} one: calibrate with a dataset of the same task")
