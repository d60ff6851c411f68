"""``shrinkbench new-plugin`` (placeholder)."""

from __future__ import annotations

import click


@click.command("new-plugin")
@click.argument("name")
def new_plugin(name: str) -> None:
    """Write a plugin skeleton."""
    raise click.ClickException("new-plugin is not available yet")
