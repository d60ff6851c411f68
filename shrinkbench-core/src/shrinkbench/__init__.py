"""ShrinkBench core: plugin hooks, masking API, metrics and the experiment engine.

Everything a plugin author needs is importable from here::

    from shrinkbench import StrategySpec, PruningContext, Masks, hookimpl

``import shrinkbench`` does not import torch: the hook marker, the specs and the errors are loaded at once,
the names that need torch (``PruningContext``, ``Masks``, ``eval_mode``, ...) on first access, and the
conformance checks (``check_strategy``, ...; they need pytest) likewise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from .errors import (
    CompressionError,
    DataNotFoundError,
    IncompatibleError,
    MaskError,
    MetricNote,
    NameConflictError,
    ShrinkBenchError,
    UnknownNameError,
    WeightsNotFoundError,
)
from .hookspecs import PROJECT_NAME
from .lazy import lazy_getattr
from .specs import (
    DatasetSpec,
    ExecutorSpec,
    MetricSpec,
    ModelFamilySpec,
    ModelSpec,
    PluginInfo,
    ScheduleSpec,
    StrategySpec,
)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("shrinkbench-core")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


__version__ = _version()
"""The installed version of shrinkbench-core (its single source is ``shrinkbench-core/pyproject.toml``)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Decorator for hook implementations: ``@shrinkbench.hookimpl``."""

# name -> module that defines it, imported on first access (these modules import torch)
_LAZY = {
    "Batch": "pruning",
    "Masks": "masking",
    "MaskedModel": "masking",
    "apply_masks": "masking",
    "PruningContext": "pruning",
    "make_context": "pruning",
    "prunable_parameters": "pruning",
    "weight_gradients": "pruning",
    "MetricContext": "metrics",
    "eval_mode": "modules",
    "find_classifier": "modules",
    "owner_module": "modules",
    "set_classifier": "modules",
    "get_registry": "plugins",
    "check_dataset": "testing",
    "check_metric": "testing",
    "check_model": "testing",
    "check_strategy": "testing",
    "load_registry": "plugins",
}

if TYPE_CHECKING:
    from .masking import MaskedModel, Masks, apply_masks
    from .metrics import MetricContext
    from .modules import eval_mode, find_classifier, owner_module, set_classifier
    from .plugins import get_registry, load_registry
    from .pruning import Batch, PruningContext, make_context, prunable_parameters, weight_gradients
    from .testing import check_dataset, check_metric, check_model, check_strategy


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Batch",
    "CompressionError",
    "DataNotFoundError",
    "DatasetSpec",
    "ExecutorSpec",
    "IncompatibleError",
    "MaskError",
    "MaskedModel",
    "Masks",
    "MetricContext",
    "MetricNote",
    "MetricSpec",
    "ModelFamilySpec",
    "ModelSpec",
    "NameConflictError",
    "PluginInfo",
    "PruningContext",
    "ScheduleSpec",
    "ShrinkBenchError",
    "StrategySpec",
    "UnknownNameError",
    "WeightsNotFoundError",
    "__version__",
    "apply_masks",
    "check_dataset",
    "check_metric",
    "check_model",
    "check_strategy",
    "eval_mode",
    "find_classifier",
    "get_registry",
    "hookimpl",
    "load_registry",
    "make_context",
    "owner_module",
    "prunable_parameters",
    "set_classifier",
    "weight_gradients",
]
