"""The experiment engine: dense model once -> prune -> finetune -> measure, over a sweep of strategies,
compressions and seeds, with resumable, atomic result storage.

Entry points: :class:`SweepConfig` (what to run), :func:`run_sweep` (run it), :class:`ResultsStore` (where
results go). Importing this package imports torch.
"""

from .config import Recipe, RunSpec, SweepConfig, load_toml, standard_recipes
from .executors import Executor, ProcessExecutor, SequentialExecutor, make_executor
from .store import ResultsStore
from .sweep import Progress, QuietProgress, SweepOutcome, run_sweep, validate

__all__ = [
    "Executor",
    "ProcessExecutor",
    "Progress",
    "QuietProgress",
    "Recipe",
    "ResultsStore",
    "RunSpec",
    "SequentialExecutor",
    "SweepConfig",
    "SweepOutcome",
    "load_toml",
    "make_executor",
    "run_sweep",
    "standard_recipes",
    "validate",
]
