"""Entry point of the ``shrinkbench`` command."""

from __future__ import annotations

import click

from .app import ShrinkBenchGroup, disable_plugins
from .commands.bench import bench
from .commands.cache import cache
from .commands.check_models import check_models
from .commands.compare import compare
from .commands.data import data
from .commands.env import env
from .commands.list_cmd import list_command
from .commands.new_plugin import new_plugin
from .commands.report import report
from .process_exit import exit_process
from .versions import print_version


@click.group(cls=ShrinkBenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--disable-plugin",
    "disabled",
    multiple=True,
    metavar="NAME",
    help="Skip an installed plugin (name as in 'shrinkbench list plugins'); repeatable. "
    "Same as SHRINKBENCH_DISABLE_PLUGINS=a,b.",
)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=print_version,
              help="Show the version of the CLI and of every installed plugin distribution, and exit.")
def cli(disabled: tuple[str, ...]) -> None:
    """ShrinkBench: fair, reproducible benchmarks of neural-network pruning methods.

    Everything but the pruning method is fixed (data, model, dense weights, finetuning recipe, metrics), so
    results of different strategies compare directly. Strategies, models, datasets, metrics, schedules and
    executors come from installed plugins.

    \b
    Quick start:
      shrinkbench list                    what is installed
      shrinkbench bench                   default benchmark on the bundled MNIST subset (~30 s on 2 CPUs)
      shrinkbench report DIR              table, plots and report.html of a results directory
      shrinkbench compare DIR1 DIR2       several results directories in one table and set of plots
      shrinkbench check-models 'timm:*'   does every zoo model prune, train masked and count right?
      shrinkbench cache list              the cached dense models ('cache clear' removes them)
      shrinkbench env                     torch, driver, GPUs: what --device auto picks, and why

    Exit codes: 0 success; 1 some runs (or model checks) failed; 2 bad input (one line on stderr, nothing
    written); 130 interrupted (completed runs are kept; the same command resumes).
    """
    disable_plugins(disabled)


cli.add_command(list_command)
cli.add_command(bench)
cli.add_command(report)
cli.add_command(compare)
cli.add_command(check_models)
cli.add_command(new_plugin)
cli.add_command(data)
cli.add_command(cache)
cli.add_command(env)


def main(prog_name: str = "shrinkbench") -> None:
    """The ``shrinkbench`` console script: run :func:`cli` and end the process with its exit status
    (:func:`shrinkbench_cli.process_exit.exit_process`: exit handlers run, torch's teardown is skipped)."""
    try:
        cli(prog_name=prog_name)
    except SystemExit as exc:
        exit_process(exc.code)
    exit_process(0)
