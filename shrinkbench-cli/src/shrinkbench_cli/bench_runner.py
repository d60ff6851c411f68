"""Runs the sweep that ``shrinkbench bench``'s options describe, with progress bars, then reports it; or, with
``--print-config``, prints the request as a TOML config file, with ``--dry-run`` the plan and its estimated
time, with ``--json`` the outcome for scripts.

Every line a script may parse (notes, the summary, failed runs, the plan) is printed unwrapped, whatever the
terminal's width."""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import asdict
from typing import Any

import click

from .app import Interrupted, RunsFailed

# flags whose value is a tuple of words; an unused repeatable flag gives ()
_LISTS = ("strategy", "schedule", "model", "dataset")


def run_bench(config_file: str | None, overrides: dict[str, Any], report: bool = True, *, dry_run: bool = False,
              print_config: bool = False, as_json: bool = False) -> None:
    """Build the sweep request in core from ``config_file`` and ``overrides`` (setting words -> values, ``None``
    meaning not given), resolve it (every problem at once), then: ``print_config``: print it as TOML;
    ``dry_run``: print the plan and its estimated time (as JSON with ``as_json``); else run it, print which
    runs failed, then the results table and plots (``as_json``: one JSON object instead, no progress bars).
    Only a real run writes anything."""
    from shrinkbench.plugins import get_registry

    from .early_start import start_executor_early

    if print_config and (dry_run or as_json):
        raise click.UsageError("--print-config prints the configuration and exits: give it without --dry-run "
                               "and --json")
    overrides = {k: None if v == () else (list(v) if k in _LISTS and v else v) for k, v in overrides.items()}
    registry = get_registry()
    if not (print_config or dry_run):
        start_executor_early(registry, config_file, overrides)  # before torch's import, which it overlaps
    from shrinkbench.engine import build_sweep_config, resolve

    sweep = resolve(registry, build_sweep_config(registry, config_file, overrides))
    if print_config:
        click.echo(config_toml(sweep, registry), nl=False)
    elif dry_run:
        _dry_run(registry, sweep, as_json)
    elif as_json:
        _run_json(registry, sweep, report)
    else:
        _run(registry, sweep, report)


def _run(registry: Any, sweep: Any, report: bool) -> None:
    from rich.markup import escape

    from shrinkbench.engine import run_sweep

    from .progress_view import RichProgress, make_console

    console = make_console()
    request, out = sweep.request, sweep.results_dir
    pairs = sorted({(e.dataset, e.model) for e in sweep.experiments})
    subject = (f"{pairs[0][1]} on {pairs[0][0]}" if len(pairs) == 1 else
               f"{len(pairs)} (dataset, model) pairs")
    variants = f" x {len(request.variant_list)} variants" if len(request.variant_list) > 1 else ""
    strategies = max((len(s) for s in sweep.strategies.values()), default=0)
    header = (f"[bold]shrinkbench bench[/bold]: {escape(subject)}{variants}, {strategies} strategies x "
              f"{len(request.sparsities) or len(request.compressions)} {'sparsities' if request.sparsities else 'compressions'} x {len(request.seeds)} seeds on {escape(device_text(sweep))} "
              f"-> {escape(str(out))}")
    for note in sweep.notes:
        click.echo(f"note: {note}")
    try:
        with RichProgress(console, header, progress_tasks(registry, sweep)) as progress:
            outcome = run_sweep(registry, sweep, progress=progress)
    except KeyboardInterrupt:
        raise _interrupted(sweep) from None
    retried = f" ({outcome.retried} of them failed before and ran again)" if outcome.retried else ""
    click.echo(f"{len(outcome.new_rows)} runs done{retried}, {outcome.skipped} already complete, "
               f"{len(outcome.failed)} failed.")
    for row in outcome.failed:
        click.echo(f"{click.style('failed', fg='red') if console.is_terminal else 'failed'} {row['run_id']}: "
                   f"{row['error']}")
    if report:
        from .reporting.render import print_report

        print_report(out, console)
    else:
        click.echo(f"results: {out / 'results.csv'}")
    if outcome.failed:
        raise RunsFailed()


def progress_tasks(registry: Any, sweep: Any) -> dict[str, Any]:
    """The task view of each experiment (by slug) and of each of its dense models (by their work key), for the
    progress bars."""
    from shrinkbench.engine.dense import dense_task_key

    from .reporting.task_view import TaskView, resolve_task

    out: dict[str, TaskView] = {}
    for e in sweep.experiments:
        view = resolve_task(registry, {"task": e.task}, [])
        out[e.slug] = view
        out.update({dense_task_key(e, seed): view for seed in sweep.request.seeds})
    return out


def device_text(sweep: Any) -> str:
    """The sweep's device and why it was chosen: ``cpu (auto found no GPU: torch is a CUDA 13.2 build but the
    driver supports CUDA 12.4)``; a remote executor's workers resolve it themselves."""
    settings = sweep.settings
    return f"{settings.device} ({settings.device_reason or 'resolved on each worker'})"


