"""A results directory, read once for reporting (:func:`load_directory`): its experiments -- one per (dataset,
model, variant), each a :class:`Results` with its fixed configuration, rows, curves and dense reference -- in
sweep.json order. A directory of one experiment is reported exactly as before grids existed; a directory of
several (a grid) gets panels per pair and a confounders section. Each experiment carries its task's view
(:mod:`.task_view`): which metric its points aggregate, rank and plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shrinkbench import schema
from shrinkbench.engine.config import DEFAULT_VARIANT

from .inputs import read_store
from .summary import Dense, Point, dense_reference, successful, summarize
from .task_view import TaskView, default_registry, default_view, resolve_task


@dataclass(frozen=True)
class Reference:
    """The published dense top-1 of an experiment's (dataset, model) pair and its source, as its rows record it;
    ``below``: some dense model of the experiment falls short of it (its results are not comparable)."""

    top1: float
    source: str
    below: bool


@dataclass(frozen=True)
class Results:
    """What the report shows of one experiment (or of one whole directory, :meth:`Directory.merged`). ``label``
    names it in tables and legends (the directory's base name for a one-experiment directory); ``fixed`` and
    ``fingerprint`` come from ``sweep.json``; ``slug`` is the experiment's name (run ids start with it);
    ``task``: how its task is shown (its points and ``dense`` are of that task's primary metric)."""

    directory: Path
    label: str
    fixed: dict[str, Any]
    fingerprint: str
    rows: list[dict[str, Any]]
    points: list[Point]
    dense: Dense
    slug: str = ""
    task: TaskView = field(default_factory=default_view)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of failed runs, in file order."""
        return [r for r in self.rows if r.get(schema.STATUS) == schema.STATUS_FAILED]

    @property
    def selection(self) -> str:
        """How the reported epoch was chosen: ``final`` or ``best-val`` (``final`` when not recorded)."""
        return str(self.fixed.get("selection", "final"))

    def _identity(self, column: str) -> str:
        value = self.fixed.get(column)
        if value is None:
            values = sorted({str(r.get(column, "")) for r in self.rows} - {""})
            value = "+".join(values) or "?"
        return str(value)

    @property
    def dataset(self) -> str:
        """The dataset (from the fixed configuration, else the rows; ``a+b`` for a merged grid)."""
        return self._identity(schema.DATASET)

    @property
    def model(self) -> str:
        """The model, like :attr:`dataset`."""
        return self._identity(schema.MODEL)

    @property
    def variant(self) -> str:
        """The recipe variant (``default`` when none was given), like :attr:`dataset`."""
        value = self._identity(schema.VARIANT)
        return DEFAULT_VARIANT if value == "?" else value

    @property
    def reference(self) -> Reference | None:
        """The published dense top-1 its rows record, ``None`` when its pair has none."""
        known = [r for r in self.rows if isinstance(r.get(schema.REFERENCE_TOP1), float)
                 and math.isfinite(r[schema.REFERENCE_TOP1])]
        if not known:
            return None
        below = any(r.get(schema.BELOW_REFERENCE) is True for r in self.rows)
        return Reference(known[0][schema.REFERENCE_TOP1], str(known[0].get(schema.REFERENCE_SOURCE) or "?"), below)

    def highest_compression_run(self) -> dict[str, Any] | None:
        """The successful run of the first strategy (in file order) with the highest target compression, the
        lowest seed among equals; ``None`` when no run succeeded."""
        ok = successful(self.rows)
        mine = [r for r in ok if r[schema.STRATEGY] == ok[0][schema.STRATEGY]] if ok else []
        return max(mine, key=lambda r: (r[schema.TARGET], -r[schema.SEED]), default=None)

    def flat_fixed(self) -> dict[str, Any]:
        """The fixed configuration with nested tables flattened to dotted keys (``finetune.lr``), in order."""
        return flatten(self.fixed)

    def title(self) -> str:
        """``dataset · model``, the subject of every plot of this experiment."""
        return f"{self.fixed.get(schema.DATASET, '?')} · {self.fixed.get(schema.MODEL, '?')}"

    def recipe_line(self) -> str:
        """Selection mode, precision, finetune recipe and fingerprint in one short line."""
        finetune = self.fixed.get("finetune") or {}
        recipe = f"finetune {finetune.get('epochs', '?')} ep, lr {finetune.get('lr', '?')}" if finetune else ""
        parts = [f"select: {self.selection}", self.fixed.get("precision", ""), recipe, f"recipe {self.fingerprint}"]
        return " · ".join(p for p in parts if p)


@dataclass(frozen=True)
class Directory:
    """A results directory: its label, the header of its results.csv, all its rows (file order) and its
    experiments that have rows, in sweep.json order."""

    directory: Path
    label: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    experiments: tuple[Results, ...]

    @property
    def is_grid(self) -> bool:
        """Whether it holds several experiments (pairs or variants)."""
        return len(self.experiments) > 1

    def pairs(self) -> list[tuple[str, str]]:
        """The (dataset, model) pairs, in experiment order."""
        return list(dict.fromkeys((e.dataset, e.model) for e in self.experiments))

    def variants(self) -> list[str]:
        """The variant names, in experiment order."""
        return list(dict.fromkeys(e.variant for e in self.experiments))

    def strategies(self) -> list[str]:
        """Every method with a successful run, sorted: the same colour stands for the same one everywhere."""
        return sorted({p.strategy for e in self.experiments for p in e.points})

    def merged(self) -> Results:
        """The whole directory as one :class:`Results`: its only experiment, or (a grid) all rows together with
        the fixed configuration the experiments share and their fingerprints joined by ``+`` (summarised by the
        first experiment's task: only whether it has points and which run is whose matter there)."""
        if len(self.experiments) == 1:
            return self.experiments[0]
        parts = [e.fixed for e in self.experiments]
        fixed = {k: val for k, val in parts[0].items() if all(p.get(k) == val for p in parts)} if parts else {}
        fingerprint = "+".join(e.fingerprint for e in self.experiments) or "?"
        task = self.experiments[0].task if self.experiments else default_view()
        return Results(self.directory, self.label, fixed, fingerprint, self.rows,
                       summarize(self.rows, task.summary_columns, task.latency_column),
                       dense_reference(self.rows, dense_column(task)),
                       task=task)

    def tasks(self) -> list[TaskView]:
        """The experiments' task views, in experiment order."""
        return [e.task for e in self.experiments]


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables flattened to dotted keys (``{"finetune": {"lr": 0.1}}`` -> ``{"finetune.lr": 0.1}``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def dense_column(task: TaskView) -> str:
    """The column of the dense models' value of ``task``'s primary metric (``dense_top1``)."""
    return schema.dense(task.column)


def with_label(results: Results, label: str) -> Results:
    """``results`` under another label."""
    return replace(results, label=label)


def load_directory(directory: str | Path, label: str | None = None, registry: Any = None) -> Directory:
    """Read ``directory`` (checked by :func:`~.inputs.read_store`: bad input is a one-line
    :class:`~shrinkbench.errors.ShrinkBenchError`). Each experiment is labelled by the directory's label when
    it is the only one, else by its slug; its task is looked up in ``registry`` (default: the installed
    plugins')."""
    contents = read_store(directory)
    registry = registry if registry is not None else default_registry()
    label = label or Path(directory).resolve().name
    by_slug: dict[str, list[dict[str, Any]]] = {}
    for row in contents.rows:
        by_slug.setdefault(row[schema.RUN_ID].partition("/")[0], []).append(row)
    present = [s for s in contents.experiments if s in by_slug]
    experiments = []
    for slug in present:
        stored, rows = contents.experiments[slug], by_slug[slug]
        task = resolve_task(registry, stored["fixed"], rows)
        experiments.append(Results(Path(directory), label if len(present) == 1 else slug, dict(stored["fixed"]),
                                   str(stored.get("fingerprint", "?")), rows,
                                   summarize(rows, task.summary_columns, task.latency_column),
                                   dense_reference(rows, dense_column(task)), slug, task))
    return Directory(Path(directory), label, contents.columns, contents.rows, tuple(experiments))


def load_results(directory: str | Path, label: str | None = None, registry: Any = None) -> Results:
    """The whole of ``directory`` as one :class:`Results` (:meth:`Directory.merged`: its experiment, when it
    holds one). Bad input is a one-line :class:`~shrinkbench.errors.ShrinkBenchError`."""
    return load_directory(directory, label, registry).merged()


def reference_warnings(experiments: Sequence[Results]) -> list[str]:
    """One ``WARNING: ...`` line per (dataset, model) pair with a dense model below its published top-1 (a row
    with ``below_reference`` true): the pair's dense top-1 (per variant when several), the reference and its
    source, and that its results are not comparable. ``[]`` when every dense model reaches its reference."""
    by_pair: dict[tuple[str, str], list[Results]] = {}
    for e in experiments:
        reference = e.reference
        if reference is not None and reference.below:
            by_pair.setdefault((e.dataset, e.model), []).append(e)
    lines = []
    for (dataset, model), below in by_pair.items():
        reference = below[0].reference
        assert reference is not None
        several = len({e.variant for e in experiments if (e.dataset, e.model) == (dataset, model)}) > 1
        texts: dict[str, list[str]] = {}  # variants that share their dense models share their text
        for e in below:
            texts.setdefault(e.dense.text(), []).append(e.variant)
        dense = "; ".join(text + (f" [variant{'s' * (len(v) > 1)} {', '.join(v)}]" if several else "")
                          for text, v in texts.items())
        lines.append(f"WARNING: {dataset} · {model}: dense {below[0].task.named} {dense} is below the published {reference.top1:.4f} "
                     f"({reference.source}); results from this pair are not comparable (dense model under-trained)")
    return lines


def latency_band_warning(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One ``NOTE: ...`` line saying how many successful rows carry a ``latency_note`` (today: an
    unstructured-mask run whose measured speedup left the band around 1x by more than its spread, a disturbed
    latency measurement); ``[]`` when none does."""
    ok = successful(list(rows))
    flagged = [r for r in ok if r.get(schema.LATENCY_NOTE)]
    if not flagged:
        return []
    return [f"NOTE: {len(flagged)} of {len(ok)} runs have a note on their measured latency, e.g. "
            f"{flagged[0][schema.RUN_ID]}: {flagged[0][schema.LATENCY_NOTE]}"]


def task_notes(experiments: Sequence[Results]) -> list[str]:
    """The ``NOTE: ...`` line of each task the installed registry does not know (how it is read instead), once."""
    return list(dict.fromkeys(e.task.note for e in experiments if e.task.note))


def report_warnings(experiments: Sequence[Results]) -> list[str]:
    """Every warning line of a report: :func:`reference_warnings`, :func:`task_notes`, then
    :func:`latency_band_warning` over the experiments' rows."""
    return (reference_warnings(experiments) + task_notes(experiments)
            + latency_band_warning([r for e in experiments for r in e.rows]))
