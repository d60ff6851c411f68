"""The report and the comparison as JSON (``shrinkbench report DIR --json``, ``shrinkbench compare ... --json``):
everything the HTML page shows, as data. NaN and missing numbers are ``null``; numbers are plain floats
(fractions for accuracies). The schemas are named by their ``"schema"`` key and described in the commands'
help (:data:`REPORT_SCHEMA`, :data:`COMPARE_SCHEMA`). Each experiment says its task (:func:`task_dict`): which
metric its summary columns, its dense value (``dense_<primary>``: ``dense_top1``, ``dense_perplexity``) and its
rankings are of, and which direction is better."""

from __future__ import annotations

import json
import math
from typing import Any

from shrinkbench import schema

from .confounders import FLIP_RULE, AxisReport, Cell, tau_rule
from .results import Results, dense_column
from .summary import SPREAD, Point
from .task_view import TaskView

REPORT_SCHEMA = "shrinkbench-report/1"
COMPARE_SCHEMA = "shrinkbench-compare/1"


def clean(value: Any) -> Any:
    """``value`` made JSON-strict: NaN and infinities become ``None``; tuples become lists; dict keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(document: dict[str, Any]) -> str:
    """The document as indented, strict JSON text."""
    return json.dumps(clean(document), indent=2, allow_nan=False)


def point_dict(point: Point) -> dict[str, Any]:
    """A summary row: method, target, seeds, finetune epochs, then ``{"mean", "std"}`` of each summary column of
    its task (its measured speedup, ``latency_speedup_64`` or for batch-1 tasks ``latency_speedup``, also has
    ``"xerr"``: the error bar's half-width)."""
    out: dict[str, Any] = {"strategy": point.strategy, "compression_target": point.compression_target,
                           "seeds": point.seeds, "finetune_epochs": point.epochs}
    for column in point.mean:
        out[column] = {"mean": point.mean[column], "std": point.std[column]}
    for column, half_width in point.xerr.items():
        out[column]["xerr"] = half_width
    return out


def task_dict(task: TaskView) -> dict[str, Any]:
    """A task: its name, primary metric, every metric with its direction and unit, and the note when the
    installed plugins do not know it (``null`` otherwise)."""
    return {"name": task.name, "primary": task.column,
            "metrics": [{"column": m.column, "higher_is_better": m.higher_is_better, "unit": m.unit}
                        for m in task.spec.metrics],
            "note": task.note or None}


def experiment_dict(e: Results, changes: dict[str, Any]) -> dict[str, Any]:
    """An experiment: identity, its task, changes from the base variant, run counts, what ran, the dense models'
    primary metric (``dense_top1``), the published reference (``null`` when its pair has none), whether it is
    comparable (``null``: unknown), fixed part."""
    reference = e.reference
    rows = e.rows
    return {
        "slug": e.slug, "label": e.label, "dataset": e.dataset, "model": e.model, "variant": e.variant,
        "task": task_dict(e.task), "fingerprint": e.fingerprint, "changes": changes, "runs": len(rows), "succeeded": len(rows) - len(e.failed),
        "failed": len(e.failed),
        "strategies": sorted({r[schema.STRATEGY] for r in rows}),
        "compression_targets": sorted({r[schema.TARGET] for r in rows}),
        "seeds": sorted({r[schema.SEED] for r in rows}),
        dense_column(e.task): {"mean": e.dense.mean, "std": e.dense.std, "seeds": e.dense.seeds},
        "reference": None if reference is None else {"top1": reference.top1, "source": reference.source,
                                                       "below": reference.below},
        "comparable": None if reference is None else not reference.below,
        "fixed": e.flat_fixed(),
    }


def summary_dicts(e: Results, lead: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary rows of ``e``, each led by ``lead`` (e.g. dataset, model, variant)."""
    return [{**lead, **point_dict(p)} for p in e.points]


def _cell(cell: Cell, rank: int) -> dict[str, Any]:
    return {"strategy": cell.method, "rank": rank, "mean": cell.mean, "std": cell.std, "seeds": cell.seeds,
            "by_seed": {str(s): v for s, v in cell.by_seed.items()}}


def _ranks(cells: list[Cell]) -> list[dict[str, Any]]:
    """Competition ranks (1, 2, 2, 4): equal means share the better rank."""
    out = []
    for i, cell in enumerate(cells):
        rank = out[-1]["rank"] if i and cell.mean == cells[i - 1].mean else i + 1
        out.append(_cell(cell, rank))
    return out


def confounders_dict(reports: list[AxisReport], base: str | None) -> dict[str, Any]:
    """The confounders section: the rules, the base variant, and per axis its rankings (each with the metric it
    ranks by and its direction), taus and flips."""
    axes = []
    for report in reports:
        axis = report.axis
        axes.append({
            "keys": list(axis.keys), "name": axis.name(), "base": axis.base, "variants": list(axis.variants),
            "rankings": [{"dataset": r.dataset, "model": r.model, "compression_target": r.target,
                          "metric": r.task.column, "higher_is_better": r.task.primary.higher_is_better,
                          "by_variant": {v: _ranks(cells) for v, cells in r.by_variant.items()},
                          "tau": [{"variant": t.variant, "means": t.means, "per_seed_mean": t.seed_mean,
                                   "per_seed_std": t.seed_std, "seeds": t.seeds} for t in r.taus]}
                         for r in report.rankings],
            "flips": [{"dataset": f.dataset, "model": f.model, "compression_target": f.target, "winner": f.winner,
                       "loser": f.loser, "under": f.first, "difference": f.first_diff, "se": f.first_se,
                       "reversed_under": f.second, "reversed_difference": f.second_diff, "reversed_se": f.second_se}
                      for f in report.flips],
            "within_noise": report.within_noise,
        })
    views = [r.task for report in reports for r in report.rankings]
    return {"base": base, "tau_rule": tau_rule(views), "flip_rule": FLIP_RULE, "axes": axes}


REPORT_KEYS = {
    "schema": f'"{REPORT_SCHEMA}"',
    "directory": "the results directory",
    "versions": "the CLI's version",
    "grid": "true when the directory holds several experiments",
    "title": "the page's title",
    "spread": f"how summary numbers are aggregated ({SPREAD})",
    "warnings": "lines: (dataset, model) pairs whose dense models fall short of the published top-1; a NOTE "
                "per task the installed plugins do not know (how it is read); a NOTE counting the runs whose "
                "measured speedup left the mask band",
    "experiments": "[{slug, dataset, model, variant, task: {name, primary, metrics: [{column, higher_is_better, "
                   "unit}], note}, fingerprint, changes, runs, succeeded, failed, strategies, compression_targets, "
                   "seeds, dense_<primary> (dense_top1, dense_perplexity): {mean, std, seeds}, reference: {top1, "
                   "source, below} | null, comparable, fixed}]",
    "summary": "[{dataset, model, variant, strategy, compression_target, seeds, finetune_epochs, <column>: {mean, std}}]",
    "figures": "[{name, caption, panels: [{dataset, model, variant}]}] (the PNG files a report without --json writes)",
    "sparsity": "{run_id, layers: [{name, shape, zeros, size}]} | null",
    "confounders": "{base, tau_rule, flip_rule, axes: [{keys, name, base, variants, rankings: [{dataset, model, "
                   "compression_target, metric, higher_is_better, by_variant: {variant: [{strategy, rank, mean, std, "
                   "seeds, by_seed}]} (best first), tau: "
                   "[{variant, means, per_seed_mean, per_seed_std, seeds}]}], flips: [{dataset, model, "
                   "compression_target, winner, loser, under, difference, se, reversed_under, reversed_difference, "
                   "reversed_se}], within_noise}]}",
    "failed_runs": "[{run_id, error}]",
}
"""The top-level keys of :data:`REPORT_SCHEMA` and what they hold (the command's help prints this)."""
