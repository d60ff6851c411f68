"""``shrinkbench list``: what the installed plugins provide."""

from __future__ import annotations

import json
from importlib import metadata

import click

from shrinkbench.plugins import KINDS, Entry, Registry, get_registry

CHOICES = ("plugins", *KINDS)


def _summary(distribution: str) -> str:
    try:
        return metadata.metadata(distribution).get("Summary", "") or ""
    except metadata.PackageNotFoundError:
        return ""


def plugin_rows(registry: Registry, pattern: str | None) -> list[dict]:
    """One dict per discovered plugin: name, plugin (distribution), version, status, error, description."""
    import fnmatch

    rows = []
    for info in registry.plugins:
        if pattern and not (fnmatch.fnmatchcase(info.name, pattern) or fnmatch.fnmatchcase(info.distribution, pattern)):
            continue
        rows.append(
            {
                "name": info.name,
                "plugin": info.distribution,
                "version": info.version,
                "status": info.status,
                "error": info.error,
                "description": _summary(info.distribution),
            }
        )
    return rows


def entry_row(kind: str, entry: Entry) -> dict:
    """The JSON/table row of one strategy, model, dataset or metric."""
    spec = entry.spec
    row = {"name": entry.name, "plugin": entry.plugin, "description": spec.description}
    if kind == "strategies":
        row["aliases"] = list(spec.aliases)
        row["needs_data"] = spec.needs_data
        row["requires"] = list(spec.requires)
    elif kind == "datasets":
        row.update(num_classes=spec.num_classes, input_shape=list(spec.input_shape), bundled=spec.bundled)
    elif kind == "metrics":
        row["columns"] = list(spec.columns)
    elif kind in ("executors", "schedules"):
        row["options"] = [f"{name}: {help_text}" for name, help_text in spec.options]
    return row


def _table(title: str, rows: list[dict], columns: list[str]):
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold", style="bold cyan" if col == "name" else None)
    for row in rows:
        table.add_row(*[_cell(row.get(col, "")) for col in columns])
    if not rows:
        table.caption = "none installed"
    return table


def _cell(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if value == "failed" or value == "conflict":
        return f"[red]{value}[/red]"
    return str(value)


@click.command("list")
@click.argument("kind", required=False, type=click.Choice(CHOICES))
@click.argument("pattern", required=False)
@click.option("--json/--no-json", "as_json", default=False, help="Print one JSON object instead of tables.")
@click.option("--model", "-m", metavar="NAME",
              help="With strategies: say which apply to this model (an 'applies' column: yes, or what it lacks).")
@click.option("--dataset", "-d", metavar="NAME", default=None,
              help="The dataset the --model is built for (default mnist-5k: its input shape and classes).")
def list_command(kind: str | None, pattern: str | None, as_json: bool, model: str | None,
                 dataset: str | None) -> None:
    """Show installed plugins and the strategies, models, datasets, metrics, executors and schedules they provide.

    KIND limits the output to one kind; PATTERN is an fnmatch filter on names (quote it: 'layer-*').
    Model families such as timm are one row ('timm:*') unless PATTERN names them ('timm:resnet*').

    \b
    Examples:
      shrinkbench list
      shrinkbench list strategies '*magnitude*'
      shrinkbench list models 'timm:resnet*' --json
      shrinkbench list strategies --model resnet20 --dataset cifar10

    With --json the object has the keys plugins, strategies, models, datasets, metrics, executors and schedules (KIND's
    key only when KIND is given); each holds objects with at least name, plugin (the distribution) and description.
    """
    registry = get_registry()
    kinds = [kind] if kind else list(CHOICES)
    data = {
        k: plugin_rows(registry, pattern) if k == "plugins" else [entry_row(k, e) for e in registry.list(k, pattern)]
        for k in kinds
    }
    if model is None and dataset is not None:
        raise click.UsageError("--dataset only goes with --model")
    if model is not None and "strategies" in data:
        _mark_applicable(registry, data["strategies"], model, dataset)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from ..progress_view import make_console

    console = make_console()
    for k in kinds:
        if k == "plugins":
            columns = ["name", "plugin", "version", "status", "error"]
        else:
            columns = ["name", "description", "plugin"] + {"strategies": ["aliases", "requires"],
                                                          "executors": ["options"], "schedules": ["options"]}.get(k, [])
            if k == "strategies" and model is not None:
                columns.append("applies")
        if len(data[k]) > PLAIN_ABOVE:
            click.echo(_plain(k, data[k], columns))
        else:
            console.print(_table(k, data[k], columns))


PLAIN_ABOVE = 200  # rows; longer listings (e.g. 'timm:*', ~1,400 models) print as aligned text, 20x faster


def _plain(title: str, rows: list[dict], columns: list[str]) -> str:
    """Aligned plain-text columns for long listings."""
    cells = [[_cell(r.get(c, "")).replace("[red]", "").replace("[/red]", "") for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns[:-1])]
    lines = [f"{title} ({len(rows)})", "  ".join(c.ljust(w) for c, w in zip(columns, widths + [0], strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths + [0], strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _mark_applicable(registry: Registry, rows: list[dict], model: str, dataset: str | None) -> None:
    """Add ``applies`` to each strategy row: ``yes``, or ``no: <what the model lacks>`` -- the rule by which
    ``bench`` leaves strategies out of its default set (and refuses them when named)."""
    from shrinkbench.engine.config import DEFAULT_DATASET
    from shrinkbench.engine.dense import build_model
    from shrinkbench.modules import missing_requirement

    built = build_model(registry, dataset or DEFAULT_DATASET, registry.model(model).name, 0)
    for row in rows:
        lack = missing_requirement(built, registry.strategy(row["name"]).requires)
        row["applies"] = "yes" if lack is None else f"no: {lack}"
