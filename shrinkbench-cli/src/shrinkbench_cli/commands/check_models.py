"""``shrinkbench check-models``: does every model of a zoo build, prune, train under masks and count right?

Each model is checked in its own process, with a no-progress timeout and an address-space limit, so one
crash or hang does not stop the others. The processes come from a fork server that has already imported
torch (and torchvision/timm when installed), which saves the ~7 s import per model; nothing else is shared.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

FIELDS = ("model", "status", "px", "batch", "seconds", "reason", "compression", "macs", "reference_macs", "speedup")


@click.command("check-models")
@click.argument("patterns", nargs=-1, metavar="[PATTERN ...]")
@click.option("--sample", type=click.IntRange(min=1), metavar="N", help="Check a seeded random sample of N matches.")
@click.option("--seed", default=0, show_default=True, help="Seed of --sample, the random data and the strategy.")
@click.option("--strategy", default="global-magnitude", show_default=True, help="Pruning strategy.")
@click.option("--compression", type=click.FloatRange(min=1), default=4.0, show_default=True,
              help="Target compression (parameters / nonzero parameters).")
@click.option("--steps", type=click.IntRange(min=2), default=20, show_default=True, metavar="N",
              help="Masked SGD steps per model (2 at least: the second tests momentum on pruned weights).")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True, metavar="N",
              help="Random images per step; a step that does not fit in --memory-gb is halved (down to 1).")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True, metavar="SEC",
              help="Seconds a model may go without progress (building, pruning, one step, counting) before it "
                   "is killed and failed.")
@click.option("--memory-gb", type=click.FloatRange(min=1), metavar="G",
              help="Address-space limit per model process (RLIMIT_AS; torch's libraries take ~3.5 GB of it). "
                   "[default: the memory available when the check starts; models run one at a time]")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), metavar="FILE", help="Also write the rows as CSV.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), metavar="FILE", help="Also write them as JSON.")
def check_models(patterns: tuple[str, ...], sample: int | None, seed: int, strategy: str, compression: float,
                 steps: int, batch: int, timeout: float, memory_gb: float | None, csv_path: str | None,
                 json_path: str | None) -> None:
    """Check that the models matching PATTERNs (fnmatch on registry names: 'torchvision:*', 'timm:vit_*';
    default: every model) work with ShrinkBench.

    Each model is built for 10 classes at the smallest of 32, 64 and 224 px it takes, pruned by --strategy
    to --compression, and trained for --steps masked SGD steps (momentum 0.9) on batches of --batch random
    images (halved from the step that does not fit in memory on: the row's batch and a note say so), in its
    own process (one torch thread, --timeout, --memory-gb). It passes when pruned weights stay
    exactly zero, kept weights change (wherever a gradient step can move them: layer collapse is noted, not
    failed), the loss stays finite and its MACs agree with torch.utils.flop_counter.FlopCounterMode within 1%.
    A model that builds at no size is skipped. POSIX only (fork server, RLIMIT_AS).

    Exits with 1 when a model that built failed.
    """
    from shrinkbench.errors import ShrinkBenchError
    from shrinkbench.plugins import get_registry

    from ..app import check_output_file
    from ..progress_view import make_console

    for path, option in ((csv_path, "--csv"), (json_path, "--json")):
        check_output_file(path, option)  # before any model runs: a bad path is one line, nothing written
    if csv_path and json_path and Path(csv_path).expanduser().absolute() == Path(json_path).expanduser().absolute():
        raise ShrinkBenchError(f"--csv and --json name the same file {csv_path}; give two files")
    registry = get_registry()
    registry.strategy(strategy)  # an unknown name is a one-line error before anything runs
    if registry.plugin_set.local_only:
        raise ShrinkBenchError("check-models runs models in other processes: register plugins as modules")
    names = matching_models(registry, patterns, sample, seed)
    console = make_console()
    if memory_gb is None:
        memory_gb = int(available_memory_gb() * 10) / 10
        click.echo(f"Memory per model: {memory_gb:.1f} GB, what is available now (--memory-gb to change).")
    rows = []
    for index, name in enumerate(names, 1):
        job = (registry.plugin_set, name, strategy, compression, seed, steps, batch)
        prefix = f"[{index}/{len(names)}] {name}"
        with console.status(f"{prefix}: starting") as status:
            row = {"model": name, **run_isolated(job, timeout, memory_gb, _updater(status, prefix))}
        rows.append(row)
        click.echo(f"{prefix}: {row['status']} ({row['seconds']:.1f} s) {row['reason']}")
    console.print(result_table(rows))
    write_files(rows, csv_path, json_path)
    if any(row["status"] == "failed" for row in rows):
        sys.exit(1)


def matching_models(registry, patterns: tuple[str, ...], sample: int | None, seed: int) -> list[str]:  # noqa: ANN001
    """Registry model names matching any pattern (families expanded), or a seeded sample of ``sample`` of them."""
    import random

    from shrinkbench.errors import ShrinkBenchError
    from shrinkbench.specs import ModelFamilySpec

    families = [e.spec.prefix for e in registry.list("models") if isinstance(e.spec, ModelFamilySpec)]
    patterns = patterns or ("*", *(f"{prefix}:*" for prefix in families))
    family_rows = {f"{prefix}:*" for prefix in families}
    names = sorted({e.name for p in patterns for e in registry.list("models", p) if e.name not in family_rows})
    if not names:
        raise ShrinkBenchError(f"no model matches {' '.join(patterns)}; see 'shrinkbench list models'")
    if sample is not None and sample < len(names):
        names = sorted(random.Random(seed).sample(names, sample))
    return names


def _updater(status, prefix: str) -> Callable[[str], None]:  # noqa: ANN001 - a rich Status
    """A callback that shows ``prefix: phase`` in ``status``."""
    return lambda phase: status.update(f"{prefix}: {phase}")


def available_memory_gb() -> float:
    """The memory the system can give a new process now, in GB (``MemAvailable``; total memory where
    ``/proc/meminfo`` is missing)."""
    import os

    try:
        with open("/proc/meminfo") as meminfo:
            kilobytes = next(int(line.split()[1]) for line in meminfo if line.startswith("MemAvailable:"))
        return kilobytes / 2**20
    except (OSError, StopIteration, ValueError):
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30


def run_isolated(job: tuple, timeout: float, memory_gb: float, show: Callable[[str], None] = lambda phase: None) -> dict:
    """Run :func:`shrinkbench_cli.model_check.check_one` on ``job`` in a fresh process limited to ``memory_gb``
    GB, killed when it reports no progress for ``timeout`` s; ``show`` gets each phase it reports."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "torchvision", "timm"])
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, memory_gb, job), daemon=True)
    process.start()  # returns once the fork server (started on first use) has forked the child
    start = time.monotonic()
    sender.close()
    phase, result = "starting", None
    try:
        while result is None:
            if not receiver.poll(timeout):
                result = {"status": "failed", "reason": f"no progress for {timeout:g} s ({phase})"}
            elif isinstance(message := receiver.recv(), str):
                phase = message
                show(phase)
            else:
                result = message
    except EOFError:
        result = None
    finally:  # also on Ctrl-C: no model keeps running behind the command's back
        if process.is_alive():
            process.kill()
        process.join()
    if result is None:
        result = {"status": "failed", "reason": f"the process died (exit code {process.exitcode})"}
    return {"px": None, "batch": None, "reason": "", **result, "seconds": round(time.monotonic() - start, 2)}


