"""The rows of ``shrinkbench check-models``: summary line, table and CSV/JSON files, and the resume file that
lets a check of a whole zoo stop and go on, or run in shards on several machines and be merged.

A resume file is JSON lines: a header ``{"check-models": {"settings": ..., "models": [...], "shard": "2/4",
"selection": 1371}}`` (the settings of :data:`SETTINGS`, the models this file is for, the shard and the size
of the list it was cut from), then one row per model, appended (and flushed to disk) as each model finishes;
a model checked again (``--retry``) gets a later row, which replaces the earlier.
Importing this module imports neither torch nor rich.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shrinkbench.errors import ShrinkBenchError

from .model_check import FAILED, NOT_CHECKED, PASSED

FIELDS = ("model", "status", "cause", "px", "batch", "seconds", "reason", "compression", "macs", "reference_macs",
          "speedup")
"""The fields of a row, in the order of the CSV file (``cause`` only for :data:`NOT_CHECKED` rows)."""
SETTINGS = ("strategy", "compression", "steps", "batch", "seed")
"""The options that change what a check means: rows made under different ones never go into one file or merge."""
NOT_RUN = "not run"
"""The cause of a model that a merged resume file lists but has not reached yet."""
HEADER = "check-models"


def summary(rows: list[dict]) -> str:
    """``check-models: 3 passed, 1 failed, 2 not checked (memory 1, time 1); pass rate 75.0% (3 of 4
    checked)``: the pass rate is passed / (passed + failed), never counting the models not checked."""
    counts = Counter(row["status"] for row in rows)
    passed, failed, unchecked = counts[PASSED], counts[FAILED], counts[NOT_CHECKED]
    causes = Counter(row.get("cause") or "?" for row in rows if row["status"] == NOT_CHECKED)
    why = f" ({', '.join(f'{cause} {n}' for cause, n in sorted(causes.items()))})" if causes else ""
    checked = passed + failed
    rate = f"pass rate {passed / checked:.1%} ({passed} of {checked} checked)" if checked else \
        "pass rate n/a (none checked)"
    return f"check-models: {passed} passed, {failed} failed, {unchecked} not checked{why}; {rate}"


def result_table(rows: list[dict]):  # noqa: ANN201 - a rich Table
    """The rich table of the results: model, status, input side, batch, seconds and reason."""
    from rich.table import Table

    table = Table(title="check-models", title_justify="left")
    for column in ("model", "status", "px", "batch", "seconds", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = f"{row['status']} ({row['cause']})" if row.get("cause") else row["status"]
        seconds = f"{row['seconds']:.1f}" if row.get("seconds") is not None else ""
        table.add_row(row["model"], status, str(row.get("px") or ""), str(row.get("batch") or ""), seconds,
                      row.get("reason") or "")
    return table


def write_files(rows: list[dict], csv_path: str | None, json_path: str | None) -> None:
    """Write ``rows`` to ``csv_path`` and/or ``json_path`` (every field of :data:`FIELDS`)."""
    import csv
    import io

    from shrinkbench.atomic import atomic_write_text

    table = [{field: row.get(field) for field in FIELDS} for row in rows]
    if csv_path:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(table)
        atomic_write_text(Path(csv_path), buffer.getvalue())
    if json_path:
        atomic_write_text(Path(json_path), json.dumps(table, indent=1) + "\n")


@dataclass(frozen=True)
class ResumeFile:
    """What a resume file holds: its header's ``settings`` (:data:`SETTINGS`), ``models``, ``shard``
    (``"i/n"`` or ``None``) and ``selection`` (models before sharding), and the ``rows`` written so far."""

    path: Path
    settings: dict
    models: tuple[str, ...]
    shard: str | None
    selection: int
    rows: dict[str, dict]

    def missing(self) -> list[str]:
        """The models this file is for that have no row yet, in order."""
        return [name for name in self.models if name not in self.rows]


def read_resume(path: Path) -> ResumeFile:
    """Read the resume file ``path``; a later row of a model replaces an earlier one (``--retry``), and a last
    line cut short (the process was killed while writing it, or is writing it now) is left out. Anything else
    that is not a row of one of its models raises :class:`ShrinkBenchError`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ShrinkBenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines.pop()
    try:
        header = json.loads(lines[0])[HEADER] if lines else None
        rows = [json.loads(line) for line in lines[1:]]
    except (json.JSONDecodeError, KeyError, TypeError):
        header = None
    if not isinstance(header, dict):
        raise ShrinkBenchError(f"{path} is not a check-models --resume file; give another file name")
    models = tuple(header["models"])
    by_model: dict[str, dict] = {}
    for row in rows:
        if not isinstance(row, dict) or row.get("model") not in models:
            what = row.get("model") if isinstance(row, dict) else row
            raise ShrinkBenchError(f"{path} has a row for {what!r}, which is not one of its models; delete that "
                                   "line, or give another file")
        by_model[row["model"]] = row
    return ResumeFile(path, dict(header["settings"]), models, header.get("shard"), int(header["selection"]),
                      by_model)


