"""The experiment engine: dense model once -> prune -> finetune -> measure, over a sweep of strategies,
compressions and seeds, with resumable, atomic result storage.

Entry points: :func:`build_sweep_config` (what ``shrinkbench bench`` would run), :func:`run_sweep` (run it),
:class:`ResultsStore` (where results go). The configuration, the store and the events import no torch; the
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
    "Recipe": "config", "RunSpec": "config", "SweepConfig": "config", "standard_recipes": "config",
    "build_sweep_config": "assemble", "read_toml": "assemble", "SETTINGS": "assemble",
    "ResultsStore": "store",
    "Executor": "executors", "ProcessExecutor": "executors", "SequentialExecutor": "executors",
    "make_executor": "executors",
    "SweepOutcome": "sweep", "run_sweep": "sweep", "validate": "sweep",
}

if TYPE_CHECKING:
    from .assemble import SETTINGS, build_sweep_config, read_toml
    from .config import Recipe, RunSpec, SweepConfig, standard_recipes
    from .executors import Executor, ProcessExecutor, SequentialExecutor, make_executor
    from .store import ResultsStore
    from .sweep import SweepOutcome, run_sweep, validate

__all__ = [
    "SETTINGS", "Executor", "ProcessExecutor", "Recipe", "ResultsStore", "RunSpec", "SequentialExecutor",
    "SweepConfig", "SweepOutcome", "build_sweep_config", "make_executor", "read_toml", "run_sweep",
    "standard_recipes", "validate",
]
assert sorted(__all__) == sorted(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY, globals())
