"""The tables of a grid's report as text cells, shared by the terminal and the HTML page: the experiments
with their dense models, the rankings and taus of each confounder axis, the rank flips, the fixed
configurations side by side. A grid whose pairs all rank by top-1 reads as it always did; otherwise the dense
column and the rankings name each pair's metric and its direction (:mod:`.task_view`)."""

from __future__ import annotations

import json
import math
from typing import Any

from .confounders import AxisReport, Cell, Flip, Tau, base_variant
from .results import Directory, Results
from .task_view import all_plain

EXPERIMENT_HEADERS = ("dataset", "model", "variant", "changes", "runs", "failed", "dense top-1", "published",
                      "comparable")


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def changes(directory: Directory) -> dict[str, dict[str, Any]]:
    """Each experiment's (by slug) fixed-configuration keys that differ from the base variant's experiment of
    its pair, with its values (``{}`` for the base, and for an experiment whose pair lacks the base)."""
    base = base_variant(directory)
    bases = {(e.dataset, e.model): e.flat_fixed() for e in directory.experiments if e.variant == base}
    out = {}
    for e in directory.experiments:
        mine, reference = e.flat_fixed(), bases.get((e.dataset, e.model))
        out[e.slug] = {} if reference is None or e.variant == base else {
            k: mine.get(k) for k in sorted(set(mine) | set(reference)) if k != "variant" and mine.get(k) != reference.get(k)}
    return out


def changes_text(values: dict[str, Any]) -> str:
    """``finetune.lr=0.05, finetune.epochs=8``; ``-`` for none."""
    return ", ".join(f"{k}={_value(v)}" for k, v in values.items()) or "-"


def comparable_text(e: Results) -> str:
    """``yes``, ``NO: dense below published`` or ``unknown`` (no published top-1 for the pair)."""
    reference = e.reference
    if reference is None:
        return "unknown"
    return "NO: dense below published" if reference.below else "yes"


def dense_models_title(directory: Directory) -> str:
    """What the experiments table's dense column holds: ``... (test top-1, mean ± std over seeds)``; the
    primary metric of each pair, named in its cell, when they are not all top-1."""
    if all_plain(directory.tasks()):
        return "experiments and their dense models (test top-1, mean ± std over seeds)"
    return "experiments and their dense models (each pair's primary metric on the test split, mean ± std over seeds)"


def experiment_rows(directory: Directory) -> tuple[list[str], list[list[str]]]:
    """One row per experiment: identity, changes from the base variant, run counts, the dense models' primary
    metric (mean ± std over seeds; named in the cell, under the header ``dense model``, unless every pair's is
    top-1), the published top-1 with its source, whether its results are comparable."""
    diff = changes(directory)
    plain = all_plain(directory.tasks())
    rows = []
    for e in directory.experiments:
        reference = e.reference
        published = f"{reference.top1:.4f} ({reference.source})" if reference else "-"
        dense = e.dense.text() if plain else f"{e.task.named} {e.dense.text()}"
        rows.append([e.dataset, e.model, e.variant, changes_text(diff[e.slug]), str(len(e.rows)), str(len(e.failed)),
                     dense, published, comparable_text(e)])
    headers = list(EXPERIMENT_HEADERS)
    if not plain:
        headers[headers.index("dense top-1")] = "dense model"
    return headers, rows


def ranking_text(cells: list[Cell], means: bool = False, higher_is_better: bool = True) -> str:
    """``a > b = c`` (best first; ``=`` between equal means), with each mean when ``means``; for a metric where
    lower is better ``a < b = c`` (best first still: the sign compares the values)."""
    if not cells:
        return "-"
    order = "> " if higher_is_better else "< "
    parts = [f"{cells[0].method}" + (f" {cells[0].mean:.4f}" if means else "")]
    for previous, cell in zip(cells, cells[1:], strict=False):
        parts.append(("= " if cell.mean == previous.mean else order) + cell.method + (f" {cell.mean:.4f}" if means else ""))
    return " ".join(parts)


