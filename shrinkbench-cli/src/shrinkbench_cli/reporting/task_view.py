"""Which learning task an experiment of a results directory holds, and how the report names and orders its
metrics: the one place the report asks the task (:func:`resolve_tasks`), instead of assuming top-1.

An experiment's task is named by its fixed configuration in sweep.json (``"task": "causal-lm"``; the key is
left out at its default, so an absent key means ``classification``) and looked up in the installed registry
(:meth:`shrinkbench.plugins.Registry.task`). Its *primary* metric ranks the strategies, is the y axis of every
plot and the dense reference; its ``higher_is_better`` orders rankings, Kendall's tau and flips.

**Wording.** A report whose every primary metric is top-1, higher is better (:attr:`TaskView.plain`), reads as it
always did ("accuracy after finetuning", "dense top-1"). Any other metric is named, with its direction:
"perplexity (test, after finetuning), lower is better".

**A task the registry does not know** (its plugin was uninstalled) falls back in one way: its primary column
is the metric whose dense value its rows record (``dense_<column>``, written for the primary metric only); the
direction is that of a registered task's metric of the same column, else higher is better; a ``NOTE:`` line
(:attr:`TaskView.note`) says so. Without such a column the experiment is read as classification.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shrinkbench import schema
from shrinkbench.errors import ShrinkBenchError
from shrinkbench.task_spec import CLASSIFICATION, TaskMetric, TaskSpec, task_metric_columns

from .summary import LATENCY_SPEEDUP

TASK_KEY = "task"
"""The fixed-configuration key naming an experiment's task (absent: :data:`CLASSIFICATION`)."""

PROTOCOL_COLUMNS = (schema.EVAL_CONTEXT, schema.EVAL_WINDOWS, schema.TOKENIZER)
"""How a row's metric was measured (a language model's window length and count, its tokenizer): rows that
differ in them do not compare."""

_LABELS: dict[str, tuple[str, str, str]] = {
    # column: (table header, name in sentences, name on a plot's axis)
    schema.TOP1: ("top1", "top-1", "top-1 accuracy"),
    schema.TOP5: ("top5", "top-5", "top-5 accuracy"),
    "perplexity": ("ppl", "perplexity", "perplexity"),
    "token_top1": ("token top1", "token top-1", "next-token top-1 accuracy"),
}
"""Short names of the built-in tasks' metrics; another metric is called by its column (``_`` as a space)."""


def _label(column: str, which: int) -> str:
    known = _LABELS.get(column)
    return known[which] if known else column.replace("_", " ")


@dataclass(frozen=True)
class TaskView:
    """How the report shows one experiment's task: its :class:`~shrinkbench.task_spec.TaskSpec` (``spec``), and
    ``note``, a ``NOTE: ...`` line when the installed registry does not know the task (see the module's
    docstring; ``""`` otherwise)."""

    spec: TaskSpec
    note: str = ""

    @property
    def name(self) -> str:
        """The task's name (``classification``, ``causal-lm``, a plugin's)."""
        return self.spec.name

    @property
    def primary(self) -> TaskMetric:
        """The metric that ranks strategies and is plotted."""
        return self.spec.primary_metric

    @property
    def column(self) -> str:
        """The primary metric's results.csv column (``top1``, ``perplexity``)."""
        return self.spec.primary

    @property
    def plain(self) -> bool:
        """Whether the primary metric is top-1, higher is better: the report's historic wording applies."""
        return self.column == schema.TOP1 and self.primary.higher_is_better

    @property
    def quality(self) -> tuple[str, ...]:
        """The quality columns of the report table: the primary metric before finetuning, then every metric."""
        return (schema.pre(self.column), *(m.column for m in self.spec.metrics))

    @property
    def latency_batch(self) -> int:
        """The batch size of the measured speedup the report shows: 64 when the task times it, else 1
        (``causal-lm`` times batch 1 only: its windows are long)."""
        return 64 if 64 in self.spec.latency_batches else 1

    @property
    def latency_column(self) -> str:
        """The column of that measured speedup: ``latency_speedup_64`` or ``latency_speedup`` (batch 1)."""
        return LATENCY_SPEEDUP if self.latency_batch == 64 else "latency_speedup"

    @property
    def summary_columns(self) -> tuple[str, ...]:
        """Every column a summary point aggregates: compression, theoretical and measured speedup, quality."""
        return (schema.COMPRESSION, schema.SPEEDUP, self.latency_column, *self.quality)

    @property
    def headers(self) -> tuple[str, ...]:
        """The table headers of the measured speedup and :attr:`quality`: ``measured b64, top1 pre-ft, top1,
        top5``; ``measured b1, ppl pre-ft, ppl, token top1``."""
        return (f"measured b{self.latency_batch}", f"{_label(self.column, 0)} pre-ft",
                *(_label(m.column, 0) for m in self.spec.metrics))

    def digits(self, column: str) -> int:
        """Decimals shown for ``column``: 2 for ratios (compression, speedups) and for metrics that are not
        fractions (perplexity), 4 for fractions (accuracies) and unknown units."""
        base = column.removesuffix(schema.PRE_SUFFIX)
        metric = next((m for m in self.spec.metrics if m.column == base), None)
        if metric is None:
            return 4 if base in self.quality else 2
        return 4 if not metric.unit or metric.unit.startswith("fraction") else 2

    @property
    def short(self) -> str:
        """The primary metric's table header: ``top1``, ``ppl``."""
        return _label(self.column, 0)

    @property
    def named(self) -> str:
        """The primary metric in a sentence: ``top-1``, ``perplexity``."""
        return _label(self.column, 1)

    @property
    def direction(self) -> str:
        """``, lower is better`` (or ``, higher is better``) to follow the metric's name; ``""`` when
        :attr:`plain`."""
        return "" if self.plain else f", {self.primary.direction}"

    @property
    def phrase(self) -> str:
        """The primary metric with its direction: ``top-1`` (plain), ``perplexity (lower is better)``."""
        return self.named if self.plain else f"{self.named} ({self.primary.direction})"

    def caption(self, selections: str) -> str:
        """What a summary table's cells are: ``accuracy after finetuning (test split, select: final)``;
        ``perplexity after finetuning, lower is better (test split, ...)``."""
        subject = "accuracy" if self.plain else _label(self.column, 2)
        return f"{subject} after finetuning{self.direction} (test split, select: {selections})"

    def axis_label(self, panel: bool = False) -> str:
        """The y label of a plot (``panel``: of a small multiple, shorter): ``top-1 accuracy (test, after
        finetuning), mean over seeds``; ``perplexity (test, after finetuning), lower is better, ...``."""
        name = self.named if panel else _label(self.column, 2)
        return f"{name} (test, after finetuning){self.direction}" + ("" if panel else ", mean over seeds")

    def sort_key(self, value: float) -> float:
        """Ascending order of this key is best first."""
        return -value if self.primary.higher_is_better else value

    def advantage(self, a: float, b: float) -> float:
        """By how much value ``a`` is better than ``b`` (negative: worse), in the metric's units."""
        return a - b if self.primary.higher_is_better else b - a


