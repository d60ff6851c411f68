"""Discovery isolates broken plugins, reports conflicts, honours disabling and suggests names."""

from __future__ import annotations

import subprocess
import sys
import types
from importlib import metadata

import pytest

from shrinkbench import StrategySpec, hookimpl
from shrinkbench.errors import NameConflictError, UnknownNameError
from shrinkbench.plugins import load_registry


def module_with(**hooks) -> types.ModuleType:
    module = types.ModuleType("fake_plugin")
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    return module


def strategies(*names):
    return lambda: [StrategySpec(n, f"{n} strategy", "math:sqrt") for n in names]


def test_inline_plugin_lists_and_looks_up_aliases(toy_registry):
    assert [e.name for e in toy_registry.list("strategies")] == ["toy-layer", "toy-magnitude", "toy-random",
                                                                  "toy-shrink"]
    assert toy_registry.strategy("ToyMag").name == "toy-magnitude"
    assert [e.name for e in toy_registry.list("strategies", "*random")] == ["toy-random"]
    assert {e.name for e in toy_registry.list("metrics")} == {"accuracy", "flops", "latency", "memory", "size", "perplexity",
                                                             "prunable-sparsity"}  # the last two: causal-lm only
    assert {e.name for e in toy_registry.list("schedules")} == {"oneshot", "iterative", "gradual"}
    assert {e.name for e in toy_registry.list("executors")} == {"sequential", "local"}


def test_unknown_name_suggests_close_match(toy_registry):
    with pytest.raises(UnknownNameError, match="did you mean 'toy-magnitude'"):
        toy_registry.strategy("toy-magnitud")


def test_broken_and_misspelled_plugins_are_recorded_and_others_work(monkeypatch):
    misspelled = module_with(shrinkbench_strategy=strategies("x"))  # not a hook name
    good = module_with(shrinkbench_strategies=strategies("fine"))
    broken = metadata.EntryPoint("broken", "no_such_module_for_shrinkbench.plugin", "shrinkbench")
    monkeypatch.setattr(metadata, "entry_points", lambda group: [broken])
    registry = load_registry(inline=[("misspelled", misspelled), ("good", good)])
    status = {p.name: p for p in registry.plugins}
    assert status["broken"].status == "failed" and "ModuleNotFoundError" in status["broken"].error
    assert status["misspelled"].status == "failed" and "shrinkbench_strategy" in status["misspelled"].error
    assert status["good"].status == "ok"
    assert [e.name for e in registry.list("strategies")] == ["fine"]


def test_hook_that_raises_marks_its_plugin_failed():
    def explode():
        raise RuntimeError("boom")

    registry = load_registry(inline=[("bad", module_with(shrinkbench_strategies=explode)),
                                     ("good", module_with(shrinkbench_strategies=strategies("fine")))],
                             entry_points=False)
    assert {p.name: p.status for p in registry.plugins} == {"bad": "failed", "good": "ok"}
    assert "boom" in registry.plugins[0].error


def test_strict_mode_reraises(monkeypatch):
    monkeypatch.setenv("SHRINKBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(Exception, match="shrinkbench_strategy"):
        load_registry(inline=[("misspelled", module_with(shrinkbench_strategy=strategies("x")))], entry_points=False)


def test_name_conflict_names_both_plugins():
    registry = load_registry(inline=[("first", module_with(shrinkbench_strategies=strategies("same"))),
                                     ("second", module_with(shrinkbench_strategies=strategies("same")))],
                             entry_points=False)
    with pytest.raises(NameConflictError, match="both first and second"):
        registry.strategy("same")
    assert {p.status for p in registry.plugins} == {"conflict"}


def test_disable_by_env(monkeypatch):
    monkeypatch.setenv("SHRINKBENCH_DISABLE_PLUGINS", "second")
    registry = load_registry(inline=[("first", module_with(shrinkbench_strategies=strategies("a"))),
                                     ("second", module_with(shrinkbench_strategies=strategies("b")))],
                             entry_points=False)
    assert [e.name for e in registry.list("strategies")] == ["a"]
    assert {p.name: p.status for p in registry.plugins}["second"] == "disabled"


def test_discovering_installed_plugins_does_not_import_torch():
    code = ("import sys; from shrinkbench.plugins import get_registry; r = get_registry(); "
            "[r.list(k) for k in ('strategies', 'models', 'datasets', 'metrics')]; "
            "heavy = [m for m in ('torch', 'torchvision', 'timm') if m in sys.modules]; print(heavy); assert not heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
