"""Aggregate result rows over seeds: mean and sample standard deviation per (strategy, target compression),
and the dense reference (one dense model per seed)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from shrinkbench import schema

LATENCY_SPEEDUP = "latency_speedup_64"
LATENCY_SPEEDUP_SPREAD = f"{LATENCY_SPEEDUP}_spread"
SUMMARY_COLUMNS = (schema.COMPRESSION, schema.SPEEDUP, LATENCY_SPEEDUP, schema.pre(schema.TOP1), schema.TOP1,
                   schema.TOP5)
"""The columns a classification experiment's points aggregate (another task's: its
:attr:`~.task_view.TaskView.summary_columns`)."""

SPREAD = "mean ± std over seeds"
"""How every aggregated number is shown: mean and sample standard deviation (n - 1) over the seeds; a single
seed has no spread and shows its value alone. Used in table headers, plot legends and captions."""

MEASURED_BAR = "± measured half-IQR and std over seeds, in quadrature"
"""What the measured speedup's x error bar shows (see :func:`measured_bar`), in legends and captions."""


@dataclass(frozen=True)
class Point:
    """One point of a curve: a method (a strategy, with its schedule when it is not one-shot) at a target
    compression, over its seeds, and the finetuning epochs it spent (its budget)."""

    strategy: str
    compression_target: float
    seeds: int
    mean: dict[str, float]
    std: dict[str, float]
    epochs: int | None = None
    xerr: dict[str, float] = field(default_factory=dict)
    """Half-width of the x error bar by x column, where it has one (:data:`LATENCY_SPEEDUP`: :func:`measured_bar`)."""


@dataclass(frozen=True)
class Dense:
    """The primary metric on the test split (top-1 for classification) of the dense models the runs started from: mean and sample std over seeds (one per seed)."""

    mean: float
    std: float
    seeds: int

    def text(self, digits: int = 4) -> str:
        """``0.9500 ± 0.0030 (3 seeds)``; ``0.9500 (1 seed)``; ``unknown`` when no row recorded it."""
        if self.seeds == 0:
            return "unknown"
        return f"{mean_std(self.mean, self.std, self.seeds, digits)} ({seed_text(self.seeds)})"


def seed_text(low: int, high: int | None = None) -> str:
    """``1 seed``, ``3 seeds``, or ``1-3 seeds`` when the points of a curve have different seed counts."""
    high = low if high is None else high
    count = f"{low}" if low == high else f"{low}-{high}"
    return f"{count} seed{'' if high == 1 else 's'}"


def mean_std(mean: float, std: float, seeds: int, digits: int) -> str:
    """``mean ± std`` with ``digits`` decimals; the mean alone for one seed; ``-`` for a missing value."""
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if seeds > 1 else f"{mean:.{digits}f}"


def _finite(values: list[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not math.isnan(v)]


def _spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample std of ``values`` (NaN, 0 when empty; std 0 for one value)."""
    mean = statistics.fmean(values) if values else math.nan
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def measured_bar(rows: list[dict[str, Any]], column: str = LATENCY_SPEEDUP) -> float:
    """Half-width of the measured speedup's error bar over ``rows`` (the seeds of one point).

    Each run measured its speedup ``v`` with a relative spread ``s`` (interquartile range / median of its
    per-pair ratios): its own uncertainty is the half-IQR ``h = v * s / 2``. The point is the mean over seeds,
    so the bar pools the two sources as in the law of total variance: ``sqrt(std(v)**2 + mean(h**2))``, the
    sample std over seeds (0 for one seed) and the root mean square of the runs' half-IQRs. One seed: its
    half-IQR. NaN when no run recorded a spread (results written before spreads were measured). ``column``:
    the measured speedup (batch 64 by default, ``latency_speedup`` for batch 1), its spread ``<column>_spread``.
    """
    measured = [_finite([r.get(column), r.get(f"{column}_spread")]) for r in rows]
    halves = [pair[0] * pair[1] / 2 for pair in measured if len(pair) == 2]
    if not halves:
        return math.nan
    _, std = _spread(_finite([r.get(column) for r in rows]))
    return math.sqrt(std**2 + statistics.fmean(h * h for h in halves))


def successful(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose run succeeded (status ``ok``), in their order."""
    return [r for r in rows if r.get(schema.STATUS, schema.STATUS_OK) == schema.STATUS_OK]


def method(row: dict[str, Any]) -> str:
    """How a row's method is named: its strategy, ``strategy+schedule`` when the schedule is not one-shot, so
    that schedules with different finetuning budgets never share a curve."""
    schedule = row.get(schema.SCHEDULE) or "oneshot"
    return row[schema.STRATEGY] if schedule == "oneshot" else f"{row[schema.STRATEGY]}+{schedule}"


def summarize(rows: list[dict[str, Any]], columns: tuple[str, ...] = SUMMARY_COLUMNS,
              measured: str = LATENCY_SPEEDUP) -> list[Point]:
    """Mean and sample std (0 for one seed) of ``columns`` (the task's summary columns), per method
    (:func:`method`) and target, over the successful runs (rows typed by :func:`shrinkbench.schema.parse_row`),
    sorted by method then target; the x error bar of ``measured`` (the task's measured speedup column) by
    :func:`measured_bar`."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for row in successful(rows):
        groups.setdefault((method(row), row[schema.TARGET]), []).append(row)
    points = []
    for (name, target), members in sorted(groups.items()):
        spreads = {col: _spread(_finite([r.get(col) for r in members])) for col in columns}
        budgets = [r[schema.FINETUNE_EPOCHS] for r in members if isinstance(r.get(schema.FINETUNE_EPOCHS), int)]
        points.append(Point(name, target, len(members), {c: s[0] for c, s in spreads.items()},
                            {c: s[1] for c, s in spreads.items()}, max(budgets) if budgets else None,
                            {measured: measured_bar(members, measured)}))
    return points


def dense_reference(rows: list[dict[str, Any]], column: str = schema.DENSE_TOP1) -> Dense:
    """Mean and sample std of the dense models' test primary metric over seeds (``column``: ``dense_top1``,
    ``dense_perplexity``; one value per seed, the
    same in every row of that seed that recorded it, failed runs included; a row without it -- a lost worker's --
    does not hide the others'). ``seeds`` is 0 when no row recorded it."""
    by_seed: dict[Any, float] = {}
    for r in rows:
        value = r.get(column)
        if isinstance(value, (int, float)) and math.isfinite(value):
            by_seed.setdefault(r[schema.SEED], float(value))
    values = list(by_seed.values())
    return Dense(*_spread(values), len(values))
