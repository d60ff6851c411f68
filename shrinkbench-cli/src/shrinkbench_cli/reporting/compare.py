"""Several results directories in one table and one pair of plots, each curve labelled by directory and
strategy. Directories of different datasets are refused unless asked for; whatever else differs in their
fixed configurations (model, recipe, selection, ...) is printed and shown in the plot titles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from shrinkbench import schema
from shrinkbench.errors import ShrinkBenchError

from .output import OutputDir
from .plots import accuracy_plots
from .results import Results, load_results
from .table import caption, rich_table, summary_csv

GUARDED = schema.DATASET
"""The fixed-configuration key that must agree unless ``allow_different``: accuracies on different datasets
do not compare."""


def _labels(directories: list[str]) -> list[str]:
    """Each directory's base name, or the path as given when two directories share a base name."""
    names = [Path(d).resolve().name for d in directories]
    return [n if names.count(n) == 1 else d for n, d in zip(names, directories, strict=True)]


def load_all(directories: list[str]) -> list[Results]:
    """The results of every directory, labelled. A one-line :class:`ShrinkBenchError` for fewer than two
    directories, a directory without results.csv (the store's message) or without a successful run."""
    if len(directories) < 2:
        raise ShrinkBenchError("give at least two results directories to compare (one: 'shrinkbench report DIR')")
    results = [load_results(d, label) for d, label in zip(directories, _labels(directories), strict=True)]
    for r in results:
        if not r.points:
            raise ShrinkBenchError(f"no successful run in {r.directory}: nothing to compare")
    return results


def differences(results: list[Results]) -> dict[str, list[Any]]:
    """The fixed-configuration keys (dotted for recipe fields, ``finetune.lr``) whose values differ between
    the directories, with each directory's value, in configuration order."""
    flat = [r.flat_fixed() for r in results]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return {k: [f.get(k) for f in flat] for k in keys if len({repr(f.get(k)) for f in flat}) > 1}


def _per_directory(results: list[Results], values: list[Any]) -> str:
    return ", ".join(f"{r.label}: {v}" for r, v in zip(results, values, strict=True))


def describe(results: list[Results], diffs: dict[str, list[Any]]) -> str:
    """One line naming the differing keys and each directory's value: ``model (a: lenet-5, b: mnistnet)``."""
    return "; ".join(f"{k} ({_per_directory(results, values)})" for k, values in diffs.items())


def check_comparable(results: list[Results], diffs: dict[str, list[Any]], allow_different: bool) -> None:
    """Raise a one-line :class:`ShrinkBenchError` when the directories differ in :data:`GUARDED` and
    ``allow_different`` is false."""
    if GUARDED in diffs and not allow_different:
        values = _per_directory(results, diffs[GUARDED])
        raise ShrinkBenchError(f"the directories hold results of different datasets ({values}); their accuracies "
                               "do not compare: pass --allow-different to compare them anyway")


def _title(results: list[Results], diffs: dict[str, list[Any]]) -> list[str]:
    subject = " · ".join(" vs ".join(dict.fromkeys(str(r.fixed.get(k, "?")) for r in results))
                         for k in (schema.DATASET, schema.MODEL))
    selections = "/".join(dict.fromkeys(r.selection for r in results))
    recipes = ", ".join(f"{r.label} {r.fingerprint}" for r in results)
    marker = "WARNING: different datasets; " if GUARDED in diffs else ""
    differ = f"{marker}differs: {', '.join(diffs)}" if diffs else "same fixed configuration"
    return [f"{subject}: top-1 after finetuning (select: {selections})", f"recipes: {recipes}", differ]


def print_comparison(directories: list[str], out: str | Path, allow_different: bool = False,
                     console: Console | None = None) -> list[Path]:
    """Compare ``directories``: print the differing configuration keys (a ``warning:`` line on stderr when the
    datasets differ), one table over all of them, and write summary.csv and the two accuracy plots into
    ``out``; return the files written. Refusals and unwritable files are one-line
    :class:`ShrinkBenchError` s (nothing written)."""
    console = console or Console()
    results = load_all(directories)
    diffs = differences(results)
    check_comparable(results, diffs, allow_different)
    if GUARDED in diffs:
        click.echo(f"warning: comparing different datasets (--allow-different); the fixed configurations differ "
                   f"in: {describe(results, diffs)}", err=True)
    elif diffs:
        console.print(f"the fixed configurations differ in: {describe(results, diffs)}", markup=False)
    console.print(caption(results), markup=False)
    console.print(rich_table(results))
    target = OutputDir(Path(out), "choose another directory with --out")
    plots = accuracy_plots(results, _title(results, diffs))
    files = [target.write("summary.csv", summary_csv(results)), *(target.write(n, png) for n, png in plots.items())]
    console.print(f"Wrote {', '.join(f.name for f in files)} in {target.directory}", markup=False)
    return files
