"""One run: dense weights -> masks -> metrics before finetuning -> finetune with masks enforced -> metrics.

A run is a pure function of its :class:`RunTask`, so it can execute in this process or in a worker process
and give the same row.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ShrinkBenchError
from ..masking import apply_masks, validate_masks
from ..metrics import MetricContext
from ..plugins import Registry, get_registry
from ..pruning import make_context
from .config import RunSpec, SweepConfig, sweep_from_json
from .data import Splits, eval_loader, load_splits, train_loader
from .dense import build_model, load_weights, save_weights
from .train import EpochLog, train

PRE_SUFFIX = "_pre"


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run (picklable)."""

    config: dict[str, Any]
    run: RunSpec
    dense_path: str
    dense_meta: dict[str, Any]
    out_dir: str
    threads: int = 1


_splits_cache: dict[tuple, Splits] = {}


def splits_for(registry: Registry, config: SweepConfig) -> Splits:
    """The sweep's data splits, loaded once per process."""
    key = (config.dataset, config.data_root, config.val_fraction)
    if key not in _splits_cache:
        _splits_cache[key] = load_splits(registry.dataset(config.dataset), config.data_root, config.val_fraction)
    return _splits_cache[key]


def measure(registry: Registry, model: torch.nn.Module, example: torch.Tensor, loader, data_only: bool = False) -> tuple[dict[str, float], list[str]]:
    """Every installed metric's columns for ``model`` (only the data metrics with ``data_only``).

    A metric that raises yields NaN columns and a note, so one faulty third-party metric does not lose a run.
    """
    values: dict[str, float] = {}
    notes: list[str] = []
    for entry in registry.list("metrics"):
        spec = entry.spec
        if data_only and not spec.needs_data:
            continue
        ctx = MetricContext(model, example, loader if spec.needs_data else None)
        try:
            out = spec.load()(ctx)
            values.update({c: float(out[c]) for c in spec.columns})
        except Exception as exc:  # noqa: BLE001
            values.update(dict.fromkeys(spec.columns, math.nan))
            notes.append(f"metric {spec.name!r} failed: {type(exc).__name__}: {exc}")
    return values, notes


def execute(
    task: RunTask, on_epoch: Callable[[EpochLog], None] | None = None, registry: Registry | None = None
) -> dict[str, Any]:
    """Carry out one run and write its directory; return its result row (``status`` ok or failed).

    ``registry`` defaults to the installed plugins (what a worker process sees).
    """
    with torch_threads(task.threads):
        return _execute(task, on_epoch, registry or get_registry())


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then restore the previous setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _execute(task: RunTask, on_epoch: Callable[[EpochLog], None] | None, registry: Registry) -> dict[str, Any]:
    config = sweep_from_json(task.config)
    run = task.run
    started = time.perf_counter()
    row: dict[str, Any] = {
        "run_id": run.run_id, "dataset": config.dataset, "model": config.model, "strategy": run.strategy,
        "seed": run.seed, "compression_target": run.compression, "status": "ok", "error": "",
        "dense_top1": task.dense_meta.get("dense_top1", math.nan), "threads": task.threads,
    }
    run_dir = Path(task.out_dir) / "runs" / run.run_id
    tmp_dir = run_dir.with_name(run_dir.name + ".tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    epochs: list[EpochLog] = []
    try:
        splits = splits_for(registry, config)
        model = load_weights(build_model(registry, config, run.seed), task.dense_path)
        test_loader = eval_loader(splits.test, config.eval_batch_size)
        example = next(iter(test_loader))[0][:1]
        masked = prune(registry, config, run, model, splits)
        pre, _ = measure(registry, model, example, test_loader, data_only=True)
        row.update({f"{k}{PRE_SUFFIX}": v for k, v in pre.items()})
        torch.manual_seed(run.seed)
        loader = train_loader(splits.train, config.finetune.batch_size, run.seed,
                              registry.dataset(config.dataset).augmented)
        val_loader = eval_loader(splits.val, config.eval_batch_size) if splits.val is not None else None

        def record(log: EpochLog) -> None:
            epochs.append(log)
            if on_epoch:
                on_epoch(log)

        result = train(model, config.finetune, loader, val_loader, masked,
                       select_best_val=config.selection == "best-val", on_epoch=record)
        model = masked.remove()
        post, notes = measure(registry, model, example, test_loader)
        row.update(post)
        row["selected_epoch"] = result.selected_epoch
        if epochs and epochs[-1].val_top1 is not None:
            row["val_top1"] = next(e.val_top1 for e in epochs if e.epoch == result.selected_epoch)
        row["error"] = "; ".join(notes)
        save_weights(model, tmp_dir / "weights.safetensors")
    except ShrinkBenchError as exc:
        row.update(status="failed", error=str(exc))
    row["seconds"] = round(time.perf_counter() - started, 3)
    _write_run_dir(tmp_dir, run_dir, config, run, row, epochs)
    return row


def prune(registry: Registry, config: SweepConfig, run: RunSpec, model: torch.nn.Module, splits: Splits):
    """Compute the strategy's masks on the dense model, check them and apply them (returns the MaskedModel)."""
    spec = registry.strategy(run.strategy)
    batch_loader = train_loader(splits.train, config.finetune.batch_size, run.seed,
                                registry.dataset(config.dataset).augmented)

    def batches():
        return iter(batch_loader)

    ctx = make_context(model, run.compression, seed=run.seed, batches=batches,
                       include_classifier=config.include_classifier)
    torch.manual_seed(run.seed)
    masks = spec.load()(ctx)
    validate_masks(model, masks, expected=set(ctx.prunable), source=f"strategy {spec.name!r}")
    return apply_masks(model, masks)


def _write_run_dir(tmp_dir: Path, run_dir: Path, config: SweepConfig, run: RunSpec, row: dict, epochs: list) -> None:
    (tmp_dir / "config.json").write_text(json.dumps({"sweep": config.to_json(), "run": vars(run)}, indent=2))
    (tmp_dir / "metrics.json").write_text(json.dumps(row, indent=2, default=str))
    lines = ["epoch,lr,train_loss,train_top1,val_top1,val_loss"]
    lines += [f"{e.epoch},{e.lr},{e.train_loss},{e.train_top1},{e.val_top1},{e.val_loss}" for e in epochs]
    (tmp_dir / "log.csv").write_text("\n".join(lines) + "\n")
    shutil.rmtree(run_dir, ignore_errors=True)
    tmp_dir.rename(run_dir)
