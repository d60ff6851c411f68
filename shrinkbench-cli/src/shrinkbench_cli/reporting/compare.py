"""Several results directories in one table and one set of plots, each curve labelled by its experiment and
strategy. An experiment is labelled by its directory's name, or ``DIR:EXPERIMENT`` when its directory holds
several (a grid), so stores made by different people -- single pairs or grids -- compare alike.

Directories whose datasets differ are refused unless asked for (accuracies on different datasets do not
compare), and so are experiments of one dataset whose rows measured their metric under different protocols
(:data:`~.task_view.PROTOCOL_COLUMNS`: a language model's evaluation window, window count or tokenizer --
perplexities measured differently do not compare); whatever else differs -- the experiments' fixed configurations (model, recipe, selection, ...) and
the columns of the results.csv files (a metric one store has and another lacks) -- is printed and shown in
the plot titles. The plots have one panel when every experiment is on one dataset, else one panel per dataset
(small multiples, :mod:`.grid_plots`): each directory keeps its marker, each strategy its colour. Every table,
axis and title speaks of the experiments' tasks' primary metrics (:mod:`.task_view`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from shrinkbench import schema
from shrinkbench.errors import ShrinkBenchError

from .grid_plots import Panel, small_multiples
from .json_report import COMPARE_SCHEMA, experiment_dict, summary_dicts
from .output import OutputDir
from .plots import AXES, accuracy_plots
from .results import Directory, Results, load_directory, report_warnings, with_label
from .table import caption, rich_table, single_task, summary_csv
from .task_view import metrics_phrase, protocol, protocol_text

GUARDED = schema.DATASET
"""The fixed-configuration key that must agree unless ``allow_different``: accuracies on different datasets
do not compare."""


def _labels(directories: list[str]) -> list[str]:
    """Each directory's base name, or the path as given when two directories share a base name."""
    names = [Path(d).resolve().name for d in directories]
    return [n if names.count(n) == 1 else d for n, d in zip(names, directories, strict=True)]


def load_all(directories: list[str], registry: Any = None) -> list[Directory]:
    """Every directory, labelled and checked (:mod:`.inputs`), its tasks looked up in ``registry`` (default: the
    installed plugins'). A one-line :class:`ShrinkBenchError` for fewer than two directories, bad input, or a
    directory without a successful run."""
    if len(directories) < 2:
        raise ShrinkBenchError("give at least two results directories to compare (one: 'shrinkbench report DIR')")
    loaded = [load_directory(d, label, registry) for d, label in zip(directories, _labels(directories), strict=True)]
    for d in loaded:
        if not any(e.points for e in d.experiments):
            raise ShrinkBenchError(f"no successful run in {d.directory}: nothing to compare")
    return loaded


def units(directories: list[Directory]) -> list[Results]:
    """The experiments of every directory with a successful run, labelled ``DIR`` (the only one of its
    directory) or ``DIR:EXPERIMENT``."""
    out = []
    for d in directories:
        for e in d.experiments:
            if e.points:
                out.append(with_label(e, d.label if len(d.experiments) == 1 else f"{d.label}:{e.slug}"))
    return out


def differences(results: list[Results]) -> dict[str, list[Any]]:
    """The fixed-configuration keys (dotted for recipe fields, ``finetune.lr``) whose values differ between
    the experiments, with each one's value, in configuration order."""
    flat = [r.flat_fixed() for r in results]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return {k: [f.get(k) for f in flat] for k in keys if len({repr(f.get(k)) for f in flat}) > 1}


def column_differences(directories: list[Directory]) -> dict[str, list[str]]:
    """The results.csv columns that only some directories have, with the labels of those that have them."""
    every = list(dict.fromkeys(c for d in directories for c in d.columns))
    return {c: [d.label for d in directories if c in d.columns] for c in every
            if not all(c in d.columns for d in directories)}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def by_directory(directories: list[Directory], results: list[Results]) -> tuple[dict[str, dict[str, list[str]]],
                                                                                 dict[str, list[str]]]:
    """The differing fixed keys (:func:`differences`) sorted by where they differ: ``between`` -- keys whose
    values in some directory differ from another's, with each directory's values (several for a grid whose
    experiments differ in it) -- and ``within`` -- keys that vary inside the directories (a grid's axes: model,
    variant, finetune.lr) but take the same values in each, with those values."""
    diffs = differences(results)
    between: dict[str, dict[str, list[str]]] = {}
    within: dict[str, list[str]] = {}
    for key in diffs:
        values = {d.label: list(dict.fromkeys(_text(e.flat_fixed().get(key)) for e in d.experiments if e.points))
                  for d in directories}
        if len({tuple(sorted(v)) for v in values.values()}) > 1:
            between[key] = values
        else:
            within[key] = next(iter(values.values()))
    return between, within