@contextlib.contextmanager
def resume_lock(path: Path) -> Iterator[None]:
    """Hold the resume file ``path`` (created empty when missing) for the block, so that no two checks append to
    it at once; raises :class:`ShrinkBenchError` when another process holds it."""
    from shrinkbench.filelock import locked

    def refuse() -> None:
        raise ShrinkBenchError(f"{path} is in use by another check-models; wait for it, or give another file")

    with locked(path, on_wait=refuse):
        yield


def open_resume(path: Path, settings: dict, models: list[str], shard: str | None, selection: int) -> dict[str, dict]:
    """The rows already in the resume file ``path`` (its header written when it is empty; a last line cut short
    by a kill cut off in place, so that the file stays the one :func:`resume_lock` holds). Raises
    :class:`ShrinkBenchError` when it was started with other :data:`SETTINGS` or for other models."""
    content = path.read_bytes() if path.exists() else b""
    if not content:
        header = {"settings": settings, "models": models, "shard": shard, "selection": selection}
        _append(path, json.dumps({HEADER: header}) + "\n")
        return {}
    if not content.endswith(b"\n"):
        os.truncate(path, content.rfind(b"\n") + 1)  # that model is checked again
    found = read_resume(path)
    differs = next((key for key in SETTINGS if found.settings.get(key) != settings[key]), None)
    if differs:
        raise ShrinkBenchError(f"{path} was started with --{differs} {found.settings.get(differs)}, not "
                               f"{settings[differs]}; use the same options, or give another file")
    if list(found.models) != models:
        raise ShrinkBenchError(f"{path} was started for another list of models ({len(found.models)} models, shard "
                               f"{found.shard or 'none'}); give the same patterns, --sample, --seed and --shard, or "
                               "another file")
    return found.rows


def append_row(path: Path, row: dict) -> None:
    """Append ``row`` (its :data:`FIELDS`) to the resume file ``path`` and flush it to disk."""
    _append(path, json.dumps({field: row.get(field) for field in FIELDS}) + "\n")


def _append(path: Path, line: str) -> None:
    with path.open("a") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())


def merge_files(paths: list[Path]) -> tuple[list[dict], list[str]]:
    """The rows of the resume files ``paths`` (by model name), and one line per file or shard still missing.

    A model a file lists without a row yet is a :data:`NOT_CHECKED` row with cause :data:`NOT_RUN`. Raises
    :class:`ShrinkBenchError` when no file is given, one is missing, or they were made with different
    :data:`SETTINGS` or share a model."""
    if not paths:
        raise ShrinkBenchError("--merge needs the --resume files to merge, e.g. --merge timm-*.jsonl")
    missing = next((path for path in paths if not path.is_file()), None)
    if missing is not None:
        raise ShrinkBenchError(f"{missing} is not a file; --merge takes the files written by --resume")
    files = [read_resume(path) for path in paths]
    rows: dict[str, dict] = {}
    where: dict[str, Path] = {}
    notes = []
    for file in files:
        differs = next((key for key in SETTINGS if file.settings.get(key) != files[0].settings.get(key)), None)
        if differs:
            raise ShrinkBenchError(f"{file.path} was made with --{differs} {file.settings.get(differs)}, "
                                   f"{files[0].path} with {files[0].settings.get(differs)}; merge checks made alike")
        for name in file.models:
            if name in where:
                raise ShrinkBenchError(f"{name} is in both {where[name]} and {file.path}; merge each shard once")
            where[name] = file.path
            rows[name] = file.rows.get(name) or {"model": name, "status": NOT_CHECKED, "cause": NOT_RUN,
                                                 "reason": f"not run yet: resume {file.path}"}
        if file.missing():
            notes.append(f"{file.path}: {len(file.missing())} of {len(file.models)} models not run yet")
    shards: dict[tuple[int, int], set[int]] = {}
    for file in files:
        if file.shard:
            index, count = map(int, file.shard.split("/"))
            shards.setdefault((count, file.selection), set()).add(index)
    for (count, selection), seen in sorted(shards.items()):
        absent = [f"{i}/{count}" for i in range(1, count + 1) if i not in seen]
        if absent:
            notes.append(f"shards {', '.join(absent)} of the {selection} models are missing: their models are "
                         "not in this table")
    return [rows[name] for name in sorted(rows)], notes
