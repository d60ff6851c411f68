"""Aggregate result rows over seeds: mean and standard deviation per (strategy, target compression)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from shrinkbench import schema

SUMMARY_COLUMNS = (schema.COMPRESSION, schema.SPEEDUP, schema.pre(schema.TOP1), schema.TOP1, schema.TOP5)


@dataclass(frozen=True)
class Point:
    """One point of a curve: a strategy at a target compression, over its seeds."""

    strategy: str
    compression_target: float
    seeds: int
    mean: dict[str, float]
    std: dict[str, float]


def _finite(values: list[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not math.isnan(v)]


def summarize(rows: list[dict[str, Any]]) -> list[Point]:
    """Mean and std (0 for one seed) of the summary columns, per strategy and target, for successful runs
    (rows typed by :func:`shrinkbench.schema.parse_row`)."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get(schema.STATUS, schema.STATUS_OK) == schema.STATUS_OK:
            groups.setdefault((row[schema.STRATEGY], row[schema.TARGET]), []).append(row)
    points = []
    for (strategy, target), members in sorted(groups.items()):
        mean, std = {}, {}
        for col in SUMMARY_COLUMNS:
            values = _finite([r.get(col) for r in members])
            mean[col] = statistics.fmean(values) if values else math.nan
            std[col] = statistics.stdev(values) if len(values) > 1 else 0.0
        points.append(Point(strategy, target, len(members), mean, std))
    return points


def dense_reference(rows: list[dict[str, Any]]) -> float:
    """Mean test top-1 of the dense models the runs started from (NaN when unknown)."""
    by_seed = {r[schema.SEED]: r.get(schema.DENSE_TOP1) for r in rows}
    values = _finite(list(by_seed.values()))
    return statistics.fmean(values) if values else math.nan
