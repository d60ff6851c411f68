"""The click group behind ``shrinkbench``: turns user errors into one line and exit code 2."""

from __future__ import annotations

import os
import sys

import click

from shrinkbench.errors import ShrinkBenchError

EXIT_OK, EXIT_RUNS_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES_HELP = ("Exit codes: 0 every run ok; 1 some runs failed (listed, table still printed); 2 bad input "
                   "(one line on stderr, nothing written); 130 interrupted (completed runs are kept).")


class Interrupted(Exception):
    """Ctrl-C, with what was kept and how to resume (printed as is, exit code 130)."""


class RunsFailed(Exception):
    """The command finished but some runs failed (already reported; exit code 1)."""


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with code 2 (bad input, nothing else went wrong)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


class ShrinkBenchGroup(click.Group):
    """A click group whose usage errors and :class:`ShrinkBenchError` s print one line, exit 2, no traceback."""

    def main(self, *args, **kwargs):  # noqa: D102 - click's entry point
        try:
            kwargs.setdefault("prog_name", "shrinkbench")  # also when run as `python -m shrinkbench_cli`
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except Interrupted as exc:
            click.echo(f"interrupted: {exc}", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except RunsFailed:
            sys.exit(EXIT_RUNS_FAILED)
        except click.exceptions.Abort:
            click.echo("interrupted: nothing was lost; re-run the same command to resume", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "shrinkbench"
            fail(f"{exc.format_message()} (see '{command} --help')")
        except click.ClickException as exc:
            fail(exc.format_message())
        except ShrinkBenchError as exc:
            problems = getattr(exc, "problems", None)
            if problems:  # a sweep request with several problems: one line each
                for problem in problems[:-1]:
                    click.echo(f"error: {problem}", err=True)
                fail(problems[-1])
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("interrupted: completed runs are saved; re-run the same command to resume", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # e.g. `shrinkbench list --json | head`: the reader left, nothing to report
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_RUNS_FAILED)
        except OSError as exc:  # the file system refused something no check foresaw: still one line
            where = f" ({exc.filename})" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}")


def check_output_file(path: str | None, option: str) -> None:
    """Raise a one-line :class:`ShrinkBenchError` now, before any work, unless ``path`` (the value of
    ``option``; ``None``: not given) can be written as a file later: not a directory, in a directory that
    exists and this process can write to (tried with a probe file, removed at once)."""
    if path is None:
        return
    from pathlib import Path

    from shrinkbench.atomic import check_writable_dir

    target = Path(path).expanduser()
    if target.is_dir():
        raise ShrinkBenchError(f"{option} {path} is a directory; give a file name")
    folder = target.absolute().parent
    anchor = folder
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if anchor != folder:
        why = f"{anchor} is a file" if anchor.is_file() else f"{folder} does not exist"
        raise ShrinkBenchError(f"{option} {path} cannot be written: {why}")
    check_writable_dir(folder, f"{option} {path}: its directory", "choose another path")


def disable_plugins(names: tuple[str, ...]) -> None:
    """Add ``names`` to ``SHRINKBENCH_DISABLE_PLUGINS`` for this process (before the registry is built)."""
    if names:
        current = [p for p in os.environ.get("SHRINKBENCH_DISABLE_PLUGINS", "").split(",") if p]
        os.environ["SHRINKBENCH_DISABLE_PLUGINS"] = ",".join([*current, *names])
