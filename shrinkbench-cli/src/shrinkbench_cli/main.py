"""Entry point of the ``shrinkbench`` command."""

from __future__ import annotations

import click

from shrinkbench import __version__

from .app import ShrinkBenchGroup, disable_plugins
from .commands.bench import bench
from .commands.list_cmd import list_command
from .commands.new_plugin import new_plugin
from .commands.report import report


@click.group(cls=ShrinkBenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--disable-plugin",
    "disabled",
    multiple=True,
    metavar="NAME",
    help="Skip an installed plugin (name as in 'shrinkbench list plugins'); repeatable. "
    "Same as SHRINKBENCH_DISABLE_PLUGINS=a,b.",
)
@click.version_option(__version__, prog_name="shrinkbench")
def cli(disabled: tuple[str, ...]) -> None:
    """ShrinkBench: fair, reproducible benchmarks of neural-network pruning methods.

    Everything but the pruning method is fixed (data, model, dense weights, finetuning recipe, metrics), so
    results of different strategies compare directly. Strategies, models, datasets and metrics come from
    installed plugins.

    \b
    Quick start:
      shrinkbench list                    what is installed
      shrinkbench bench                   default benchmark on the bundled MNIST subset (~2 min on 2 CPUs)
      shrinkbench report DIR              table and plots of a results directory
    """
    disable_plugins(disabled)


cli.add_command(list_command)
cli.add_command(bench)
cli.add_command(report)
cli.add_command(new_plugin)
