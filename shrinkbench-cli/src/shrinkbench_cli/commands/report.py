"""``shrinkbench report`` (placeholder until the engine lands)."""

from __future__ import annotations

import click


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
def report(directory: str) -> None:
    """Summarise a results DIRECTORY: table and plots."""
    raise click.ClickException("report is not available yet")