def metrics_phrase(views: Iterable[TaskView]) -> str:
    """The primary metrics of ``views`` in a sentence, each once: ``top-1``; ``perplexity (lower is better) /
    top-1``."""
    return " / ".join(dict.fromkeys(v.phrase for v in views)) or "top-1"


def all_plain(views: Iterable[TaskView]) -> bool:
    """Whether every view is :attr:`TaskView.plain` (the report reads as it always did)."""
    return all(v.plain for v in views)


def core_task(name: str = CLASSIFICATION) -> TaskSpec:
    """Core's own task spec called ``name`` (what core registers through its ``shrinkbench_tasks`` hook)."""
    from shrinkbench.metrics.plugin import shrinkbench_tasks

    return next(t for t in shrinkbench_tasks() if t.name == name)


def default_view() -> TaskView:
    """The view of the default task, classification (for an experiment read without a registry)."""
    return TaskView(core_task())


def task_name(fixed: Mapping[str, Any]) -> str:
    """The task an experiment's fixed configuration names (absent: ``classification``)."""
    return str(fixed.get(TASK_KEY) or CLASSIFICATION)


def _registered(registry: Any) -> list[TaskSpec]:
    try:
        return [entry.spec for entry in registry.list("tasks")]
    except ShrinkBenchError:
        return []


def _recorded_primary(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """The column whose dense value the rows record (``dense_<column>``, finite somewhere), in schema order."""
    found = {c[len(schema.dense("")):] for r in rows for c, v in r.items()
             if c.startswith(schema.dense("")) and isinstance(v, (int, float)) and math.isfinite(v)}
    return next(iter(schema.order_columns(found)), None)


def fallback_view(name: str, rows: Sequence[Mapping[str, Any]], registry: Any) -> TaskView:
    """The view of a task ``registry`` does not know (see the module's docstring), with its note."""
    column = _recorded_primary(rows)
    if column is None:
        return TaskView(core_task(), f"NOTE: task {name!r} is not installed (no plugin registers it) and its rows "
                                     "record no dense metric: read as classification (top-1)")
    known = task_metric_columns(_registered(registry)).get(column)
    higher = known.higher_is_better if known else True
    direction = "higher is better" if higher else "lower is better"
    source = f"as the installed tasks' {column!r}" if known else "assumed: no installed task knows it"
    metric = TaskMetric(column, f"{column} (task {name} is not installed)", higher)
    spec = TaskSpec(name, "not installed: read from its rows", "shrinkbench_cli.reporting.task_view:default_view",
                    metrics=(metric,), primary=column)
    return TaskView(spec, f"NOTE: task {name!r} is not installed (no plugin registers it): its results are ranked "
                          f"by {column!r}, the metric its rows record for the dense model, {direction} ({source}); "
                          f"install the plugin that registers it for its own metrics")


def resolve_task(registry: Any, fixed: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> TaskView:
    """The view of the task of the experiment with fixed configuration ``fixed`` and rows ``rows``: the
    registry's spec, or :func:`fallback_view` when the registry does not know it."""
    name = task_name(fixed)
    try:
        return TaskView(registry.task(name))
    except (ShrinkBenchError, KeyError):
        return fallback_view(name, rows, registry)


def default_registry() -> Any:
    """The installed plugins' registry (built once per process)."""
    from shrinkbench.plugins import get_registry

    return get_registry()


def protocol(rows: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """How the successful ``rows`` measured their metric: ``{protocol column: its distinct values}`` for the
    :data:`PROTOCOL_COLUMNS` they record (``{}`` for rows without one, e.g. classification)."""
    out: dict[str, tuple[str, ...]] = {}
    for column in PROTOCOL_COLUMNS:
        values = {schema.format_value(r.get(column)) for r in rows
                  if r.get(schema.STATUS, schema.STATUS_OK) == schema.STATUS_OK}
        values.discard("")
        if values:
            out[column] = tuple(sorted(values))
    return out


def protocol_text(measured: Mapping[str, tuple[str, ...]]) -> str:
    """``eval_context 32, eval_windows 84, tokenizer toy-chars-v1``; ``none recorded`` for ``{}``."""
    return ", ".join(f"{c} {'/'.join(v)}" for c, v in measured.items()) or "none recorded"
