"""Runs that are one computation: at compression 1 no strategy prunes anything (the engine does not even call
it, see :func:`shrinkbench.engine.rounds.prune`), so the compression-1 runs of one experiment, seed and
schedule differ only in the strategy's name -- every strategy's curve starts from the same finetuned, unpruned
model. One of them (the *leader*) runs; the others (its *copies*) get its row and its run directory under their
own identity, with a note naming the leader. Structured and unstructured strategies are kept apart (a
structured run trains without masks), and only where the driver holds the run directories (not on a cluster).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import schema
from ..atomic import atomic_dir
from ..plugins import Registry
from .experiment import RunSpec
from .resolution import Sweep

__all__ = ["SHARED_NOTE", "copy_run", "split_shared"]

SHARED_NOTE = "compression 1 prunes nothing: the same computation as"
"""How a copy's ``notes`` begin (followed by the leader's run id)."""


def split_shared(registry: Registry, sweep: Sweep, todo: Sequence[RunSpec],
                 done: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[list[RunSpec], dict[str, list[RunSpec]]]:
    """The runs of ``todo`` to execute, and for each leader (by run id) the runs that are the same computation
    and take its results (none when the sweep's executor is remote). ``done``: the rows of runs already
    complete (by run id); a run of ``todo`` whose computation one of them made (a sweep resumed after an
    interruption) becomes its copy instead of running again -- such a leader is a key of the copies but not
    among the runs to execute. A completed leader is preferred to a completed copy."""
    if sweep.remote:
        return list(todo), {}
    leaders: dict[tuple, RunSpec] = {}
    copies: dict[str, list[RunSpec]] = {}
    to_run: list[RunSpec] = []
    todo_ids = {r.run_id for r in todo}
    done = done or {}
    finished = [r for r in sweep.runs() if r.run_id in done and r.compression == 1]
    finished.sort(key=lambda r: SHARED_NOTE in (done[r.run_id].get(schema.NOTES) or ""))
    for run in [*finished, *todo]:
        if run.compression != 1:
            to_run.append(run)
            continue
        leader = leaders.setdefault((run.experiment, run.seed, run.schedule,
                                     registry.strategy(run.strategy).structured), run)
        if leader is run:
            copies[run.run_id] = []
            if run.run_id in todo_ids:
                to_run.append(run)
        elif run.run_id in todo_ids:
            copies[leader.run_id].append(run)
    return to_run, {leader: runs for leader, runs in copies.items() if runs or leader in todo_ids}


def copy_run(leader_row: dict[str, Any], leader_dir: Path, run: RunSpec, run_dir: Path) -> dict[str, Any]:
    """``run``'s row and directory (``run_dir``) from its leader's (``leader_row``, ``leader_dir``): the same
    results under ``run``'s id and strategy, and a note naming the leader. A leader without a directory (it
    failed before writing one) gives a copy without one."""
    row = dict(leader_row)
    row[schema.RUN_ID], row[schema.STRATEGY] = run.run_id, run.strategy
    shared = f"{SHARED_NOTE} {leader_row[schema.RUN_ID]}, shared"
    row[schema.NOTES] = "; ".join(n for n in (leader_row.get(schema.NOTES) or "", shared) if n)
    if not leader_dir.is_dir():
        return row
    with atomic_dir(run_dir) as tmp:
        for item in leader_dir.iterdir():
            if item.name in ("config.json", "metrics.json") or not item.is_file():
                continue
            _link_or_copy(item, tmp / item.name)
        config = json.loads((leader_dir / "config.json").read_text()) if (leader_dir / "config.json").is_file() else {}
        if isinstance(config.get("run"), dict):
            config["run"]["strategy"] = run.strategy
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str))
        (tmp / "metrics.json").write_text(json.dumps(row, indent=2, default=str))
    return row


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows one (weights are read-only once written), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
