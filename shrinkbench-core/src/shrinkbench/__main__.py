"""``python -m shrinkbench``: the ``shrinkbench`` command, for environments without its console script on PATH.

Core does not import the CLI package: the command is found as the ``shrinkbench`` console-script entry point
(installed by ``shrinkbench-cli``) through :mod:`importlib.metadata` and called. Without it, one line on stderr
says what to install, and the exit code is 2 (bad setup, as for any bad input).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import metadata
from typing import Any

COMMAND = "shrinkbench"
MISSING = (f"error: the {COMMAND} command is not installed in this environment: pip install shrinkbench-cli "
           "(python -m shrinkbench runs it)")


def find_command() -> Callable[..., Any] | None:
    """The ``shrinkbench`` console-script entry point, loaded; ``None`` when no installed distribution
    provides it (or it cannot be imported)."""
    for entry in metadata.entry_points(group="console_scripts", name=COMMAND):
        try:
            return entry.load()
        except ImportError:
            continue
    return None


def main() -> None:
    """Run the ``shrinkbench`` command with this process's arguments, or exit 2 with one line when it is not
    installed."""
    command = find_command()
    if command is None:
        print(MISSING, file=sys.stderr)
        sys.exit(2)
    command(prog_name=COMMAND)


if __name__ == "__main__":
    main()
