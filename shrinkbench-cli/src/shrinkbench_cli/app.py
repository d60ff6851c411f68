"""The click group behind ``shrinkbench``: turns user errors into one line and exit code 2."""

from __future__ import annotations

import os
import sys

import click

from shrinkbench.errors import ShrinkBenchError

EXIT_USAGE = 2


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with code 2 (bad input, nothing else went wrong)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


class ShrinkBenchGroup(click.Group):
    """A click group whose usage errors and :class:`ShrinkBenchError` s print one line, exit 2, no traceback."""

    def main(self, *args, **kwargs):  # noqa: D102 - click's entry point
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "shrinkbench"
            fail(f"{exc.format_message()} (see '{command} --help')")
        except click.ClickException as exc:
            fail(exc.format_message())
        except ShrinkBenchError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("interrupted: completed runs are saved; re-run the same command to resume", err=True)
            sys.exit(130)


def disable_plugins(names: tuple[str, ...]) -> None:
    """Add ``names`` to ``SHRINKBENCH_DISABLE_PLUGINS`` for this process (before the registry is built)."""
    if names:
        current = [p for p in os.environ.get("SHRINKBENCH_DISABLE_PLUGINS", "").split(",") if p]
        os.environ["SHRINKBENCH_DISABLE_PLUGINS"] = ",".join([*current, *names])
