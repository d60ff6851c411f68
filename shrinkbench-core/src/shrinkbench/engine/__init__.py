"""The experiment engine: dense model once -> prune -> finetune -> measure, over a sweep of strategies,
compressions and seeds, with resumable, atomic result storage.

Entry points: :func:`build_sweep_config` (the request ``shrinkbench bench`` makes of its flags), :func:`resolve`
(the request checked and resolved, every problem at once), :func:`run_sweep` (run it), :class:`ResultsStore`
(where results go). The configuration, the store and the events import no torch; the
names are loaded on first access, so ``from shrinkbench.engine import ResultsStore`` stays light.

Example::

    from shrinkbench.engine import build_sweep_config, run_sweep
    from shrinkbench.plugins import get_registry

    registry = get_registry()
    config = build_sweep_config(registry, None, {"strategy": ["global-magnitude"], "compression": [4]})
    outcome = run_sweep(registry, config)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_getattr

_LAZY = {
    "Recipe": "config", "SweepConfig": "config", "Variant": "config", "standard_recipes": "config",
    "Experiment": "experiment", "RunSpec": "experiment",
    "build_sweep_config": "assemble", "read_toml": "assemble", "SETTINGS": "assemble",
    "ResultsStore": "store",
    "ProcessExecutor": "executors", "SequentialExecutor": "executors",
    "ConfigError": "resolution", "Sweep": "resolution", "resolve": "resolution",
    "Layout": "layout", "ModelProfile": "layout", "choose_layout": "layout",
    "SweepOutcome": "sweep", "run_sweep": "sweep",
}

if TYPE_CHECKING:
    from .assemble import SETTINGS, build_sweep_config, read_toml
    from .config import Recipe, SweepConfig, Variant, standard_recipes
    from .executors import ProcessExecutor, SequentialExecutor
    from .experiment import Experiment, RunSpec
    from .layout import Layout, ModelProfile, choose_layout
    from .resolution import ConfigError, Sweep, resolve
    from .store import ResultsStore
    from .sweep import SweepOutcome, run_sweep

__all__ = [
    "SETTINGS", "ConfigError", "Experiment", "Layout", "ModelProfile", "ProcessExecutor", "Recipe", "ResultsStore",
    "RunSpec", "SequentialExecutor", "Sweep", "SweepConfig", "SweepOutcome", "Variant", "build_sweep_config",
    "choose_layout", "read_toml", "resolve", "run_sweep", "standard_recipes",
]
assert sorted(__all__) == sorted(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY, globals())
