"""``shrinkbench --version``: the CLI's version and every installed plugin distribution's, without importing
torch (neither ``importlib.metadata`` nor plugin discovery does)."""

from __future__ import annotations

from importlib import metadata

import click

CLI_DISTRIBUTION = "shrinkbench-cli"


def cli_version() -> str:
    """The installed version of ``shrinkbench-cli`` (``unknown`` when it runs from an uninstalled tree)."""
    try:
        return metadata.version(CLI_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def version_lines() -> list[str]:
    """``shrinkbench-cli X``, then one line per plugin distribution of the registry (deduplicated, sorted):
    ``  DIST VERSION: entry point[, ...]``, a plugin whose status is not ``ok`` followed by it in brackets."""
    from shrinkbench.plugins import get_registry

    by_distribution: dict[str, list[str]] = {}
    versions: dict[str, str] = {}
    for info in get_registry().plugins:
        status = "" if info.status == "ok" else f" [{info.status}]"
        by_distribution.setdefault(info.distribution, []).append(f"{info.name}{status}")
        versions[info.distribution] = info.version
    lines = [f"{CLI_DISTRIBUTION} {cli_version()}", "plugins (distribution version: entry points):"]
    lines += [f"  {d} {versions[d]}: {', '.join(names)}" for d, names in sorted(by_distribution.items())]
    return lines if by_distribution else [*lines[:1], "no plugin installed"]


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """Callback of the eager ``--version`` flag: print :func:`version_lines` and exit 0."""
    if not value or ctx.resilient_parsing:
        return
    click.echo("\n".join(version_lines()))
    ctx.exit()
