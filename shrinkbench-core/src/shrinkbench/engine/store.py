"""The results directory: ``sweep.json`` (the fixed configuration), ``results.csv`` (one row per run) and
``runs/<run_id>/`` (config, metrics, per-epoch log, final weights).

Every write is atomic (write a temporary file, then rename), so a crash or ``kill -9`` leaves either the old
or the new file, never a torn one; a re-run skips the runs already in ``results.csv``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ShrinkBenchError
from .config import SweepConfig

FIRST_COLUMNS = [
    "run_id", "dataset", "model", "strategy", "seed", "compression_target", "compression", "speedup",
    "params", "nonzero_params", "flops", "nonzero_flops", "macs", "nonzero_macs",
    "top1_pre", "top5_pre", "loss_pre", "top1", "top5", "loss", "val_top1", "dense_top1",
    "selected_epoch", "seconds", "status", "error",
]


class ResultsStore:
    """One sweep's results directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.csv_path = self.directory / "results.csv"
        self.config_path = self.directory / "sweep.json"

    def check_compatible(self, config: SweepConfig) -> None:
        """Raise :class:`ShrinkBenchError` when the directory holds results of a different fixed configuration."""
        if not self.config_path.exists():
            if self.csv_path.exists():
                raise ShrinkBenchError(f"{self.directory} has a results.csv but no sweep.json; use another --out")
            return
        stored = json.loads(self.config_path.read_text())
        mine = json.loads(json.dumps(config.fixed_part()))
        theirs = stored.get("fixed", {})
        if theirs != mine:
            diffs = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
            detail = ", ".join(f"{k}: {theirs.get(k)!r} there vs {mine.get(k)!r} now" for k in diffs[:2])
            raise ShrinkBenchError(
                f"{self.directory} holds results of another configuration ({detail}); choose another --out"
            )

    def initialise(self, config: SweepConfig) -> None:
        """Create the directory and record the fixed configuration (idempotent)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            _atomic_write(self.config_path, json.dumps({"fixed": config.fixed_part(), "fingerprint": config.fingerprint()},
                                                       indent=2, default=str))

    def rows(self) -> list[dict[str, str]]:
        """All result rows as strings, in file order."""
        if not self.csv_path.exists():
            return []
        with self.csv_path.open(newline="") as f:
            return list(csv.DictReader(f))

    def completed(self) -> set[str]:
        """Run ids that already have a row (succeeded or failed)."""
        return {r["run_id"] for r in self.rows()}

    def append(self, row: dict[str, Any]) -> None:
        """Add one row, rewriting ``results.csv`` atomically; a row for an existing run id replaces it."""
        rows = [r for r in self.rows() if r["run_id"] != row["run_id"]] + [{k: _text(v) for k, v in row.items()}]
        columns = [c for c in FIRST_COLUMNS if any(c in r for r in rows)]
        columns += sorted({k for r in rows for k in r} - set(columns))
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.csv_path)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