def number(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, ``-`` for NaN."""
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def tau_text(tau: Tau) -> tuple[str, str]:
    """The cells of a tau: of the means, and per seed ``mean ± std (n seeds)``."""
    if tau.seeds == 0:
        per_seed = "-"
    else:
        spread = f" ± {tau.seed_std:.2f}" if tau.seeds > 1 else ""
        per_seed = f"{tau.seed_mean:.2f}{spread} ({tau.seeds} seed{'s' * (tau.seeds > 1)})"
    return number(tau.means), per_seed


def ranked_by(report: AxisReport) -> bool:
    """Whether the rankings' tables name the metric they rank by (in a column ``ranked by``): unless every
    pair ranks by top-1."""
    return not all_plain(r.task for r in report.rankings)


def ranking_rows(report: AxisReport, means: bool = False) -> tuple[list[str], list[list[str]]]:
    """One row per (pair, target) of an axis: the metric ranked by (:func:`ranked_by`), the ranking under each
    variant (best first: ``a > b`` reads "a is better than b"), then tau (means, per seed) between the base and
    each other variant."""
    variants = report.axis.variants
    named = ranked_by(report)
    headers = ["dataset", "model", "target", *["ranked by"] * named, *(f"ranking under {v}" for v in variants)]
    for v in variants[1:]:
        headers += [f"tau {v} (means)", f"tau {v} (per seed)"]
    rows = []
    for r in report.rankings:
        taus = {t.variant: tau_text(t) for t in r.taus}
        row = [r.dataset, r.model, f"{r.target:g}", *[r.task.phrase] * named,
               *(ranking_text(r.by_variant.get(v, []), means, r.task.primary.higher_is_better) for v in variants)]
        for v in variants[1:]:
            row += list(taus.get(v, ("-", "-")))
        rows.append(row)
    return headers, rows


FLIP_HEADERS = ("dataset", "model", "target", "winner", "loser", "under", "difference ± se", "reversed under",
                "difference ± se")


def flip_rows(report: AxisReport) -> tuple[list[str], list[list[str]]]:
    """One row per flip beyond noise: where, the metric (:func:`ranked_by`), who wins under which variant by how
    much (an advantage in that metric), and the reverse."""
    named = ranked_by(report)
    rows = [[f.dataset, f.model, f"{f.target:g}", *[f.task.phrase] * named, f.winner, f.loser, f.first,
             f"+{f.first_diff:.4f} ± {f.first_se:.4f}", f.second, f"{f.second_diff:.4f} ± {f.second_se:.4f}"]
            for f in report.flips]
    headers = list(FLIP_HEADERS)
    return headers[:3] + ["ranked by"] * named + headers[3:], rows


def flip_line(f: Flip) -> str:
    """A flip in one sentence (naming the metric unless it is top-1)."""
    metric = "" if f.task.plain else f" {f.task.named}"
    line = (f"{f.dataset} · {f.model} at {f.target:g}x: {f.winner} beats {f.loser} under {f.first} by "
            f"{f.first_diff:.4f}{metric} (se {f.first_se:.4f}) but loses under {f.second} by {-f.second_diff:.4f}"
            f"{metric} (se {f.second_se:.4f})")
    return line if f.task.plain else f"{line}; {f.task.primary.direction}"


def axis_title(report: AxisReport) -> str:
    """``finetune.lr: default (base) vs lr-high, lr-low``."""
    axis = report.axis
    return f"{axis.name()}: {axis.base} (base) vs {', '.join(axis.variants[1:])}"


def flips_summary(report: AxisReport) -> str:
    """How many flips exceed the seeds' noise, and how many sign changes stayed within it."""
    within = f"; {report.within_noise} sign change{'s' * (report.within_noise != 1)} within noise"
    if not report.flips:
        return f"no rank flip exceeds the seeds' noise{within}"
    count = len(report.flips)
    return f"{count} rank flip{'s exceed' if count > 1 else ' exceeds'} the seeds' noise{within}"


def fixed_rows(directory: Directory) -> tuple[list[str], list[list[str]]]:
    """The fixed configurations side by side: one row per key (dotted), one column per experiment, then the
    fingerprints."""
    flats = [e.flat_fixed() for e in directory.experiments]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    rows = [[k, *(_value(f.get(k, "-")) for f in flats)] for k in keys]
    rows.append(["fingerprint", *(e.fingerprint for e in directory.experiments)])
    return ["key", *(e.slug for e in directory.experiments)], rows
