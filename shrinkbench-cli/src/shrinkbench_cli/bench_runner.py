"""Runs the sweep that ``shrinkbench bench``'s options describe, with progress bars, then reports it."""

from __future__ import annotations

from typing import Any

import click

from .app import Interrupted, RunsFailed


def run_bench(config_file: str | None, overrides: dict[str, Any], report: bool = True) -> None:
    """Build the sweep config in core from ``config_file`` and ``overrides`` (setting words -> values, ``None``
    meaning not given), run it, print which runs failed, then the results table and plots."""
    from shrinkbench.engine import build_sweep_config, run_sweep
    from shrinkbench.plugins import get_registry

    from .progress_view import RichProgress, make_console

    overrides = {k: None if v == () else v for k, v in overrides.items()}  # an unused repeatable flag gives ()
    console = make_console()
    registry = get_registry()
    config = build_sweep_config(registry, config_file, overrides)
    out = config.results_dir
    header = (f"[bold]shrinkbench bench[/bold]: {config.model} on {config.dataset}, {len(config.strategies)} "
              f"strategies x {len(config.compressions)} compressions x {len(config.seeds)} seeds -> {out}")
    try:
        with RichProgress(console, header) as progress:
            outcome = run_sweep(registry, config, progress=progress)
    except KeyboardInterrupt:
        from shrinkbench.engine import ResultsStore

        kept = len(ResultsStore(out).completed() & {r.run_id for r in config.runs()})
        raise Interrupted(f"{kept} of {len(config.runs())} runs are complete and kept in {out / 'results.csv'}; "
                          "re-run the same command to resume") from None
    console.print(f"{len(outcome.new_rows)} runs done, {outcome.skipped} already complete, {len(outcome.failed)} failed.")
    for row in outcome.failed:
        console.print(f"[red]failed[/red] {row['run_id']}: {row['error']}")
    if report:
        from .reporting.render import print_report

        print_report(out, console)
    else:
        click.echo(f"results: {out / 'results.csv'}")
    if outcome.failed:
        raise RunsFailed()