def _interrupted(sweep: Any) -> Interrupted:
    from shrinkbench.engine import ResultsStore

    out = sweep.results_dir
    kept = len(ResultsStore(out).completed() & {r.run_id for r in sweep.runs()})
    return Interrupted(f"{kept} of {len(sweep.runs())} runs are complete and kept in {out / 'results.csv'}; "
                       "re-run the same command to resume")


def _run_json(registry: Any, sweep: Any, report: bool) -> None:
    """Run without progress bars and print one JSON object (see ``bench --help``)."""
    from rich.console import Console

    from shrinkbench.engine import ResultsStore, run_sweep
    from shrinkbench.errors import ShrinkBenchError

    store = ResultsStore(sweep.results_dir)
    failed_before = store.failed()
    try:
        outcome = run_sweep(registry, sweep)
    except KeyboardInterrupt:
        raise _interrupted(sweep) from None
    new = {row["run_id"]: row for row in outcome.new_rows}
    files, report_error = [], None
    if report:
        from .reporting.render import print_report

        try:
            files = print_report(sweep.results_dir, Console(file=io.StringIO(), width=140))
        except ShrinkBenchError as exc:
            report_error = str(exc)
    failed = [{"run_id": run_id, "error": row.get("error", "")} for run_id, row in new.items()
              if row.get("status") != "ok"]
    data = {
        "results_dir": str(sweep.results_dir.absolute()), "results_csv": str(store.csv_path.absolute()),
        "executor": (store.stored_config().get("last_sweep") or {}).get("executor"), "layout": outcome.layout,
        "device": {"device": sweep.settings.device, "reason": sweep.settings.device_reason},
        "notes": list(sweep.notes),
        "runs": {"total": len(sweep.runs()), "done": [i for i, row in new.items() if row.get("status") == "ok"],
                 "skipped": [r.run_id for r in sweep.runs() if r.run_id not in new],
                 "retried": [i for i in new if i in failed_before], "failed": failed},
        "report": [str(f) for f in files], "report_error": report_error,
        "exit_code": 2 if report_error else (1 if failed else 0),
    }
    click.echo(json.dumps(data, indent=2))
    if report_error:
        raise ShrinkBenchError(report_error)
    if failed:
        raise RunsFailed()


def _dry_run(registry: Any, sweep: Any, as_json: bool) -> None:
    """Print the plan and its estimate (:func:`shrinkbench.engine.estimate.plan_sweep`); nothing is written."""
    from shrinkbench.engine.cache_units import recipe_summary
    from shrinkbench.engine.estimate import describe_seconds, plan_sweep

    plan = plan_sweep(registry, sweep)
    if as_json:
        data = plan.to_json()
        data["device"] = {"device": sweep.settings.device, "reason": sweep.settings.device_reason}
        click.echo(json.dumps(data, indent=2))
        return
    for note in [*sweep.notes, *plan.notes]:
        click.echo(f"note: {note}")
    click.echo("dry run: nothing is run or written")
    click.echo(f"experiments: {len(sweep.experiments)}")
    for e in sweep.experiments:
        chosen = sweep.strategies[e.slug]
        click.echo(f"  {e.slug}: {e.model} on {e.dataset}, variant {e.variant}; {len(chosen)} strategies "
                   f"({', '.join(chosen)}); "
                   + (f"dense weights {e.checkpoint}" if e.checkpoint else f"pretrain {recipe_summary(asdict(e.pretrain))}")
                   + f"; finetune {recipe_summary(asdict(e.finetune))}")
    total = len(sweep.runs())
    click.echo(f"runs: {total} in all: {len(plan.todo)} to do ({len(plan.retry)} of them failed before and run "
               f"again), {len(plan.complete)} already complete")
    click.echo(f"dense models: {len(plan.dense)} to train, {plan.dense_cached} already cached")
    click.echo(f"device: {device_text(sweep)}")
    click.echo(f"layout: {plan.executor} executor, {plan.layout_text}")
    estimate = plan.estimate
    if estimate is None:
        click.echo("estimate: nothing to do")
    else:
        measured = "; ".join(
            f"{slug} on {c.device} x {c.threads} thread{'s' if c.threads != 1 else ''}: "
            + ", ".join(f"{s * 1e3:.3g} ms/step at batch {b}" for b, s in sorted(c.step_seconds.items()))
            + f", {c.eval_seconds * 1e6:.3g} us/example evaluated" for slug, c in estimate.calibrations.items())
        click.echo(f"estimate: ~{describe_seconds(estimate.seconds)} (dense models "
                   f"{describe_seconds(estimate.dense_seconds)}, runs {describe_seconds(estimate.run_seconds)}); "
                   f"calibrated in {estimate.calibration_seconds:.1f} s: {measured}")
    click.echo(f"results would go to: {sweep.results_dir.absolute()}")


