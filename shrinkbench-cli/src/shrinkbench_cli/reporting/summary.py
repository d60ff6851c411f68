"""Aggregate result rows over seeds: mean and standard deviation per (strategy, target compression)."""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from shrinkbench.errors import ShrinkBenchError

SUMMARY_COLUMNS = ("compression", "speedup", "top1_pre", "top1", "top5")


@dataclass(frozen=True)
class Point:
    """One point of a curve: a strategy at a target compression, over its seeds."""

    strategy: str
    compression_target: float
    seeds: int
    mean: dict[str, float]
    std: dict[str, float]


def read_rows(directory: str | Path) -> list[dict[str, str]]:
    """The rows of ``DIR/results.csv``; a one-line error when there is none."""
    path = Path(directory) / "results.csv"
    if not path.exists():
        raise ShrinkBenchError(f"no results.csv in {directory}: run 'shrinkbench bench --out {directory}' first")
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def summarize(rows: list[dict[str, str]]) -> list[Point]:
    """Mean and std (0 for one seed) of the summary columns, per strategy and target, for successful runs."""
    groups: dict[tuple[str, float], list[dict[str, str]]] = {}
    for row in rows:
        if row.get("status", "ok") == "ok":
            groups.setdefault((row["strategy"], _number(row["compression_target"])), []).append(row)
    points = []
    for (strategy, target), members in sorted(groups.items()):
        mean, std = {}, {}
        for col in SUMMARY_COLUMNS:
            values = [_number(r.get(col)) for r in members]
            values = [v for v in values if not math.isnan(v)]
            mean[col] = statistics.fmean(values) if values else math.nan
            std[col] = statistics.stdev(values) if len(values) > 1 else 0.0
        points.append(Point(strategy, target, len(members), mean, std))
    return points


def dense_reference(rows: list[dict[str, str]]) -> float:
    """Mean test top-1 of the dense models the runs started from (NaN when unknown)."""
    by_seed = {r["seed"]: _number(r.get("dense_top1")) for r in rows}
    values = [v for v in by_seed.values() if not math.isnan(v)]
    return statistics.fmean(values) if values else math.nan
