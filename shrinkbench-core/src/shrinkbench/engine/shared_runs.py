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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import schema
from ..atomic import atomic_dir
from ..plugins import Registry
from .experiment import RunSpec
from .resolution import Sweep

__all__ = ["copy_run", "split_shared"]


def split_shared(registry: Registry, sweep: Sweep, todo: Sequence[RunSpec]) -> tuple[list[RunSpec], dict[str, list[RunSpec]]]:
    """The runs of ``todo`` to execute, and for each of them (by run id) the runs that are the same
    computation and take its results (none when the sweep's executor is remote)."""
    if sweep.remote:
        return list(todo), {}
    leaders: dict[tuple, RunSpec] = {}
    copies: dict[str, list[RunSpec]] = {}
    to_run: list[RunSpec] = []
    for run in todo:
        if run.compression != 1:
            to_run.append(run)
            continue
        key = (run.experiment, run.seed, run.schedule, registry.strategy(run.strategy).structured)
        if key in leaders:
            copies[leaders[key].run_id].append(run)
        else:
            leaders[key] = run
            copies[run.run_id] = []
            to_run.append(run)
    return to_run, copies


def copy_run(leader_row: dict[str, Any], leader_dir: Path, run: RunSpec, run_dir: Path) -> dict[str, Any]:
    """``run``'s row and directory (``run_dir``) from its leader's (``leader_row``, ``leader_dir``): the same
    results under ``run``'s id and strategy, and a note naming the leader. A leader without a directory (it
    failed before writing one) gives a copy without one."""
    row = dict(leader_row)
    row[schema.RUN_ID], row[schema.STRATEGY] = run.run_id, run.strategy
    shared = f"compression 1 prunes nothing: the same computation as {leader_row[schema.RUN_ID]}, shared"
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
