"""``shrinkbench check-models``: does every model of a zoo build, prune, train under masks and count right?

Each model is checked in its own process, with a no-progress timeout and an address-space limit, so one
crash or hang does not stop the others. The processes come from a fork server that has already imported
torch (and torchvision/timm when installed), which saves the ~7 s import per model; nothing else is shared.
A long check is resumable (``--resume FILE``: a row is appended as each model finishes) and can be cut into
shards (``--shard I/N``) run anywhere and merged (``--merge FILE ...``): see :mod:`shrinkbench_cli.model_check_rows`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click


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
                   "is killed and reported not checked.")
@click.option("--memory-gb", type=click.FloatRange(min=1), metavar="G",
              help="Address-space limit per model process (RLIMIT_AS; torch's libraries take ~3.5 GB of it). "
                   "[default: the memory available when the check starts; models run one at a time]")
@click.option("--shard", metavar="I/N", callback=lambda _ctx, _param, value: parse_shard(value),
              help="Check only the I-th of N slices of the (sampled) list: every N-th model from the I-th. "
                   "Give each shard its own --resume file, then --merge them.")
@click.option("--resume", "resume_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Append each model's row to FILE as it finishes and skip the models FILE already has: the same "
                   "command goes on where a stopped check left off.")
@click.option("--retry", multiple=True, type=click.Choice(["memory", "time"]),
              help="With --resume: check again the models FILE has as not checked for this cause (repeat the "
                   "option for both), e.g. with more --memory-gb or --timeout; the new rows replace the old.")
@click.option("--merge/--no-merge", default=False,
              help="Check nothing: the arguments are --resume files (of shards, or of separate runs); print one "
                   "table and summary, and --csv/--json, from them. Models a file has not reached yet are listed as "
                   "not checked (not run).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), metavar="FILE", help="Also write the rows as CSV.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), metavar="FILE", help="Also write them as JSON.")
def check_models(patterns: tuple[str, ...], sample: int | None, seed: int, strategy: str, compression: float,
                 steps: int, batch: int, timeout: float, memory_gb: float | None, shard: tuple[int, int] | None,
                 resume_path: str | None, retry: tuple[str, ...], merge: bool,
                 csv_path: str | None, json_path: str | None) -> None:
    """Check that the models matching PATTERNs (fnmatch on registry names: 'torchvision:*', 'timm:vit_*';
    default: every model) work with ShrinkBench.

    Each model is built for 10 classes at the input size it is made for (timm's pretrained config, the crop of
    torchvision's default weights; a model that declares none, or cannot be built at it, at the smallest of
    32, 64 and 224 px it takes), pruned by --strategy to --compression, and trained for --steps masked SGD
    steps (momentum 0.9) on batches of --batch random images (halved from the step that does not fit in memory
    on: the row's batch and a note say so), in its own process (one torch thread, --timeout, --memory-gb).
    A language model (one with a tokenizer: tiny-llama, 'hf:*', every transformers architecture as 'hf-tiny:*')
    gets random sequences of 32 of its tokenizer's ids, the loss being next-token cross-entropy.

    It passes when pruned weights stay exactly zero, kept weights change (wherever a gradient step can move
    them: layer collapse is noted, not failed), the loss stays finite and its MACs agree with
    torch.utils.flop_counter.FlopCounterMode: exactly on every operation type both count, within 0.1% in
    total; a difference names the operation types. A model that cannot be checked on this machine (out of
    memory, no progress in --timeout, weights not here, no input size it builds at) is "not checked" with its
    reason, and stays out of the pass rate (passed / checked). POSIX only (fork server, RLIMIT_AS).

    Long runs: --resume FILE goes on where a stopped check left off; --shard I/N cuts the list into N; and
    'check-models --merge FILE ...' (the arguments are then --resume files) puts them together.

    Exits with 1 when a model failed.
    """
    from shrinkbench.errors import ShrinkBenchError

    from ..app import check_output_file

    for path, option in ((csv_path, "--csv"), (json_path, "--json"), (resume_path, "--resume")):
        check_output_file(path, option)  # before any model runs: a bad path is one line, nothing written
    if csv_path and json_path and Path(csv_path).expanduser().absolute() == Path(json_path).expanduser().absolute():
        raise ShrinkBenchError(f"--csv and --json name the same file {csv_path}; give two files")
    if retry and not resume_path:
        raise ShrinkBenchError("--retry checks again the models of a --resume file: give --resume FILE")
    if merge:
        given = [name for name, value in (("--sample", sample), ("--shard", shard), ("--resume", resume_path),
                                          ("--retry", retry)) if value]
        if given:
            raise ShrinkBenchError(f"--merge checks nothing: drop {given[0]}, or drop --merge")
        from ..model_check_rows import merge_files

        rows, notes = merge_files([Path(p) for p in patterns])
        for note in notes:
            click.echo(note)
        finish(rows, csv_path, json_path)
        return
    settings = {"strategy": strategy, "compression": compression, "steps": steps, "batch": batch, "seed": seed}
    rows = run_checks(patterns, sample, shard, settings, timeout, memory_gb, resume_path, retry)
    finish(rows, csv_path, json_path)


def run_checks(patterns: tuple[str, ...], sample: int | None, shard: tuple[int, int] | None, settings: dict,
               timeout: float, memory_gb: float | None, resume_path: str | None, retry: tuple[str, ...] = ()) -> list[dict]:
    """Check every selected model (:func:`matching_models`, then :func:`shard_of`) not already in the resume
    file (or there as not checked for a cause in ``retry``), each in its own process (:func:`run_isolated`),
    appending each row to the resume file as it comes; the rows of all selected models, in order."""
    from shrinkbench.errors import ShrinkBenchError
    from shrinkbench.plugins import get_registry

    from ..model_check_rows import open_resume, resume_lock

    registry = get_registry()
    registry.strategy(settings["strategy"])  # an unknown name is a one-line error before anything runs
    if registry.plugin_set.local_only:
        raise ShrinkBenchError("check-models runs models in other processes: register plugins as modules")
    selected = matching_models(registry, patterns, sample, settings["seed"])
    names = shard_of(selected, shard)
    if not resume_path:
        return check_each(registry, names, {}, settings, timeout, memory_gb, None)
    resume = Path(resume_path).expanduser()
    with resume_lock(resume):
        rows = open_resume(resume, settings, names, f"{shard[0]}/{shard[1]}" if shard else None, len(selected))
        rows = {name: row for name, row in rows.items() if row.get("cause") not in retry}
        if rows:
            click.echo(f"Resuming {resume_path}: {len(rows)} of {len(names)} models already done.")
        return check_each(registry, names, rows, settings, timeout, memory_gb, resume)


def check_each(registry, names: list[str], rows: dict[str, dict], settings: dict, timeout: float,  # noqa: ANN001
               memory_gb: float | None, resume: Path | None) -> list[dict]:
    """Check each of ``names`` that ``rows`` lacks, in its own process, adding its row to ``rows`` and to the
    resume file ``resume`` (when given) as it comes; the rows of all ``names``, in order."""
    from ..model_check_rows import append_row
    from ..progress_view import make_console

    console = make_console()
    if memory_gb is None:
        memory_gb = int(available_memory_gb() * 10) / 10
        click.echo(f"Memory per model: {memory_gb:.1f} GB, what is available now (--memory-gb to change).")
    for index, name in enumerate(names, 1):
        if name in rows:
            continue
        job = (registry.plugin_set, name, settings["strategy"], settings["compression"], settings["seed"],
               settings["steps"], settings["batch"])
        prefix = f"[{index}/{len(names)}] {name}"
        with console.status(f"{prefix}: starting") as status:
            row = {"model": name, **run_isolated(job, timeout, memory_gb, _updater(status, prefix))}
        rows[name] = row
        if resume:
            append_row(resume, row)
        cause = f" ({row['cause']})" if row.get("cause") else ""
        click.echo(f"{prefix}: {row['status']}{cause} ({row['seconds']:.1f} s) {row['reason']}")
    return [rows[name] for name in names]


def finish(rows: list[dict], csv_path: str | None, json_path: str | None) -> None:
    """Print the table and the summary line, write the files; exit 1 when a model failed."""
    from ..model_check import FAILED
    from ..model_check_rows import result_table, summary, write_files
    from ..progress_view import make_console

    make_console().print(result_table(rows))
    click.echo(summary(rows))
    write_files(rows, csv_path, json_path)
    if any(row["status"] == FAILED for row in rows):
        sys.exit(1)


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """``"2/4"`` as ``(2, 4)``; a value that is not ``I/N`` with 1 <= I <= N is a usage error."""
    if value is None:
        return None
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise click.BadParameter(f"{value!r} is not I/N with 1 <= I <= N (e.g. 2/4)", param_hint="--shard")
    return int(index), int(count)


def shard_of(names: list[str], shard: tuple[int, int] | None) -> list[str]:
    """The ``i``-th of ``n`` slices of ``names`` for ``shard = (i, n)``: every ``n``-th name from the ``i``-th
    (1-based), so slices of a sorted list are alike in mix and size; all of ``names`` when ``shard`` is None."""
    if shard is None:
        return names
    index, count = shard
    return names[index - 1::count]


def matching_models(registry, patterns: tuple[str, ...], sample: int | None, seed: int) -> list[str]:  # noqa: ANN001
    """Registry model names matching any pattern (families expanded), or a seeded sample of ``sample`` of them.
    A pattern without wildcards in a family that takes any name (``hf:/models/opt``, ``hf:org/model``) is
    that model, listed by its family or not."""
    import random

    from shrinkbench.errors import ShrinkBenchError
    from shrinkbench.specs import ModelFamilySpec

    families = [e.spec for e in registry.list("models") if isinstance(e.spec, ModelFamilySpec)]
    open_families = {f.prefix for f in families if f.any_name}
    patterns = patterns or ("*", *(f"{f.prefix}:*" for f in families))
    family_rows = {f.name for f in families}
    names = sorted({e.name for p in patterns for e in registry.list("models", p) if e.name not in family_rows}
                   | {p for p in patterns if p.partition(":")[0] in open_families and not set(p) & set("*?[")})
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

    from ..model_check import FAILED, NotChecked, during

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "torchvision", "timm", "transformers"])
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, memory_gb, job), daemon=True)
    process.start()  # returns once the fork server (started on first use) has forked the child
    start = time.monotonic()
    sender.close()
    phase, result = "starting", None
    try:
        while result is None:
            if not receiver.poll(timeout):
                result = NotChecked("time", f"no progress for {timeout:g} s {during(phase)} (--timeout)").row()
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
        result = {"status": FAILED, "reason": f"the process died (exit code {process.exitcode})"}
    return {"px": None, "batch": None, "reason": "", **result, "seconds": round(time.monotonic() - start, 2)}


def _child(sender, memory_gb: float, job: tuple) -> None:  # noqa: ANN001 - a multiprocessing connection
    import resource

    import torch

    from shrinkbench.errors import one_line

    from ..model_check import FAILED, NotChecked, check_one, during, out_of_memory

    limit = int(memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    torch.set_num_threads(1)  # one model per core, and no spinning threads on a busy machine
    phases = ["starting"]

    def progress(phase: str) -> None:
        phases.append(phase)
        sender.send(phase)

    try:
        result = check_one(*job, progress=progress)
    except NotChecked as exc:
        result = exc.row()
    except Exception as exc:  # noqa: BLE001 - any error is this model's failure, reported in one line
        if out_of_memory(exc):
            result = NotChecked("memory", f"out of memory {during(phases[-1])} (limit {memory_gb:g} GB)").row()
        else:
            result = {"status": FAILED, "reason": one_line(exc)}
    sender.send(result)
