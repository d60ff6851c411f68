"""What a learning task is -- the batch form, the loss, the metrics and which direction is better -- as the frozen
spec a ``shrinkbench_tasks`` hook returns (re-exported by :mod:`shrinkbench.specs`), and what a task needs from
a model to turn a dataset's raw split into batches (a tokenizer, for text). Importable without torch.

A dataset names its task (:attr:`shrinkbench.DatasetSpec.task`), a model the tasks it serves
(:attr:`shrinkbench.ModelSpec.tasks`); the engine, the row invariant, the report and the confounder analysis ask
the task, never test for a task's name. Core registers two: ``classification`` (batches of images and integer
labels; top-1/top-5) and ``causal-lm`` (windows of a token stream and the next tokens; perplexity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .spec_base import Target, _check_name, _Spec

__all__ = ["CAUSAL_LM", "CLASSIFICATION", "PrepareContext", "Prepared", "TaskMetric", "TaskSpec", "Tokenizer"]

CLASSIFICATION = "classification"
CAUSAL_LM = "causal-lm"


@dataclass(frozen=True)
class TaskMetric:
    """One quality column a task's evaluation produces: its name (``top1``, ``perplexity``), what it is, its unit
    and whether a higher value is better. Rankings, Kendall's tau, flips, plot axes and captions follow
    ``higher_is_better``."""

    column: str
    description: str
    higher_is_better: bool
    unit: str = ""

    def __post_init__(self) -> None:
        _check_name("task metric", self.column, self.description)

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b``."""
        return a > b if self.higher_is_better else a < b

    @property
    def direction(self) -> str:
        """``"higher is better"`` or ``"lower is better"`` (for captions)."""
        return "higher is better" if self.higher_is_better else "lower is better"


@runtime_checkable
class Tokenizer(Protocol):
    """What a text task needs of a language model's tokenizer: ``encode(text) -> list[int]`` (no special tokens
    added), ``name`` (recorded in every row: two rows tokenized differently are not comparable), ``vocab_size``
    and ``context_length`` (the model's maximum sequence length, ``None`` when unknown)."""

    name: str
    vocab_size: int
    context_length: int | None

    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class PrepareContext:
    """What a task's ``prepare`` gets besides the raw split: which split it is (``train``/``test``), the model's
    tokenizer (``None`` for a model without one), the evaluation/training sequence length the sweep asks for
    (``None``: the model's own, see :attr:`Tokenizer.context_length`), the most test windows to evaluate
    (``max_windows``; ``None``: all), and the task's options."""

    split: str
    tokenizer: Tokenizer | None = None
    context_length: int | None = None
    max_windows: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    """A split turned into batches' items: ``dataset`` (a ``torch.utils.data.Dataset`` of ``(inputs, targets)``)
    and ``protocol``, what a row records about how it was made (e.g. ``eval_context``, ``eval_windows``,
    ``tokenizer``) -- columns of every row, so that rows made differently are told apart; ``eval_batch_size``:
    items per evaluation batch that suit them (``None``: the run's default)."""

    dataset: Any
    protocol: Mapping[str, Any] = field(default_factory=dict)
    eval_batch_size: int | None = None


@dataclass(frozen=True)
class TaskSpec(_Spec):
    """A learning task.

    ``evaluate(model, loader, loss_fn, autocast) -> dict[str, float]`` returns every :attr:`metrics` column and
    ``loss`` (mean over predictions) for ``model`` on ``loader``'s ``(inputs, targets)`` batches; it runs in eval
    mode under ``torch.inference_mode()`` and leaves every module's mode as it was. ``primary`` names the metric
    that ranks strategies, selects the best validation epoch and labels plots. ``prepare(raw, ctx:
    PrepareContext) -> Prepared`` (optional, lazily named) turns what the dataset's ``build`` returned into items
    -- for ``causal-lm`` the split's text into token windows; ``None``: the dataset yields ``(inputs, targets)``
    items itself. ``needs_tokenizer``: models serving this task must name a tokenizer. ``batch``: one line saying
    what a batch is, for ``shrinkbench list`` and errors. ``latency_batches``: the batch sizes at which forward
    time is measured (of the columns ``latency_ms`` at 1 and ``latency_ms_64`` at 64: a language model's windows
    are long, so ``causal-lm`` times batch 1 only).

    Example: ``TaskSpec("causal-lm", "Next-token prediction", "shrinkbench.evaluation:evaluate_lm",
    metrics=(TaskMetric("perplexity", "exp of the mean token NLL", False),), primary="perplexity")``
    """

    name: str
    description: str
    evaluate: Target
    metrics: tuple[TaskMetric, ...]
    primary: str
    prepare: Target | None = None
    needs_tokenizer: bool = False
    batch: str = ""
    latency_batches: tuple[int, ...] = (1, 64)

    _kind = "task"
    _work = "evaluate"

    def __post_init__(self) -> None:
        super().__post_init__()
        columns = [m.column for m in self.metrics]
        if len(set(columns)) != len(columns) or "loss" in columns:
            raise ValueError(f"task {self.name!r}: metric columns must be unique and not 'loss' (always reported)")
        if not set(self.latency_batches) <= {1, 64}:
            raise ValueError(f"task {self.name!r}: latency_batches must be among (1, 64), got {self.latency_batches}")
        if self.primary not in columns:
            raise ValueError(f"task {self.name!r}: primary {self.primary!r} is not one of its metrics {columns}")

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns :attr:`evaluate` returns: the metrics', then ``loss``."""
        return (*(m.column for m in self.metrics), "loss")

    @property
    def primary_metric(self) -> TaskMetric:
        """The metric that ranks strategies (:attr:`primary`)."""
        return self.metric(self.primary)

    def metric(self, column: str) -> TaskMetric:
        """The metric producing ``column``; ``KeyError`` for another column."""
        for metric in self.metrics:
            if metric.column == column:
                return metric
        raise KeyError(column)


def task_metric_columns(tasks: Sequence[TaskSpec]) -> dict[str, TaskMetric]:
    """Every quality column of ``tasks`` with its metric (a column two tasks share must mean the same)."""
    out: dict[str, TaskMetric] = {}
    for task in tasks:
        for metric in task.metrics:
            out.setdefault(metric.column, metric)
    return out


def check_task_name(name: str) -> None:
    """Raise ``ValueError`` for a task name that is not one word."""
    _check_name("task", name, "")
