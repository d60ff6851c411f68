"""The results directory: ``sweep.json`` (the fixed configuration of every experiment in it), ``results.csv``
(one row per run) and ``runs/<run_id>/`` (config, metrics, per-epoch log, final weights; a run id is
``<experiment>/<method>_c<target>_s<seed>``).

Every write is atomic (write a temporary file or directory, then rename), so a crash or ``kill -9`` leaves
either the old or the new state, never a torn file or a half-written run directory; a re-run skips the runs
that succeeded and, unless told not to, runs the failed ones again. Every read-modify-write of ``results.csv``
and ``sweep.json`` holds the directory's lock file ``.lock`` (:func:`shrinkbench.filelock.locked`), so several
sweeps may write into one directory at once without losing a row or an experiment. Columns are named, ordered and typed by
:mod:`shrinkbench.schema`. This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..errors import ShrinkBenchError
from ..filelock import locked
from ..schema import RUN_ID, STATUS, STATUS_OK, format_value, order_columns, parse_row
from .experiment import Experiment

__all__ = ["ResultsStore", "csv_text"]

Row = dict[str, Any]


class ResultsStore:
    """One sweep's results directory: the only code that reads or writes ``results.csv`` and ``runs/``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.csv_path = self.directory / "results.csv"
        self.config_path = self.directory / "sweep.json"
        self.lock_path = self.directory / ".lock"

    @classmethod
    def existing(cls, directory: str | Path) -> ResultsStore:
        """The store of a directory that holds results; a one-line :class:`ShrinkBenchError` otherwise."""
        store = cls(directory)
        if not store.csv_path.is_file():
            raise ShrinkBenchError(f"no results.csv in {directory}: run 'shrinkbench bench --out {directory}' first")
        return store

    # -- the fixed configuration of each experiment --------------------------------------------------------

    def stored_config(self) -> dict[str, Any]:
        """The content of ``sweep.json`` (``{}`` when there is none)."""
        try:
            return json.loads(self.config_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ShrinkBenchError(f"cannot read {self.config_path}: {exc}; use another --out") from None

    def experiments(self) -> dict[str, dict[str, Any]]:
        """The stored experiments by slug: ``{"fixed": ..., "fingerprint": ...}`` each."""
        stored = self.stored_config()
        if stored and "experiments" not in stored:
            raise ShrinkBenchError(f"{self.config_path} was written by an earlier version of ShrinkBench (no "
                                   "experiments table); choose another --out")
        return dict(stored.get("experiments", {}))

    def check_compatible(self, experiments: Sequence[Experiment]) -> None:
        """Raise a one-line :class:`ShrinkBenchError` when the directory holds rows of an experiment of the same
        name (dataset, model, variant) whose fixed configuration differs (it names up to two differing keys).
        New experiments may join a directory."""
        if not self.config_path.exists():
            if self.csv_path.exists():
                raise ShrinkBenchError(f"{self.directory} has a results.csv but no sweep.json; use another --out")
            return
        stored = self.experiments()
        for experiment in experiments:
            theirs = stored.get(experiment.slug, {}).get("fixed")
            mine = experiment.fixed_part()
            if theirs is not None and theirs != mine:
                diffs = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
                detail = ", ".join(f"{k}: {theirs.get(k)!r} there vs {mine.get(k)!r} now" for k in diffs[:2])
                raise ShrinkBenchError(f"{self.directory} holds results of another configuration of "
                                       f"{experiment.slug} ({detail}); choose another --out")

    def initialise(self, experiments: Sequence[Experiment], extra: Mapping[str, Any] | None = None) -> None:
        """Create the directory and record every experiment's fixed configuration (new ones are added; ``extra``
        -- e.g. the layout the sweep chose -- is recorded under ``last_sweep``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with locked(self.lock_path):
            self.check_compatible(experiments)  # another sweep may have recorded them since the first check
            record = self.stored_config() or {"version": 2, "experiments": {}}
            for experiment in experiments:
                record["experiments"].setdefault(experiment.slug, {"fixed": experiment.fixed_part(),
                                                                   "fingerprint": experiment.fingerprint()})
            if extra is not None:
                record["last_sweep"] = dict(extra)
            atomic_write_text(self.config_path, json.dumps(record, indent=2, default=str))

    # -- result rows ---------------------------------------------------------------------------------------

    def raw_rows(self) -> list[dict[str, str]]:
        """All result rows as the text in the file, in file order."""
        if not self.csv_path.exists():
            return []
        with self.csv_path.open(newline="") as f:
            return list(csv.DictReader(f))

    def rows(self) -> list[Row]:
        """All result rows, typed by :func:`shrinkbench.schema.parse_row`, in file order."""
        return [parse_row(r) for r in self.raw_rows()]

    def completed(self, retry: bool = True) -> set[str]:
        """Run ids that are done: those with an ``ok`` row (``retry``: failed and lost runs run again), or every
        run with a row (``retry=False``)."""
        return {r[RUN_ID] for r in self.raw_rows() if not retry or r.get(STATUS) == STATUS_OK}

    def ok_rows(self) -> dict[str, dict[str, Any]]:
        """The typed rows (:meth:`rows`) whose status is ``ok``, by run id."""
        return {r[RUN_ID]: r for r in self.rows() if r.get(STATUS) == STATUS_OK}

    def failed(self) -> set[str]:
        """Run ids whose row says ``failed``."""
        return {r[RUN_ID] for r in self.raw_rows() if r.get(STATUS) != STATUS_OK}

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one row, rewriting ``results.csv`` atomically under the directory's lock (rows other sweeps
        append meanwhile are kept); a row for an existing run id replaces it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with locked(self.lock_path):
            rows = [r for r in self.raw_rows() if r[RUN_ID] != row[RUN_ID]]
            rows.append({k: format_value(v) for k, v in row.items()})
            columns = order_columns(k for r in rows for k in r)
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
            atomic_write_text(self.csv_path, text.getvalue(), fsync=True)

    # -- per-run directories -------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        """Where the files of run ``run_id`` are."""
        return self.directory / "runs" / run_id

def csv_text(records: Sequence[Mapping[str, Any]]) -> str:
    """``records`` as CSV text (columns in first-seen order; one line per record)."""
    columns = list(dict.fromkeys(k for r in records for k in r)) or ["epoch"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: format_value(v) for k, v in r.items()} for r in records])
    return text.getvalue()
