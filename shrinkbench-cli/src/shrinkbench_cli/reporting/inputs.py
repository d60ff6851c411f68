"""Reading a results directory for ``report`` and ``compare``, carefully: whatever is wrong with it (no
results.csv, a CSV that is not ours, missing columns, damaged lines, an empty file, a damaged or old
sweep.json, rows of an experiment sweep.json does not list) is one :class:`ShrinkBenchError` line that names
the file, the problem and the fix, raised before anything is printed or written.

The file is parsed here rather than through :meth:`ResultsStore.rows` so that a damaged line can be named by
its line number (the store's reader has no error handling of its own); the result is typed by
:func:`shrinkbench.schema.parse_row` exactly as the store types it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shrinkbench import schema
from shrinkbench.engine.store import ResultsStore
from shrinkbench.errors import ShrinkBenchError

REQUIRED = (schema.RUN_ID, schema.DATASET, schema.MODEL, schema.VARIANT, schema.STRATEGY, schema.SEED,
            schema.TARGET, schema.STATUS)
"""Columns every results.csv of this version has: the identity of a run and whether it succeeded."""

SWEEP_VERSION = 2
"""The version of sweep.json this report reads (``{"version": 2, "experiments": {slug: {"fixed", ...}}}``)."""

_FIX_RERUN = "re-run the sweep into a new directory ('shrinkbench bench --out NEW_DIR')"
_FIX_LINE = ("restore the file from a copy, or delete that line and re-run 'shrinkbench bench' with the same "
             "settings (the run runs again)")


@dataclass(frozen=True)
class StoreContents:
    """What a results directory holds, checked: its experiments in sweep.json order (``{slug: {"fixed": {...},
    "fingerprint": "..."}}``), its rows typed and in file order, and the header of results.csv."""

    directory: Path
    experiments: dict[str, dict[str, Any]]
    rows: list[dict[str, Any]]
    columns: tuple[str, ...]


def read_store(directory: str | Path) -> StoreContents:
    """Read and check ``directory``; a one-line :class:`ShrinkBenchError` (problem and fix) on bad input."""
    store = ResultsStore.existing(directory)  # "no results.csv in DIR: run 'shrinkbench bench --out DIR' first"
    columns, rows = _read_csv(store.csv_path, str(directory))
    experiments = _read_sweep(store.config_path, str(directory))
    for line, row in rows:
        experiment = row[schema.RUN_ID].partition("/")[0]
        if experiment not in experiments:
            raise ShrinkBenchError(f"{store.csv_path} line {line}: run {row[schema.RUN_ID]!r} belongs to experiment "
                                   f"{experiment!r}, which {store.config_path.name} does not list (the two files are "
                                   f"of different sweeps); restore the matching sweep.json, or {_FIX_RERUN}")
    return StoreContents(Path(directory), experiments, [r for _, r in rows], tuple(columns))


def _read_csv(path: Path, directory: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The header and the (line number, typed row) pairs of ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ShrinkBenchError(f"cannot read {path}: {reason}; it is not a results file written by ShrinkBench "
                               f"(give the directory 'shrinkbench bench --out DIR' wrote)") from None
    if not text.strip():
        raise ShrinkBenchError(f"{path} is empty: no run was recorded there; run 'shrinkbench bench --out {directory}' "
                               "(or give another directory)")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        if schema.RUN_ID not in header or schema.STRATEGY not in header:
            raise ShrinkBenchError(f"{path} is not a ShrinkBench results file (its header has no {schema.RUN_ID} "
                                   f"and {schema.STRATEGY} columns): give the directory 'shrinkbench bench' wrote")
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ShrinkBenchError(f"{path} lacks the required column{'s' * (len(missing) > 1)} "
                                   f"{', '.join(missing)} (an earlier version of ShrinkBench, or an edit); {_FIX_RERUN}")
        rows = []
        for raw in reader:
            if not any(cell.strip() for cell in raw):
                continue  # a blank line
            rows.append((reader.line_num, _row(path, reader.line_num, header, raw)))
    except csv.Error as exc:
        raise ShrinkBenchError(f"{path} line {reader.line_num} cannot be parsed as CSV ({exc}); {_FIX_LINE}") from None
    if not rows:
        raise ShrinkBenchError(f"{path} holds no runs (a header only); run 'shrinkbench bench --out {directory}' "
                               "(or give another directory)")
    return header, rows


def _row(path: Path, line: int, header: list[str], raw: list[str]) -> dict[str, Any]:
    """One line as a typed row, checked: as many fields as the header, an identity that parses."""
    where = f"{path} line {line}"
    if len(raw) != len(header):
        raise ShrinkBenchError(f"{where} has {len(raw)} fields, the header {len(header)} (the file is damaged: an "
                               f"interrupted copy or an edit); {_FIX_LINE}")
    values = dict(zip(header, raw, strict=True))
    for column in schema.INT_COLUMNS & set(header):
        if values[column].strip() and not _is_number(values[column]):
            raise ShrinkBenchError(f"{where}: {column} {values[column]!r} is not an integer; {_FIX_LINE}")
    row = schema.parse_row(values)
    target = row[schema.TARGET]
    problem = ""
    if not row[schema.RUN_ID] or "/" not in row[schema.RUN_ID]:
        problem = f"run_id {row[schema.RUN_ID]!r} is not <experiment>/<run>"
    elif row[schema.SEED] is None:
        problem = "seed is empty"
    elif not isinstance(target, float) or not math.isfinite(target) or target < 1:
        problem = f"compression_target {raw[header.index(schema.TARGET)]!r} is not a number >= 1"
    elif row[schema.STATUS] not in (schema.STATUS_OK, schema.STATUS_FAILED):
        problem = f"status {row[schema.STATUS]!r} is neither {schema.STATUS_OK!r} nor {schema.STATUS_FAILED!r}"
    elif not all(row[c] for c in (schema.DATASET, schema.MODEL, schema.VARIANT, schema.STRATEGY)):
        problem = "dataset, model, variant or strategy is empty"
    if problem:
        raise ShrinkBenchError(f"{where}: {problem}; {_FIX_LINE}")
    return row


def _is_number(text: str) -> bool:
    """Whether ``text`` is a finite number (what an integer column may hold)."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _read_sweep(path: Path, directory: str) -> dict[str, dict[str, Any]]:
    """The experiments table of sweep.json, checked."""
    if not path.is_file():
        raise ShrinkBenchError(f"{directory} has a results.csv but no sweep.json (the fixed configuration of its "
                               "experiments): it was not written by 'shrinkbench bench', or sweep.json was removed; "
                               "restore sweep.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ShrinkBenchError(f"{path} is damaged ({reason}); restore it from a copy: without it the experiments "
                               "cannot be told apart") from None
    if not isinstance(data, dict) or not isinstance(data.get("experiments"), dict):
        raise ShrinkBenchError(f"{path} was written by an earlier version of ShrinkBench (no experiments table); "
                               f"{_FIX_RERUN}")
    version = data.get("version")
    if isinstance(version, int) and version > SWEEP_VERSION:
        raise ShrinkBenchError(f"{path} was written by a newer version of ShrinkBench (sweep.json version {version}, "
                               f"this report reads {SWEEP_VERSION}); upgrade shrinkbench-cli")
    for slug, entry in data["experiments"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("fixed"), dict):
            raise ShrinkBenchError(f"{path} is damaged (experiment {slug!r} has no fixed configuration); restore it "
                                   "from a copy")
    return dict(data["experiments"])