def _child(sender, memory_gb: float, job: tuple) -> None:  # noqa: ANN001 - a multiprocessing connection
    import resource

    import torch

    from shrinkbench.errors import one_line

    from ..model_check import check_one, out_of_memory

    limit = int(memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    torch.set_num_threads(1)  # one model per core, and no spinning threads on a busy machine
    try:
        result = check_one(*job, progress=sender.send)
    except Exception as exc:  # noqa: BLE001 - any error is this model's failure, reported in one line
        result = {"status": "failed",
                  "reason": f"out of memory (limit {memory_gb:g} GB)" if out_of_memory(exc) else one_line(exc)}
    sender.send(result)


def result_table(rows: list[dict]):  # noqa: ANN201 - a rich Table
    """The rich table of the results: model, status, input size, seconds, reason, and a count per status."""
    from rich.table import Table

    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "failed", "skipped")}
    table = Table(title=f"check-models: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped",
                  title_justify="left")
    for column in ("model", "status", "px", "batch", "seconds", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["model"], row["status"], str(row["px"] or ""), str(row["batch"] or ""),
                      f"{row['seconds']:.1f}", row["reason"])
    return table


def write_files(rows: list[dict], csv_path: str | None, json_path: str | None) -> None:
    """Write ``rows`` to ``csv_path`` and/or ``json_path`` (every field of :data:`FIELDS`)."""
    import csv
    import io
    import json

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
