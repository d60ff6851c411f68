"""Lets the executor a ``bench`` command names start its slow set-up while the command imports torch and resolves
the sweep (:meth:`shrinkbench.ExecutorSpec.start_early`): a local Ray instance takes seconds to start."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def start_executor_early(registry: Any, config_file: str | None, overrides: dict[str, Any]) -> None:
    """Call ``start_early`` of the executor named by ``--executor`` (else by the config file), with the options
    of ``--executor-option`` over the file's ``[executor]`` table. Anything unreadable or unknown is left for
    the sweep's own validation to report, in its one line."""
    name, options = _from_file(config_file)
    name = overrides.get("executor") or name
    given = overrides.get("executor_option") or ()
    for item in [given] if isinstance(given, str) else given:
        key, _, value = str(item).partition("=")
        options[key.strip()] = value.strip()
    if not isinstance(name, str) or name not in {entry.name for entry in registry.list("executors")}:
        return
    registry.executor(name).start_early(options)


def _from_file(config_file: str | None) -> tuple[Any, dict[str, Any]]:
    """The executor name and options a config file gives (``executor = "ray"`` or an ``[executor]`` table)."""
    if not config_file:
        return None, {}
    try:
        data = tomllib.loads(Path(config_file).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None, {}
    table = data.get("executor")
    if isinstance(table, dict):
        options = dict(table)
        return options.pop("name", None), options
    return table, {}
