"""``shrinkbench cache list|clear``: the dense models (and name lists, plugin probe records) ShrinkBench keeps
in its cache directory, and their removal. The listing logic is core's :mod:`shrinkbench.engine.cache_units`;
nothing here imports torch."""

from __future__ import annotations

import json
import sys

import click

from shrinkbench.errors import ShrinkBenchError

from .data import human


@click.group("cache")
def cache() -> None:
    """See and clear ShrinkBench's cache: dense models (trained once per dataset, model, recipe and seed, and
    shared by every strategy), model-family name lists and plugin probe records.

    The cache is $SHRINKBENCH_CACHE, else the platform's user cache directory. Everything in it is rebuilt
    when missing: clearing dense models means the next sweep trains them again.

    \b
    Examples:
      shrinkbench cache list                    every dense model, its size and path
      shrinkbench cache list --json             the same for scripts
      shrinkbench cache clear                   remove every dense model (asks first)
      shrinkbench cache clear --all --yes       also name lists and probe records, without asking
    """


def _short(weights: str) -> str:
    """``pretrained:<64 hex>`` -> ``pretrained:<first 12>...`` (tags stay whole)."""
    kind, _, value = weights.partition(":")
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return f"{kind}:{value[:12]}..."
    return weights


@cache.command("list")
@click.option("--json/--no-json", "as_json", default=False, help="Print one JSON object instead of text.")
def list_cache(as_json: bool) -> None:
    """Show every cached dense model: dataset, model, seed, pretrain recipe in short, initial weights, rewind
    epochs, dense top-1, size on disk and path; then the size of the name lists and probe records.

    A unit that cannot be used (no meta.json, an unreadable one, missing weights, a key that does not match its
    folder) is listed as damaged with the reason; 'unfinished' is one being written (or left by a training
    that was killed). One line per unit, the path last and never wrapped.

    With --json: {"cache": dir, "dense": [{path, digest, status, problem, dataset, model, seed, pretrain,
    pretrain_summary, val_fraction, initial_weights, rewind_epochs, extra, dense_top1, device, epochs_logged,
    size}], "names": {path, bytes, files}, "plugins": {path, bytes, files}, "other": [names], "total_bytes"}.
    """
    from shrinkbench.engine.cache_units import summarize

    summary = summarize()
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
        return
    good = [u for u in summary.units if u.status == "ok"]
    bad = [u for u in summary.units if u.status != "ok"]
    click.echo(f"cache {summary.root}: {len(good)} dense model{'s' if len(good) != 1 else ''}"
               + (f", {len(bad)} damaged or unfinished" if bad else "") + f"; {human(summary.total)} in all")
    if good:
        header = ["dataset", "model", "seed", "pretrain", "initial", "rewind", "top-1", "size"]
        rows = [[u.dataset or "-", u.model or "-", str(u.seed), u.recipe,
                 _short(u.initial_weights) if u.initial_weights else "-",
                 ",".join(str(e) for e in u.rewind_epochs) or "-",
                 f"{u.dense_top1:.4f}" if u.dense_top1 is not None else "-", human(u.size)] for u in good]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        for cells, path in [(header, "path"), *zip(rows, (str(u.path) for u in good), strict=True)]:
            click.echo("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  " + path)
    for unit in bad:
        what = f" [{unit.dataset} {unit.model} seed {unit.seed}]" if unit.dataset and unit.model else ""
        click.echo(f"  {unit.status}: {unit.path} ({human(unit.size)}): {unit.problem}{what}")
    click.echo(f"name lists: {human(summary.names[0])} ({_files(summary.names[1])}); plugin probe records: "
               f"{human(summary.plugins[0])} ({_files(summary.plugins[1])})")
    if summary.other:
        click.echo(f"not ShrinkBench's (left alone): {', '.join(summary.other)}")


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"


def _interactive() -> bool:
    """Whether a person can answer a question: stdin and stderr are terminals."""
    return sys.stdin.isatty() and sys.stderr.isatty()


@cache.command("clear")
@click.option("--dense", "kind", flag_value="dense", default=True,
              help="Remove every dense model, damaged and unfinished ones included (the default).")
@click.option("--all", "kind", flag_value="all",
              help="Also remove the model-family name lists and plugin probe records.")
@click.option("--yes/--no-yes", "-y", default=False,
              help="Do not ask. Without a terminal to ask on, clear refuses unless --yes is given.")
def clear_cache(kind: str, yes: bool) -> None:
    """Remove cached dense models (--dense, the default) or everything ShrinkBench keeps in its cache (--all).

    Asks for confirmation on a terminal; without one (a script, a pipe) it refuses unless --yes is given.
    Prints each thing it removed and the bytes freed. Files in the cache directory that are not ShrinkBench's
    are never touched. A sweep that needs a removed dense model trains it again.
    """
    from shrinkbench.engine.cache_units import removal_plan, remove, summarize

    root = summarize().root
    plan = removal_plan(kind)
    what = "dense models" if kind == "dense" else "dense models, name lists and plugin probe records"
    if not plan:
        click.echo(f"nothing to remove: no {what} in {root}")
        return
    total = sum(item.size for item in plan)
    question = f"remove {len(plan)} item{'s' if len(plan) != 1 else ''} ({what}, {human(total)}) from {root}?"
    if not yes:
        if not _interactive():
            raise ShrinkBenchError(f"cache clear would {question[:-1]}: pass --yes to confirm (there is no terminal "
                                   "to ask on); nothing was removed")
        for item in plan:
            click.echo(f"  {item.path}: {item.label} ({human(item.size)})", err=True)
        if not click.confirm(question[0].upper() + question[1:], default=False, err=True):
            click.echo("nothing was removed")
            return
    freed = remove(plan)
    for item in plan:
        click.echo(f"removed {item.path}: {item.label} ({human(item.size)})")
    click.echo(f"removed {len(plan)} item{'s' if len(plan) != 1 else ''} from {root}: {human(freed)} freed "
               f"({freed} bytes)")
