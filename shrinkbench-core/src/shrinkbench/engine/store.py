"""The results directory: ``sweep.json`` (the fixed configuration), ``results.csv`` (one row per run) and
``runs/<run_id>/`` (config, metrics, per-epoch log, final weights).

Every write is atomic (write a temporary file or directory, then rename), so a crash or ``kill -9`` leaves
either the old or the new state, never a torn file or a half-written run directory; a re-run skips the runs
already in ``results.csv``. Columns are named, ordered and typed by :mod:`shrinkbench.schema`. This module
imports neither torch nor any plugin.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_dir, atomic_write_text
from ..errors import ShrinkBenchError
from ..schema import RUN_ID, format_value, order_columns, parse_row
from .config import SweepConfig

__all__ = ["ResultsStore", "read_run_files"]

Row = dict[str, Any]


class ResultsStore:
    """One sweep's results directory: the only code that reads or writes ``results.csv`` and ``runs/``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.csv_path = self.directory / "results.csv"
        self.config_path = self.directory / "sweep.json"

    @classmethod
    def existing(cls, directory: str | Path) -> ResultsStore:
        """The store of a directory that holds results; a one-line :class:`ShrinkBenchError` otherwise."""
        store = cls(directory)
        if not store.csv_path.is_file():
            raise ShrinkBenchError(f"no results.csv in {directory}: run 'shrinkbench bench --out {directory}' first")
        return store

    # -- the fixed configuration ---------------------------------------------------------------------------

    def check_compatible(self, config: SweepConfig) -> None:
        """Raise :class:`ShrinkBenchError` when the directory holds results of a different fixed configuration."""
        if not self.config_path.exists():
            if self.csv_path.exists():
                raise ShrinkBenchError(f"{self.directory} has a results.csv but no sweep.json; use another --out")
            return
        stored = self.stored_config()
        mine = json.loads(json.dumps(config.fixed_part(), default=str))
        theirs = stored.get("fixed", {})
        if theirs != mine:
            diffs = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
            detail = ", ".join(f"{k}: {theirs.get(k)!r} there vs {mine.get(k)!r} now" for k in diffs[:2])
            raise ShrinkBenchError(
                f"{self.directory} holds results of another configuration ({detail}); choose another --out"
            )

    def stored_config(self) -> dict[str, Any]:
        """The content of ``sweep.json`` (``{}`` when there is none)."""
        try:
            return json.loads(self.config_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ShrinkBenchError(f"cannot read {self.config_path}: {exc}; use another --out") from None

    def initialise(self, config: SweepConfig) -> None:
        """Create the directory and record the fixed configuration (idempotent)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            record = {"fixed": config.fixed_part(), "fingerprint": config.fingerprint()}
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

    def completed(self) -> set[str]:
        """Run ids that already have a row (succeeded or failed)."""
        return {r[RUN_ID] for r in self.raw_rows()}

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one row, rewriting ``results.csv`` atomically; a row for an existing run id replaces it."""
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

    def save_run(self, run_id: str, config: Mapping[str, Any], row: Mapping[str, Any],
                 epochs: Sequence[Mapping[str, Any]], write_weights: Callable[[Path], None] | None = None) -> Path:
        """Write ``runs/<run_id>/`` in one piece: ``config.json``, ``metrics.json`` (the row), ``log.csv`` (one
        line per epoch) and, when ``write_weights`` is given, ``weights.safetensors`` (it is called with that
        path). A failure leaves no partial directory behind. Returns the directory."""
        target = self.run_dir(run_id)
        with atomic_dir(target) as tmp:
            (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str))
            (tmp / "metrics.json").write_text(json.dumps(dict(row), indent=2, default=str))
            (tmp / "log.csv").write_text(_csv_text(epochs))
            if write_weights is not None:
                write_weights(tmp / "weights.safetensors")
        return target

    def write_run_files(self, run_id: str, files: dict[str, bytes]) -> Path:
        """Write ``runs/<run_id>/`` from file contents by name, in one piece (see :meth:`save_run`)."""
        target = self.run_dir(run_id)
        with atomic_dir(target) as tmp:
            for name, content in files.items():
                (tmp / Path(name).name).write_bytes(content)
        return target


def read_run_files(directory: Path) -> dict[str, bytes]:
    """The files of a run directory by name (to send to the machine that owns the results directory)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _csv_text(records: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for r in records for k in r)) or ["epoch"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: format_value(v) for k, v in r.items()} for r in records])
    return text.getvalue()