def describe(between: dict[str, dict[str, list[str]]]) -> str:
    """One line naming the keys that differ between directories and each one's values:
    ``model (a: lenet-5, b: mnistnet)``; a grid's several values are joined by ``/``."""
    def values_text(values: dict[str, list[str]]) -> str:
        return ", ".join(f"{label}: {'/'.join(v)}" for label, v in values.items())

    return "; ".join(f"{k} ({values_text(values)})" for k, values in between.items())


def describe_within(within: dict[str, list[str]]) -> str:
    """``model (lenet-300-100/lenet-5); variant (default/lr-high)``."""
    return "; ".join(f"{k} ({'/'.join(v)})" for k, v in within.items())


def describe_columns(columns: dict[str, list[str]]) -> str:
    """``latency_ms (only in a); foo (only in b, c)``."""
    return "; ".join(f"{c} (only in {', '.join(labels)})" for c, labels in columns.items())


def datasets_differ(directories: list[Directory]) -> bool:
    """Whether the directories do not all hold the same set of datasets (grids over the same datasets
    compare, one panel per dataset)."""
    return len({frozenset(e.dataset for e in d.experiments) for d in directories}) > 1


def protocols_differ(results: list[Results]) -> str:
    """Where experiments of one dataset measured their metric under different protocols (or one experiment's
    rows under several): ``perplexity on toy-text (a: eval_context 32, ...; b: eval_context 16, ...)``, the
    datasets joined by ``; ``; ``""`` when every dataset's experiments agree."""
    by_dataset: dict[str, dict[str, list[str]]] = {}
    mixed: set[str] = set()
    for r in results:
        measured = protocol(r.rows)
        by_dataset.setdefault(r.dataset, {}).setdefault(protocol_text(measured), []).append(r.label)
        if any(len(values) > 1 for values in measured.values()):
            mixed.add(r.dataset)
    parts = []
    for dataset, texts in by_dataset.items():
        if len(texts) > 1 or dataset in mixed:
            metric = next(r.task.named for r in results if r.dataset == dataset)
            where = "; ".join(f"{', '.join(labels)}: {text}" for text, labels in texts.items())
            parts.append(f"{metric} on {dataset} ({where})")
    return "; ".join(parts)


def check_comparable(directories: list[Directory], allow_different: bool) -> None:
    """Raise a one-line :class:`ShrinkBenchError` when ``allow_different`` is false and the directories'
    datasets differ (:func:`datasets_differ`) or their experiments of one dataset measured it under different
    protocols (:func:`protocols_differ`)."""
    if allow_different:
        return
    if datasets_differ(directories):
        values = ", ".join(f"{d.label}: {'+'.join(dict.fromkeys(e.dataset for e in d.experiments))}"
                           for d in directories)
        raise ShrinkBenchError(f"the directories hold results of different datasets ({values}); their accuracies "
                               "do not compare: pass --allow-different to compare them anyway")
    differ = protocols_differ(units(directories))
    if differ:
        raise ShrinkBenchError(f"the results were measured under different protocols: {differ}; values measured "
                               "differently do not compare: pass --allow-different to compare them anyway")


def _title(results: list[Results], diffs: dict[str, list[Any]], warn: bool) -> list[str]:
    subject = " · ".join(" vs ".join(dict.fromkeys(str(r.fixed.get(k, "?")) for r in results))
                         for k in (schema.DATASET, schema.MODEL))
    selections = "/".join(dict.fromkeys(r.selection for r in results))
    recipes = ", ".join(f"{r.label} {r.fingerprint}" for r in results)
    marker = "WARNING: different datasets; " if warn else ""
    differ = f"{marker}differs: {', '.join(diffs)}" if diffs else "same fixed configuration"
    metrics = metrics_phrase(r.task for r in results)
    return [f"{subject}: {metrics} after finetuning (select: {selections})", f"recipes: {recipes}", differ]


