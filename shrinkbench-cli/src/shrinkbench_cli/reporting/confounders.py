"""Confounders (Results III of the paper): does a change of the fixed part -- a recipe variant -- change which
strategy wins?

**Axes.** The *base* variant is ``default`` when the directory has it, else the first variant in sweep.json
order. A variant's *axis* is the set of fixed-configuration keys (dotted, ``finetune.lr``) in which its
experiment differs from the base variant's experiment of the same (dataset, model) pair; variants that change
the same keys share an axis (``lr-low`` and ``lr-high`` both lie on ``finetune.lr``), and each axis is
reported with the base and its variants.

**Rankings.** For each axis, (dataset, model) pair and target compression above 1 (at 1 nothing is pruned and
every strategy is the same model), the methods (strategies, with their schedule when not one-shot) are ranked
by the mean over seeds of the pair's task's primary metric on the test split (top-1; perplexity for a language
model) under each variant of the axis, best first: highest first, or lowest first for a metric where lower is
better (:class:`~.task_view.TaskView`).

**Kendall's tau.** Between the base's ranking and each other variant's, over the methods both have: tau-b
(:func:`~.kendall.tau_b`, ties counted) of the mean values, and its spread over seeds: for each seed both
variants ran, tau-b between that seed's values (the methods that seed has under both), then mean ± sample std
of those per-seed taus (NaN taus -- all tied -- left out). Both rankings of a pair use one metric, so tau of
the values is tau of the rankings whichever direction is better.

**Rank flips beyond seed noise** (:data:`FLIP_RULE`). For two variants ``u``, ``v`` of an axis and two
methods ``a``, ``b`` at one target, with ``d_u = mean_u(a) - mean_u(b)`` (negated for a metric where lower is
better: ``d_u > 0`` means ``a`` is better) and its standard error
``se_u = sqrt(s_a^2 / n_a + s_b^2 / n_b)`` (sample stds over the ``n`` seeds of each cell, unpaired), a flip is
``d_u * d_v < 0`` with ``|d_u| > se_u`` and ``|d_v| > se_v``; every cell needs 2 seeds or more (one seed
has no measured noise, so it never makes a flip). It is a screen, not a significance test: one standard
error, no correction for the many comparisons. Sign changes that miss the rule are counted
(``within_noise``), not listed.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from shrinkbench import schema
from shrinkbench.engine.config import DEFAULT_VARIANT

from .kendall import tau_b
from .results import Directory, Results
from .summary import method, successful
from .task_view import TaskView, all_plain, default_view, metrics_phrase

FLIP_RULE = ("a flip: method a beats b under one variant and b beats a under another, at the same compression, "
             "each mean difference larger than its standard error sqrt(s_a²/n_a + s_b²/n_b) (sample stds over "
             "seeds, 2 seeds or more per cell)")
TAU_RULE = ("Kendall's tau-b between the base variant's ranking and the other's (1: same order, -1: reversed; "
            "ties counted); 'per seed': tau-b of each common seed's top-1s, mean ± std over seeds")
"""How tau is computed, for a grid ranked by top-1 (:func:`tau_rule`)."""


def tau_rule(views: Sequence[TaskView]) -> str:
    """:data:`TAU_RULE` for a grid whose pairs have the tasks ``views``: as it is when all rank by top-1, else
    naming the metrics and that rankings put the best first."""
    if all_plain(views):
        return TAU_RULE
    return (TAU_RULE.replace("top-1s", "values") + f"; rankings: best first by each pair's primary metric "
            f"({metrics_phrase(views)})")


@dataclass(frozen=True)
class Axis:
    """A set of changed keys, the base variant and the variants that change exactly those keys (base first)."""

    keys: tuple[str, ...]
    base: str
    variants: tuple[str, ...]

    def name(self) -> str:
        """``finetune.lr``, ``finetune.epochs + finetune.lr``; ``(nothing)`` for a replicate of the base."""
        return " + ".join(self.keys) or "(nothing: same configuration)"


@dataclass(frozen=True)
class Cell:
    """One method under one variant at one target: the primary metric's mean and sample std over seeds, and
    each seed's value."""

    method: str
    mean: float
    std: float
    by_seed: dict[int, float]

    @property
    def seeds(self) -> int:
        return len(self.by_seed)


