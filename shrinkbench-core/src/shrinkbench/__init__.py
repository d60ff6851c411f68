"""ShrinkBench core: plugin hooks, masking API, metrics and the experiment engine.

Importing this package does not import torch; the modules that need it (masking, pruning, metrics, engine)
import it themselves.
"""

from __future__ import annotations

import pluggy

from .errors import ShrinkBenchError
from .hookspecs import PROJECT_NAME
from .specs import DatasetSpec, MetricSpec, ModelFamilySpec, ModelSpec, PluginInfo, StrategySpec

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Decorator for hook implementations: ``@shrinkbench.hookimpl``."""

__all__ = [
    "DatasetSpec",
    "MetricSpec",
    "ModelFamilySpec",
    "ModelSpec",
    "PluginInfo",
    "ShrinkBenchError",
    "StrategySpec",
    "__version__",
    "hookimpl",
]
