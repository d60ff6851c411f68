"""Plugin discovery and the registry of everything installed plugins provide.

Plugins are the entry points of the ``shrinkbench`` group (core's own metrics included: there is no private
back door). Discovery isolates failures: a plugin that fails to import, implements a misspelled hook or
raises from a hook is recorded as ``failed`` with its error, and the others still load. Environment:

- ``SHRINKBENCH_DISABLE_PLUGINS=a,b`` skips those entry points (names as in ``shrinkbench list plugins``).
- ``SHRINKBENCH_STRICT_PLUGINS=1`` re-raises the first plugin error instead of recording it.
- ``SHRINKBENCH_PLUGINS=pkg.module,other.module`` also registers those modules as plugins without installing
  them (like ``PYTEST_PLUGINS``): handy while writing a plugin, and for tests.
- ``SHRINKBENCH_PROBE_TIMEOUT=10``: seconds a plugin's import may take in the probe that first imports a new
  set of plugins in a subprocess (:mod:`shrinkbench.plugin_probe`); one that ends or hangs that process is
  ``failed`` and never imported here.

The environment is read once, when a registry is built, and folded into its :class:`PluginSet`: a picklable
description from which a worker process (or another machine) rebuilds exactly the same plugin set
(:mod:`shrinkbench.registry` builds registries from plugin sets and holds the :class:`Registry` itself).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from types import ModuleType

from .registry import (
    ENTRY_POINT_GROUP,
    KINDS,
    Entry,
    PluginSet,
    Registry,
    build_registry,
    forget_family_names,
    new_plugin_manager,
)

__all__ = ["ENTRY_POINT_GROUP", "KINDS", "Entry", "PluginSet", "Registry", "disabled_from_env", "get_registry",
           "load_registry", "new_plugin_manager", "registry_for", "remember", "reset_registry"]


def _env_list(variable: str) -> list[str]:
    return [p.strip() for p in os.environ.get(variable, "").split(",") if p.strip()]


def disabled_from_env() -> set[str]:
    """Plugin names listed in ``SHRINKBENCH_DISABLE_PLUGINS`` (comma separated)."""
    return set(_env_list("SHRINKBENCH_DISABLE_PLUGINS"))


def load_registry(
    disable: Iterable[str] = (),
    inline: Iterable[tuple[str, ModuleType | object]] = (),
    entry_points: bool = True,
) -> Registry:
    """Discover plugins and collect their specs into a fresh :class:`Registry`.

    ``disable`` adds to ``SHRINKBENCH_DISABLE_PLUGINS``; ``inline`` registers ``(name, module)`` pairs
    without installing them (tests, notebooks); ``entry_points=False`` skips installed plugins entirely.
    The result's ``plugin_set`` records all of it, environment included.
    """
    inline = list(inline)
    modules = [(path, path) for path in _env_list("SHRINKBENCH_PLUGINS")]
    local_only: list[str] = []
    objects: dict[str, object] = {}
    for name, obj in inline:
        if isinstance(obj, ModuleType) and _importable(obj):
            modules.append((name, obj.__name__))
        else:
            local_only.append(name)
        objects[name] = obj
    plugin_set = PluginSet(entry_points, tuple(sorted(set(disable) | disabled_from_env())), tuple(modules),
                           tuple(local_only))
    return build_registry(plugin_set, objects)


def _importable(module: ModuleType) -> bool:
    try:
        return importlib.import_module(module.__name__) is module
    except Exception:  # noqa: BLE001 - any failure means "not importable by name"
        return False

_default: Registry | None = None
_by_set: dict[PluginSet, Registry] = {}


def get_registry() -> Registry:
    """The process-wide registry of installed plugins, built on first use."""
    global _default
    if _default is None:
        _default = load_registry()
    return _default


def registry_for(plugin_set: PluginSet) -> Registry:
    """The registry of ``plugin_set`` in this process: the one :func:`remember` was given, else rebuilt once.

    Work sent to another process carries the plugin set, never a registry; this is how the work finds its
    plugins again -- the caller's own registry in the caller's process, an identical one anywhere else.
    """
    if plugin_set not in _by_set:
        _by_set[plugin_set] = plugin_set.load()
    return _by_set[plugin_set]


def remember(registry: Registry) -> None:
    """Make :func:`registry_for` return ``registry`` for its plugin set in this process."""
    _by_set[registry.plugin_set] = registry


def reset_registry() -> None:
    """Forget the process-wide registries (after installing or disabling plugins at run time)."""
    global _default
    _default = None
    _by_set.clear()
    forget_family_names()