def comparison_plots(results: list[Results], title: list[str]) -> tuple[dict[str, bytes], list[str]]:
    """The plots (``{file name: PNG}``) and the datasets of their panels: one plot per metric, small multiples
    of one panel per dataset when there are several."""
    datasets = list(dict.fromkeys(r.dataset for r in results))
    if len(datasets) == 1 and single_task(results):
        return accuracy_plots(results, title), datasets
    panels = [Panel(dataset, tuple(r for r in results if r.dataset == dataset), column=i,
                    markers=tuple(results.index(r) for r in results if r.dataset == dataset))
              for i, dataset in enumerate(datasets)]
    return small_multiples(panels, title, sorted({p.strategy for r in results for p in r.points})), datasets


def comparison_document(directories: list[str], allow_different: bool = False, registry: Any = None
                        ) -> dict[str, Any]:
    """The comparison as one JSON-ready document (schema :data:`~.json_report.COMPARE_SCHEMA`); nothing is
    written. Refusals are the same one-line errors as :func:`print_comparison`'s."""
    loaded = load_all(directories, registry)
    check_comparable(loaded, allow_different)
    results = units(loaded)
    diffs = differences(results)
    between, within = by_directory(loaded, results)
    datasets = list(dict.fromkeys(r.dataset for r in results))
    warnings = report_warnings(results)
    protocols = protocols_differ(results)
    if protocols:
        warnings.insert(0, f"comparing results measured under different protocols (--allow-different): {protocols}")
    if datasets_differ(loaded):
        warnings.insert(0, "comparing different datasets (--allow-different)")
    return {
        "schema": COMPARE_SCHEMA,
        "directories": [{"label": d.label, "directory": str(d.directory), "columns": list(d.columns),
                         "experiments": [e.slug for e in d.experiments]} for d in loaded],
        "experiments": [experiment_dict(r, {}) for r in results],
        "differences": {k: dict(zip((r.label for r in results), values, strict=True)) for k, values in diffs.items()},
        "differ_between_directories": between,
        "vary_within_directories": within,
        "column_differences": column_differences(loaded),
        "warnings": warnings,
        "summary": [row for r in results for row in summary_dicts(r, {"results": r.label, "dataset": r.dataset,
                                                                      "model": r.model, "variant": r.variant})],
        "figures": [{"name": name, "panels": [{"dataset": d} for d in datasets]} for _, _, name in AXES],
    }


def print_comparison(directories: list[str], out: str | Path, allow_different: bool = False,
                     console: Console | None = None, registry: Any = None) -> list[Path]:
    """Compare ``directories``: print the differing configuration keys and results.csv columns (a ``warning:``
    line on stderr when the datasets differ), one table over all their experiments, and write summary.csv and
    the accuracy plots into ``out``; return the files written. Refusals and unwritable files are one-line
    :class:`ShrinkBenchError` s (nothing written). Tasks are looked up in ``registry`` (default: the installed
    plugins')."""
    console = console or Console()
    loaded = load_all(directories, registry)
    check_comparable(loaded, allow_different)
    results = units(loaded)
    diffs = differences(results)
    between, within = by_directory(loaded, results)
    columns = column_differences(loaded)
    warn = datasets_differ(loaded)
    if warn:
        click.echo(f"warning: comparing different datasets (--allow-different); the fixed configurations differ "
                   f"in: {describe(between)}", err=True)
    elif between:
        console.print(f"the fixed configurations differ in: {describe(between)}", markup=False, soft_wrap=True)
    else:
        console.print("the fixed configurations agree between the directories", markup=False, soft_wrap=True)
    protocols = protocols_differ(results)
    if protocols:
        click.echo(f"warning: comparing results measured under different protocols (--allow-different): {protocols}",
                   err=True)
    if within:
        console.print(f"within each directory the experiments vary in: {describe_within(within)}", markup=False,
                      soft_wrap=True)
    if columns:
        console.print(f"the results.csv columns differ: {describe_columns(columns)}", markup=False, soft_wrap=True)
    for line in report_warnings(results):
        console.print(line, style="bold red", markup=False, soft_wrap=True)
    if all(not d.is_grid for d in loaded) and single_task(results):
        console.print(caption(results), markup=False)
        console.print(rich_table(results))
    else:  # one table per experiment: a label column of DIR:EXPERIMENT names would crush the numbers
        for r in results:
            console.print(f"{r.label}: {caption([r])}", style="bold", markup=False, soft_wrap=True)
            console.print(rich_table([r]))
    target = OutputDir(Path(out), "choose another directory with --out")
    plots, _ = comparison_plots(results, _title(results, diffs, warn))
    files = [target.write("summary.csv", summary_csv(results)), *(target.write(n, png) for n, png in plots.items())]
    console.print(f"Wrote {', '.join(f.name for f in files)} in {target.directory}", markup=False)
    return files
