"""ShrinkBench core: plugin hooks, masking API, metrics and the experiment engine.

Everything a plugin author needs, for every kind of plugin, is importable from here::

    from shrinkbench import StrategySpec, PruningContext, Masks, hookimpl          # strategies
    from shrinkbench import ModelSpec, ModelFamilySpec, DatasetSpec, MetricSpec    # models, data, metrics
    from shrinkbench import ScheduleSpec, ScheduleContext, SchedulePlan, Round     # pruning schedules
    from shrinkbench import ExecutorSpec, ExecutorContext, Task, TaskContext, TaskLost, Options   # executors
    from shrinkbench import TaskSpec, TaskMetric, Tokenizer, Recipe                # learning tasks, recipes

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
from .plans import Round, ScheduleContext, SchedulePlan
from .recipe import Recipe
from .specs import (
    REQUIREMENTS,
    STRUCTURED_TOLERANCE,
    DatasetSpec,
    DataStatus,
    ExecutorSpec,
    MetricSpec,
    ModelFamilySpec,
    ModelSpec,
    PluginInfo,
    PrepareContext,
    Prepared,
    Reference,
    ScheduleSpec,
    StrategySpec,
    TaskMetric,
    TaskSpec,
    Tokenizer,
)
from .tasks import (
    Capacity,
    Executor,
    ExecutorContext,
    Resources,
    Task,
    TaskContext,
    TaskLost,
    install_directory,
    read_directory,
)
from .values import Options


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
    "check_n_m": "testing",
    "load_registry": "plugins",
    "n_m_groups": "patterns",
    "pattern_violation": "patterns",
}

if TYPE_CHECKING:
    from .masking import MaskedModel, Masks, apply_masks
    from .metrics import MetricContext
    from .modules import eval_mode, find_classifier, owner_module, set_classifier
    from .patterns import n_m_groups, pattern_violation
    from .plugins import get_registry, load_registry
    from .pruning import Batch, PruningContext, make_context, prunable_parameters, weight_gradients
    from .testing import check_dataset, check_metric, check_model, check_n_m, check_strategy


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "__version__",
    "apply_masks",
    "Batch",
    "Capacity",
    "check_dataset",
    "check_metric",
    "check_model",
    "check_n_m",
    "check_strategy",
    "CompressionError",
    "DataNotFoundError",
    "DatasetSpec",
    "DataStatus",
    "eval_mode",
    "Executor",
    "ExecutorContext",
    "ExecutorSpec",
    "find_classifier",
    "get_registry",
    "hookimpl",
    "IncompatibleError",
    "install_directory",
    "load_registry",
    "make_context",
    "MaskedModel",
    "MaskError",
    "Masks",
    "MetricContext",
    "MetricNote",
    "MetricSpec",
    "ModelFamilySpec",
    "ModelSpec",
    "n_m_groups",
    "NameConflictError",
    "Options",
    "owner_module",
    "pattern_violation",
    "PluginInfo",
    "PrepareContext",
    "Prepared",
    "prunable_parameters",
    "PruningContext",
    "Recipe",
    "Reference",
    "read_directory",
    "REQUIREMENTS",
    "Resources",
    "Round",
    "ScheduleContext",
    "SchedulePlan",
    "ScheduleSpec",
    "set_classifier",
    "ShrinkBenchError",
    "StrategySpec",
    "STRUCTURED_TOLERANCE",
    "Task",
    "TaskContext",
    "TaskLost",
    "TaskMetric",
    "TaskSpec",
    "Tokenizer",
    "UnknownNameError",
    "weight_gradients",
    "WeightsNotFoundError",
]
