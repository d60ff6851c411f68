"""The registry of everything a set of plugins provides, and how it is built from a :class:`PluginSet`: each
plugin imported (after :mod:`shrinkbench.plugin_probe` has tried the new ones in a subprocess), registered with
pluggy, and asked for its specs -- a plugin that fails is recorded with its error and the others still load.
Discovery from the environment and the process-wide registries are :mod:`shrinkbench.plugins`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .errors import NameConflictError, PluginError, ShrinkBenchError, UnknownNameError, one_line
from .plugin_probe import hard_exits
from .specs import (
    DatasetSpec,
    ExecutorSpec,
    MetricSpec,
    ModelFamilySpec,
    ModelSpec,
    PluginInfo,
    ScheduleSpec,
    StrategySpec,
    TaskSpec,
)

__all__ = ["ENTRY_POINT_GROUP", "KINDS", "Entry", "PluginSet", "Registry", "build_registry", "forget_family_names",
           "new_plugin_manager"]

ENTRY_POINT_GROUP = "shrinkbench"
KINDS = ("strategies", "models", "datasets", "metrics", "executors", "schedules", "tasks")
_SPEC_TYPES: dict[str, tuple[type, ...]] = {
    "strategies": (StrategySpec,),
    "models": (ModelSpec, ModelFamilySpec),
    "datasets": (DatasetSpec,),
    "metrics": (MetricSpec,),
    "executors": (ExecutorSpec,),
    "schedules": (ScheduleSpec,),
    "tasks": (TaskSpec,),
}

@dataclass(frozen=True)
class Entry:
    """One named thing a plugin provides: its spec and the distribution it came from."""

    name: str
    spec: Any
    plugin: str


@dataclass(frozen=True)
class PluginSet:
    """Which plugins a registry holds, as a picklable description that rebuilds the same registry anywhere.

    ``entry_points``: the installed plugins (entry-point group ``shrinkbench``) are discovered; ``disabled``:
    plugin names skipped; ``modules``: ``(plugin name, importable module path)`` pairs registered without being
    installed (``SHRINKBENCH_PLUGINS`` and inline modules). ``local_only`` names inline plugins that are not
    importable modules: they exist only in the process that registered them.
    """

    entry_points: bool = True
    disabled: tuple[str, ...] = ()
    modules: tuple[tuple[str, str], ...] = ()
    local_only: tuple[str, ...] = ()

    def load(self) -> Registry:
        """A fresh registry of exactly these plugins (the environment variables are not read again).

        Raises :class:`ShrinkBenchError` when the set holds local-only plugins (they cannot be rebuilt here).
        """
        if self.local_only:
            raise ShrinkBenchError(
                f"plugin(s) {', '.join(self.local_only)} were registered as objects, not importable modules, so "
                "another process cannot rebuild them: register a module instead (or run with --jobs 1)"
            )
        return build_registry(self, {})


@dataclass
class Registry:
    """Everything the installed (and inline-registered) plugins provide, by kind and name."""

    plugin_set: PluginSet = field(default_factory=PluginSet)
    plugins: list[PluginInfo] = field(default_factory=list)
    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    aliases: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    conflicts: dict[str, dict[str, tuple[str, str]]] = field(default_factory=lambda: {k: {} for k in KINDS})

    # -- queries -------------------------------------------------------------------------------------

    def list(self, kind: str, pattern: str | None = None) -> list[Entry]:
        """Entries of one kind sorted by name, optionally filtered by an fnmatch ``pattern``.

        Model families are expanded to their members only when the pattern names their prefix
        (``'timm:*'``); otherwise a family shows as one ``<prefix>:*`` row.
        """
        rows: list[Entry] = []
        for entry in self.entries[kind].values():
            if isinstance(entry.spec, ModelFamilySpec) and pattern and pattern.startswith(entry.spec.prefix + ":"):
                members = [f"{entry.spec.prefix}:{n}" for n in _family_names(entry.spec)]
                rows += [Entry(m, entry.spec, entry.plugin) for m in fnmatch.filter(members, pattern)]
            elif pattern is None or fnmatch.fnmatchcase(entry.name, pattern):
                rows.append(entry)
        return sorted(rows, key=lambda e: e.name)

    def get(self, kind: str, name: str) -> Any:
        """The spec called ``name`` (or one of its aliases).

        Raises :class:`UnknownNameError` with close matches, or :class:`NameConflictError` naming both
        distributions when two plugins provide the name.
        """
        if name in self.conflicts[kind]:
            first, second = self.conflicts[kind][name]
            raise NameConflictError(
                f"{_singular(kind)} {name!r} is provided by both {first} and {second}: uninstall one or "
                "disable it with SHRINKBENCH_DISABLE_PLUGINS"
            )
        canonical = self.aliases[kind].get(name, name)
        if canonical in self.entries[kind]:
            return self.entries[kind][canonical].spec
        if kind == "models" and ":" in name:
            return self._family_member(name)
        known = list(self.entries[kind]) + list(self.aliases[kind])
        raise UnknownNameError(_singular(kind), name, known)

    def plugin_of(self, kind: str, name: str) -> str:
        """The distribution that provides ``name`` (a family member answers with its family's plugin)."""
        canonical = self.aliases[kind].get(name, name)
        if canonical in self.entries[kind]:
            return self.entries[kind][canonical].plugin
        prefix = name.split(":", 1)[0]
        return self.entries[kind][f"{prefix}:*"].plugin

    @contextlib.contextmanager
    def blame(self, kind: str, name: str) -> Iterator[None]:
        """Run plugin code for the ``kind`` entry ``name``; an unexpected exception becomes a
        :class:`PluginError` naming the entry and its distribution (``ShrinkBenchError`` s pass unchanged)."""
        try:
            yield
        except Exception as exc:
            try:
                who = f"{_singular(kind)} {name!r} ({self.plugin_of(kind, name)})"
            except KeyError:
                who = f"{_singular(kind)} {name!r}"
            raise PluginError.wrap(who, exc) from exc

    def strategy(self, name: str) -> StrategySpec:
        """The strategy called ``name`` or one of its aliases (e.g. ``GlobalMagWeight``)."""
        return self.get("strategies", name)

    def model(self, name: str) -> ModelSpec:
        """The model called ``name``; ``prefix:name`` is looked up in that model family."""
        return self.get("models", name)

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset called ``name``."""
        return self.get("datasets", name)

    def metric(self, name: str) -> MetricSpec:
        """The metric called ``name``."""
        return self.get("metrics", name)

    def executor(self, name: str) -> ExecutorSpec:
        """The executor called ``name``."""
        return self.get("executors", name)

    def schedule(self, name: str) -> ScheduleSpec:
        """The schedule called ``name``."""
        return self.get("schedules", name)

    def task(self, name: str) -> TaskSpec:
        """The learning task called ``name`` (``classification``, ``causal-lm``, a plugin's)."""
        return self.get("tasks", name)

    def _family_member(self, name: str) -> ModelSpec:
        prefix, _, member = name.partition(":")
        family_entry = self.entries["models"].get(f"{prefix}:*")
        if family_entry is None:
            families = [e.spec.prefix for e in self.entries["models"].values() if isinstance(e.spec, ModelFamilySpec)]
            raise UnknownNameError("model family", prefix, families)
        names = [] if family_entry.spec.any_name else _family_names(family_entry.spec)
        if not family_entry.spec.any_name and member not in names:
            raise UnknownNameError("model", name, [f"{prefix}:{n}" for n in names])
        return family_entry.spec.member(member)

    # -- building ------------------------------------------------------------------------------------

    def add(self, kind: str, spec: Any, plugin: str) -> None:
        """Record one spec; a name another plugin already gave becomes a conflict (both are named)."""
        if not isinstance(spec, _SPEC_TYPES[kind]):
            raise TypeError(f"hook shrinkbench_{kind} returned {type(spec).__name__}, expected a spec dataclass")
        names = [spec.name, *getattr(spec, "aliases", ())]
        for n in names:
            owner = self._owner(kind, n)
            if owner is not None and owner != plugin:
                self.conflicts[kind][n] = (owner, plugin)
                if _strict():
                    raise NameConflictError(f"{_singular(kind)} {n!r} is provided by both {owner} and {plugin}")
        self.entries[kind].setdefault(spec.name, Entry(spec.name, spec, plugin))
        for alias in names[1:]:
            self.aliases[kind].setdefault(alias, spec.name)

    def _owner(self, kind: str, name: str) -> str | None:
        if name in self.entries[kind]:
            return self.entries[kind][name].plugin
        if name in self.aliases[kind]:
            return self.entries[kind][self.aliases[kind][name]].plugin
        return None

    def conflict_messages(self) -> dict[str, list[str]]:
        """Per distribution, a one-line message for each name it shares with another plugin."""
        out: dict[str, list[str]] = {}
        for kind, names in self.conflicts.items():
            for name, (first, second) in names.items():
                msg = f"{_singular(kind)} {name!r} is provided by both {first} and {second}"
                out.setdefault(first, []).append(msg)
                out.setdefault(second, []).append(msg)
        return out

def _singular(kind: str) -> str:
    return "strategy" if kind == "strategies" else kind[:-1]


def _strict() -> bool:
    return os.environ.get("SHRINKBENCH_STRICT_PLUGINS", "").lower() in {"1", "true", "yes"}

_family_cache: dict[int, list[str]] = {}


def forget_family_names() -> None:
    """Forget the member names read from model families (after installing or removing models at run time)."""
    _family_cache.clear()


def _family_names(family: ModelFamilySpec) -> list[str]:
    key = id(family)
    if key not in _family_cache:
        from .specs import resolve

        _family_cache[key] = list(resolve(family.names)())
    return _family_cache[key]

def new_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager that knows ShrinkBench's hook specifications and nothing else."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm

def build_registry(plugin_set: PluginSet, objects: dict[str, object]) -> Registry:
    """Register the plugins ``plugin_set`` describes (``objects``: inline plugin objects by name)."""
    disabled = set(plugin_set.disabled)
    pm = new_plugin_manager()
    registry = Registry(plugin_set=plugin_set)
    owners: dict[str, PluginInfo] = {}

    candidates: list[tuple[str, str, str, Any]] = []
    if plugin_set.entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            candidates.append((ep.name, dist, version, ep))
    for name, module_path in plugin_set.modules:
        source = objects.get(name) or metadata.EntryPoint(name, module_path, ENTRY_POINT_GROUP)
        version = "env" if name == module_path else "inline"
        candidates.append((name, name, version, source))
    candidates += [(name, name, "inline", objects[name]) for name in plugin_set.local_only]
    fatal = hard_exits([c for c in candidates if c[0] not in disabled and isinstance(c[3], metadata.EntryPoint)])

    for name, dist, version, source in candidates:
        if name in disabled:
            registry.plugins.append(PluginInfo(name, dist, version, "disabled"))
            continue
        if name in fatal:
            registry.plugins.append(PluginInfo(name, dist, version, "failed", fatal[name]))
            continue
        try:
            module = source.load() if isinstance(source, metadata.EntryPoint) else source
            if pm.is_registered(module):  # e.g. named in SHRINKBENCH_PLUGINS and installed too
                continue
            pm.register(module, name=name)
            try:
                pm.check_pending()
            except pluggy.PluginValidationError:
                pm.unregister(name=name)
                raise
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # noqa: BLE001 - one plugin must not break the others
            if _strict():
                raise
            registry.plugins.append(PluginInfo(name, dist, version, "failed", _plugin_failure(exc)))
            continue
        info = PluginInfo(name, dist, version, "ok")
        owners[name] = info
        registry.plugins.append(info)

    for kind in KINDS:
        hook = getattr(pm.hook, f"shrinkbench_{kind}")
        for impl in hook.get_hookimpls():  # registration order
            info = owners[impl.plugin_name]
            try:
                for spec in impl.function() or ():
                    registry.add(kind, spec, info.distribution)
            except Exception as exc:  # noqa: BLE001
                if _strict():
                    raise
                _mark_failed(registry, info, f"shrinkbench_{kind}: {_plugin_failure(exc)}")

    for dist, messages in registry.conflict_messages().items():
        for info in [p for p in registry.plugins if p.distribution == dist and p.status == "ok"]:
            _mark_failed(registry, info, "; ".join(messages), status="conflict")
    return registry


def _mark_failed(registry: Registry, info: PluginInfo, error: str, status: str = "failed") -> None:
    index = next(i for i, p in enumerate(registry.plugins) if p.name == info.name)
    old = registry.plugins[index]
    joined = f"{old.error}; {error}" if old.error else error
    registry.plugins[index] = PluginInfo(old.name, old.distribution, old.version, status, joined)


def _plugin_failure(exc: BaseException) -> str:
    """Why a plugin failed, in one line (``sys.exit()`` at import says so: its message alone would hide it)."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: called sys.exit({exc.code!r}) while being imported"
    return one_line(exc)
