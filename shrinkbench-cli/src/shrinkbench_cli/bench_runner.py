"""Runs the sweep that ``shrinkbench bench``'s options describe, with progress bars, then reports it."""

from __future__ import annotations

from typing import Any

import click

from .app import Interrupted, RunsFailed

# flags whose value is a tuple of words; an unused repeatable flag gives ()
_LISTS = ("strategy", "schedule", "model", "dataset")


def run_bench(config_file: str | None, overrides: dict[str, Any], report: bool = True) -> None:
    """Build the sweep request in core from ``config_file`` and ``overrides`` (setting words -> values, ``None``
    meaning not given), resolve it (every problem at once), run it, print which runs failed, then the results
    table and plots."""
    from shrinkbench.engine import build_sweep_config, resolve, run_sweep
    from shrinkbench.plugins import get_registry

    from .progress_view import RichProgress, make_console

    overrides = {k: None if v == () else (list(v) if k in _LISTS and v else v) for k, v in overrides.items()}
    console = make_console()
    registry = get_registry()
    sweep = resolve(registry, build_sweep_config(registry, config_file, overrides))
    request = sweep.request
    out = sweep.results_dir
    pairs = sorted({(e.dataset, e.model) for e in sweep.experiments})
    subject = (f"{pairs[0][1]} on {pairs[0][0]}" if len(pairs) == 1 else
               f"{len(pairs)} (dataset, model) pairs")
    variants = f" x {len(request.variant_list)} variants" if len(request.variant_list) > 1 else ""
    strategies = max((len(s) for s in sweep.strategies.values()), default=0)
    header = (f"[bold]shrinkbench bench[/bold]: {subject}{variants}, {strategies} strategies x "
              f"{len(request.compressions)} compressions x {len(request.seeds)} seeds -> {out}")
    for note in sweep.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    try:
        with RichProgress(console, header) as progress:
            outcome = run_sweep(registry, sweep, progress=progress)
    except KeyboardInterrupt:
        from shrinkbench.engine import ResultsStore

        kept = len(ResultsStore(out).completed() & {r.run_id for r in sweep.runs()})
        raise Interrupted(f"{kept} of {len(sweep.runs())} runs are complete and kept in {out / 'results.csv'}; "
                          "re-run the same command to resume") from None
    retried = f" ({outcome.retried} of them failed before and ran again)" if outcome.retried else ""
    console.print(f"{len(outcome.new_rows)} runs done{retried}, {outcome.skipped} already complete, "
                  f"{len(outcome.failed)} failed.", soft_wrap=True)
    for row in outcome.failed:
        console.print(f"[red]failed[/red] {row['run_id']}: {row['error']}", soft_wrap=True)
    if report:
        from .reporting.render import print_report

        print_report(out, console)
    else:
        click.echo(f"results: {out / 'results.csv'}")
    if outcome.failed:
        raise RunsFailed()