@dataclass(frozen=True)
class Tau:
    """Tau-b between the base's ranking and ``variant``'s: of the means, and per common seed (mean, std, count)."""

    variant: str
    means: float
    seed_mean: float
    seed_std: float
    seeds: int


@dataclass(frozen=True)
class Ranking:
    """The methods ranked (best first) under each variant of an axis, for one pair and target, and the taus;
    ``task``: the pair's task (its primary metric ranks them)."""

    dataset: str
    model: str
    target: float
    by_variant: dict[str, list[Cell]]
    taus: list[Tau]
    task: TaskView = field(default_factory=default_view)


@dataclass(frozen=True)
class Flip:
    """``winner`` beats ``loser`` under ``first`` by ``first_diff`` (> ``first_se``) and loses under ``second``
    (``second_diff`` < 0, ``|second_diff|`` > ``second_se``); differences are advantages in ``task``'s primary
    metric (positive: better)."""

    dataset: str
    model: str
    target: float
    winner: str
    loser: str
    first: str
    first_diff: float
    first_se: float
    second: str
    second_diff: float
    second_se: float
    task: TaskView = field(default_factory=default_view)


@dataclass(frozen=True)
class AxisReport:
    """An axis with its rankings, its flips beyond noise, and how many sign changes stayed within noise."""

    axis: Axis
    rankings: list[Ranking] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)
    within_noise: int = 0


def base_variant(directory: Directory) -> str:
    """``default`` when present, else the first variant of the directory."""
    variants = directory.variants()
    return DEFAULT_VARIANT if DEFAULT_VARIANT in variants else variants[0]


def variant_axes(directory: Directory) -> list[Axis]:
    """The axes of ``directory`` (see the module's docstring), in order of their first variant; ``[]`` for a
    directory of one variant."""
    base = base_variant(directory)
    by_pair: dict[tuple[str, str], dict[str, Results]] = {}
    for e in directory.experiments:
        by_pair.setdefault((e.dataset, e.model), {})[e.variant] = e
    axes: dict[tuple[str, ...], list[str]] = {}
    for experiments in by_pair.values():
        if base not in experiments:
            continue
        reference = experiments[base].flat_fixed()
        for name, e in experiments.items():
            if name == base:
                continue
            mine = e.flat_fixed()
            keys = tuple(sorted(k for k in set(reference) | set(mine)
                                if k != schema.VARIANT and reference.get(k) != mine.get(k)))
            members = axes.setdefault(keys, [])
            if name not in members:
                members.append(name)
    return [Axis(keys, base, (base, *names)) for keys, names in axes.items()]


def cells(experiment: Results, target: float) -> dict[str, Cell]:
    """The cells of ``experiment`` at ``target``, by method (successful runs with a finite value of its task's
    primary metric)."""
    values: dict[str, dict[int, float]] = {}
    column = experiment.task.column
    for row in successful(experiment.rows):
        value = row.get(column)
        if row[schema.TARGET] == target and isinstance(value, float) and math.isfinite(value):
            values.setdefault(method(row), {})[row[schema.SEED]] = value
    out = {}
    for name, by_seed in values.items():
        numbers = list(by_seed.values())
        std = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
        out[name] = Cell(name, statistics.fmean(numbers), std, dict(sorted(by_seed.items())))
    return out


def ranked(cells_: dict[str, Cell], task: TaskView | None = None) -> list[Cell]:
    """Best first by ``task``'s primary metric (default: top-1, highest first; lower-is-better metrics lowest
    first); equal means by name."""
    view = task or default_view()
    return sorted(cells_.values(), key=lambda c: (view.sort_key(c.mean), c.method))


