"""Turns ``shrinkbench bench`` options into a :class:`SweepConfig` and runs it with progress bars."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from .commands.bench import DEFAULT_COMPRESSIONS, DEFAULT_DATASET, DEFAULT_MODEL


def build_config(opts: dict[str, Any], registry) -> tuple[Any, Path]:
    """The sweep config and results directory: standard recipes < TOML file < command-line flags."""
    from shrinkbench.engine.config import Recipe, SweepConfig, load_toml, standard_recipes

    file_cfg = load_toml(opts["config_file"]) if opts.get("config_file") else {}
    pick = lambda key, default=None: opts.get(key) if opts.get(key) is not None else file_cfg.get(key, default)  # noqa: E731
    dataset = pick("dataset", DEFAULT_DATASET)
    model = pick("model", DEFAULT_MODEL)
    registry.dataset(dataset)
    pretrain, finetune = standard_recipes(dataset)
    pretrain = Recipe(**{**vars(pretrain), **file_cfg.get("pretrain", {})}).updated(
        epochs=opts.get("pretrain_epochs"), lr=opts.get("pretrain_lr"), batch_size=opts.get("batch_size"))
    finetune = Recipe(**{**vars(finetune), **file_cfg.get("finetune", {})}).updated(
        epochs=opts.get("finetune_epochs"), lr=opts.get("finetune_lr"), batch_size=opts.get("batch_size"))
    strategies = tuple(opts.get("strategies") or file_cfg.get("strategies") or
                       [e.name for e in registry.list("strategies")])
    compressions = opts.get("compressions") or tuple(float(c) for c in file_cfg.get("compressions", DEFAULT_COMPRESSIONS.split(",")))
    seeds = opts.get("seeds") or tuple(file_cfg.get("seeds", (0,)))
    data_root = pick("data_root") or os.environ.get("DATAPATH")
    extra = {f.name: file_cfg[f.name] for f in fields(SweepConfig)
             if f.name in file_cfg and f.name in ("eval_batch_size",)}
    config = SweepConfig(
        dataset=dataset, model=model, pretrain=pretrain, finetune=finetune,
        strategies=tuple(dict.fromkeys(registry.strategy(s).name for s in strategies)),
        compressions=tuple(float(c) for c in compressions), seeds=tuple(int(s) for s in seeds),
        val_fraction=float(pick("val_fraction", 0.1)), selection=pick("selection", "final"),
        include_classifier=bool(pick("include_classifier", False)), checkpoint=pick("checkpoint"),
        data_root=data_root, threads=int(pick("threads", 1)), **extra,
    )
    out = Path(pick("out_dir") or Path("shrinkbench-results") / f"{dataset}-{model.replace(':', '_')}")
    return config, out


def run_bench(opts: dict[str, Any]) -> None:
    """Run the sweep described by the ``bench`` options, then print the results table and write the report."""

    from shrinkbench.engine import ResultsStore, make_executor, run_sweep
    from shrinkbench.plugins import get_registry

    from .progress_view import RichProgress, make_console
    from .reporting.render import print_report

    console = make_console()
    registry = get_registry()
    config, out = build_config(opts, registry)
    store = ResultsStore(out)
    console.print(f"[bold]shrinkbench bench[/bold]: {config.model} on {config.dataset}, "
                  f"{len(config.strategies)} strategies x {len(config.compressions)} compressions x "
                  f"{len(config.seeds)} seeds -> {out}")
    with RichProgress(console) as progress:
        outcome = run_sweep(registry, config, store, make_executor(opts.get("jobs") or 1), progress)
    failed = [r for r in outcome.new_rows if r.get("status") != "ok"]
    console.print(f"{len(outcome.new_rows)} runs done, {outcome.skipped} already complete, {len(failed)} failed.")
    for row in failed:
        console.print(f"[red]failed[/red] {row['run_id']}: {row['error']}")
    if not opts.get("no_report"):
        print_report(out, console)
    else:
        click.echo(f"results: {store.csv_path}")
