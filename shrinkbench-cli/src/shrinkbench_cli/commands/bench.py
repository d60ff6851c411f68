"""``shrinkbench bench`` (placeholder until the engine lands)."""

from __future__ import annotations

import click


@click.command()

def bench() -> None:
    """Run a benchmark."""
    raise click.ClickException("bench is not available yet")
