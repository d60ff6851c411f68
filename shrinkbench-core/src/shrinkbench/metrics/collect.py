"""Collecting every installed metric's columns for one model: what a run records before and after finetuning."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import MetricNote, ShrinkBenchError, one_line
from ..losses import LossFn, cross_entropy
from ..task_spec import CLASSIFICATION
from . import MetricContext

if TYPE_CHECKING:
    from torch import Tensor, nn

    from ..plugins import Registry
    from ..specs import MetricSpec

__all__ = ["Measurement", "applies", "check_metric_columns", "measure_all"]


@dataclass
class Measurement:
    """Values by column, and one note per metric that failed (its columns are NaN)."""

    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def measure_all(registry: Registry, model: nn.Module, example_input: Tensor, loader: Iterable[Any] | None,
                data_only: bool = False, loss_fn: LossFn = cross_entropy,
                reference: Mapping[str, float] | None = None,
                autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                skip_data: bool = False, dense: nn.Module | None = None, task: str = CLASSIFICATION,
                latency_batches: tuple[int, ...] = (1, 64)) -> Measurement:
    """Every installed metric's columns for ``model`` (only the metrics that need data with ``data_only``, only
    those that need none with ``skip_data``), compared with the dense model's own values ``reference`` where a
    metric does (compression, speedups), and with the ``dense`` model itself where a metric measures side by side
    (latency); ``autocast`` is the run's precision (see :class:`MetricContext`). Only the metrics that apply to
    ``task`` (the dataset's; :attr:`shrinkbench.MetricSpec.task`) run; ``latency_batches`` are the task's.

    Data metrics get ``loader``, the others none. A metric that raises, or returns a value that is not a
    number, yields NaN columns and a note naming it, so one faulty third-party metric does not lose a run; a
    :class:`shrinkbench.errors.MetricNote` warning a metric raises becomes a note too.
    """
    out = Measurement()
    for entry in registry.list("metrics"):
        spec = entry.spec
        if (data_only and not spec.needs_data) or (skip_data and spec.needs_data) or not applies(spec, task):
            continue
        ctx = MetricContext(model, example_input, loader if spec.needs_data else None, loss_fn, reference, autocast,
                            dense, latency_batches)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MetricNote)
                values = spec.load()(ctx)
            out.values.update({c: float(values[c]) for c in spec.columns})
        except Exception as exc:  # noqa: BLE001 - a faulty plugin metric must not lose the run
            out.values.update(dict.fromkeys(spec.columns, math.nan))
            out.notes.append(f"metric {spec.name!r} ({entry.plugin}) failed: {one_line(exc)}")
            continue
        for warning in caught:
            if issubclass(warning.category, MetricNote):
                out.notes.append(f"metric {spec.name!r}: {one_line(warning.message, with_type=False)}")
            else:  # not ours to swallow
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return out


def applies(spec: MetricSpec, task: str) -> bool:
    """Whether the metric ``spec`` measures models of ``task`` (a metric without a task measures every one)."""
    return spec.task is None or spec.task == task


def check_metric_columns(registry: Registry) -> None:
    """Raise :class:`ShrinkBenchError` when two installed metrics that apply to one task produce the same
    column (metrics of different tasks may: both ``accuracy`` and ``perplexity`` report ``loss``)."""
    tasks = {e.name for e in registry.list("tasks")} | {e.spec.task for e in registry.list("metrics") if e.spec.task}
    for task in sorted(tasks) or [CLASSIFICATION]:
        owner: dict[str, str] = {}
        for entry in registry.list("metrics"):
            if not applies(entry.spec, task):
                continue
            for column in entry.spec.columns:
                if column in owner:
                    raise ShrinkBenchError(f"metrics {owner[column]!r} and {entry.name!r} both produce column "
                                           f"{column!r}; disable one plugin")
                owner[column] = entry.name