def tau_between(base: dict[str, Cell], other: dict[str, Cell], variant: str) -> Tau:
    """Tau-b of the mean values of the methods in both, and its spread over the seeds both have (one metric
    on both sides: the same as tau of the rankings, whichever direction is better)."""
    common = sorted(set(base) & set(other))
    means = tau_b([base[m].mean for m in common], [other[m].mean for m in common]) if len(common) > 1 else math.nan
    seeds = sorted({s for m in common for s in base[m].by_seed} & {s for m in common for s in other[m].by_seed})
    per_seed = []
    for seed in seeds:
        both = [m for m in common if seed in base[m].by_seed and seed in other[m].by_seed]
        if len(both) > 1:
            value = tau_b([base[m].by_seed[seed] for m in both], [other[m].by_seed[seed] for m in both])
            if not math.isnan(value):
                per_seed.append(value)
    seed_mean = statistics.fmean(per_seed) if per_seed else math.nan
    seed_std = statistics.stdev(per_seed) if len(per_seed) > 1 else (0.0 if per_seed else math.nan)
    return Tau(variant, means, seed_mean, seed_std, len(per_seed))


def difference(a: Cell, b: Cell, task: TaskView | None = None) -> tuple[float, float]:
    """How much better ``a`` is than ``b`` by ``task``'s primary metric -- ``mean(a) - mean(b)``, negated when
    lower is better (default: top-1) -- and its standard error ``sqrt(s_a^2/n_a + s_b^2/n_b)``."""
    view = task or default_view()
    return view.advantage(a.mean, b.mean), math.sqrt(a.std**2 / a.seeds + b.std**2 / b.seeds)


def flips_between(u: str, cu: dict[str, Cell], v: str, cv: dict[str, Cell], where: tuple[str, str, float],
                  task: TaskView | None = None) -> tuple[list[Flip], int]:
    """The flips between variants ``u`` and ``v`` (see :data:`FLIP_RULE`) and the count of sign changes within
    noise, over the method pairs both variants have, by ``task``'s primary metric (default: top-1)."""
    view = task or default_view()
    flips, within = [], 0
    for a, b in itertools.combinations(sorted(set(cu) & set(cv)), 2):
        (du, su), (dv, sv) = difference(cu[a], cu[b], view), difference(cv[a], cv[b], view)
        if du * dv >= 0:
            continue
        enough = min(cu[a].seeds, cu[b].seeds, cv[a].seeds, cv[b].seeds) >= 2
        if not (enough and abs(du) > su and abs(dv) > sv):
            within += 1
            continue
        if du > 0:
            flips.append(Flip(*where, a, b, u, du, su, v, dv, sv, view))
        else:
            flips.append(Flip(*where, b, a, u, -du, su, v, -dv, sv, view))
    return flips, within


def confounders(directory: Directory) -> list[AxisReport]:
    """One :class:`AxisReport` per axis of ``directory`` (``[]`` without variants)."""
    reports = []
    for axis in variant_axes(directory):
        report = AxisReport(axis)
        within = 0
        for dataset, model in directory.pairs():
            experiments = {e.variant: e for e in directory.experiments
                           if (e.dataset, e.model) == (dataset, model) and e.variant in axis.variants}
            names = [v for v in axis.variants if v in experiments]
            if axis.base not in experiments or len(names) < 2:
                continue
            task = experiments[axis.base].task
            targets = sorted({p.compression_target for v in names for p in experiments[v].points} - {1.0})
            for target in (t for t in targets if t > 1):
                by_variant = {v: cells(experiments[v], target) for v in names}
                taus = [tau_between(by_variant[axis.base], by_variant[v], v) for v in names[1:]]
                report.rankings.append(Ranking(dataset, model, target,
                                               {v: ranked(c, task) for v, c in by_variant.items()}, taus, task))
                for u, v in itertools.combinations(names, 2):
                    found, inside = flips_between(u, by_variant[u], v, by_variant[v], (dataset, model, target),
                                                  task)
                    report.flips.extend(found)
                    within += inside
        reports.append(AxisReport(axis, report.rankings, report.flips, within))
    return reports