# -- --print-config: the request as a TOML file ---------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    """A TOML key: bare when it can be, else a quoted string."""
    return key if _BARE_KEY.fullmatch(key) else toml_value(key)


def toml_value(value: Any) -> str:
    """A TOML value for a bool, int, float (``inf``/``nan`` included), string, or a list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):  # a JSON string is a TOML basic string, once DEL is escaped too
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}: {value!r}")


def config_toml(sweep: Any, registry: Any) -> str:
    """The request of ``sweep`` as a TOML config file that ``bench --config`` reads back to the same sweep:
    every setting explicit (``"auto"`` where it is decided when the sweep starts; a setting that is not set
    as a comment), the default strategies resolved, recipes as full ``[pretrain]``/``[finetune]`` tables (only
    the changes when the datasets' standard recipes differ), ``[schedules.NAME]``, ``[variants.NAME]`` and
    ``[executor]`` tables. The resolution's notes come first, as comments."""
    from shrinkbench.engine.config import DEFAULT_VARIANT, Variant

    request = sweep.request
    lines = ["# shrinkbench bench configuration: 'shrinkbench bench --config FILE' runs this sweep. Written by",
             "# --print-config: every setting explicit, \"auto\" where it is decided when the sweep starts.",
             *(f"# note: {n}" for n in sweep.notes), ""]

    def put(key: str, value: Any, unset: str = "") -> None:
        lines.append(f"{toml_key(key)} = {toml_value(value)}" if value is not None else f"# {key}: {unset}")

    put("dataset", list(request.datasets))
    put("model", list(request.models))
    chosen = {sweep.strategies[e.slug] for e in sweep.experiments}
    if request.strategies:
        put("strategy", list(request.strategies))
    elif len(chosen) == 1 and not sweep.excluded:  # the default set, resolved (a newly installed one stays out)
        put("strategy", list(chosen.pop()))
    else:  # naming them would refuse the combinations the default set leaves out (see the notes)
        lines.append("# strategy: the default, every installed strategy where the model, schedule and compression "
                     "allow it: " + "; ".join(f"{e.slug}: {', '.join(sweep.strategies[e.slug])}"
                                              for e in sweep.experiments))
    put("schedule", list(request.schedules))
    if request.sparsities:
        put("sparsity", [float(s) for s in request.sparsities])
    else:
        put("compression", [float(c) for c in request.compressions])
    put("seeds", list(request.seeds))
    put("select", request.selection)
    put("val_fraction", float(request.val_fraction))
    put("include_classifier", request.include_classifier)
    put("checkpoint", request.checkpoint, "none (dense models are pretrained)")
    put("pretrained", request.pretrained, "none (pretraining starts from a fresh initialisation)")
    put("data_root", request.data_root, "none ($DATAPATH is not set)")
    put("out", str(request.results_dir))
    put("device", request.device)
    put("precision", request.precision)
    for key in ("jobs", "threads", "gpus_per_run", "workers", "eval_batch_size", "channels_last"):
        value = getattr(request, key)
        put(key, "auto" if value is None else value)
    for key in ("deterministic", "compile", "tf32", "retry"):
        put(key, getattr(request, key))
    if request.executor is None:
        lines.append("# executor: auto (sequential for one run at a time, else local worker processes)")
    for index, which in enumerate(("pretrain", "finetune")):
        recipes = [request.recipes_for(registry.dataset(d).recipes, Variant(DEFAULT_VARIANT))[index]
                   for d in request.datasets]
        lines += ["", f"[{which}]"]
        if all(r == recipes[0] for r in recipes):
            # a field a variant sets is left to the standard recipe unless the request changes it too: the
            # engine applies a variant's change on top of the table's, and refuses the same field twice
            given = {k.partition(".")[2] for k, _ in request.recipe_changes if k.partition(".")[0] == which}
            varied = {k.partition(".")[2] for v in request.variants for k, _ in v.changes
                      if k.partition(".")[0] == which} - given
            items = [(k, v) for k, v in asdict(recipes[0]).items() if k not in varied]
            lines += [f"# {k}: the standard recipe's, {asdict(recipes[0])[k]!r} (variants set their own)"
                      for k in sorted(varied)]
        else:
            lines.append(f"# each dataset's standard {which} recipe, with these changes")
            items = [(k.partition(".")[2], v) for k, v in request.recipe_changes if k.partition(".")[0] == which]
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in items]
    for name, options in request.schedule_options:
        lines += ["", f"[schedules.{toml_key(name)}]", *(f"{toml_key(k)} = {toml_value(v)}" for k, v in options)]
    for variant in request.variants:
        lines += ["", f"[variants.{toml_key(variant.name)}]"]
        lines += [f"{'.'.join(toml_key(p) for p in k.split('.'))} = {toml_value(v)}" for k, v in variant.changes]
    if request.executor is not None or request.executor_options:
        lines += ["", "[executor]"]
        if request.executor is not None:
            put("name", request.executor)
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in request.executor_options]
    return "\n".join(lines) + "\n"
