"""Experiment configuration: training recipes, the fixed part of a sweep, and one run's identity.

Only the pruning method may vary inside a results directory: everything in :class:`SweepConfig` except the
lists of strategies, compressions and seeds (and where/how fast it runs) is fixed, and its
:meth:`SweepConfig.fingerprint` is stored with the results so that a different configuration is refused.
How flags, a TOML file and the standard recipes combine into a :class:`SweepConfig` is
:func:`shrinkbench.engine.assemble.build_sweep_config`. This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ShrinkBenchError
from ..losses import DEFAULT_LOSS, LOSSES

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "step")
SELECTIONS = ("final", "best-val")
DEFAULT_DATASET = "mnist-5k"
DEFAULT_MODEL = "lenet-300-100"
DEFAULT_COMPRESSIONS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
RESULTS_ROOT = "shrinkbench-results"
DEFAULT_SCHEDULE = "oneshot"


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: optimizer, learning-rate schedule, epochs, batch size and loss.

    ``schedule``: ``constant``, ``cosine`` (to zero over the epochs) or ``step`` (x0.1 at 50% and 75%).
    ``loss`` names a loss of :data:`shrinkbench.losses.LOSSES` (cross-entropy, optionally label-smoothed).
    ShrinkBench finetunes with SGD + Nesterov momentum, the default here.
    """

    epochs: int
    lr: float
    batch_size: int = 64
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    loss: str = DEFAULT_LOSS
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ShrinkBenchError(f"a recipe needs epochs >= 0, batch_size >= 1 and lr > 0, got epochs={self.epochs}, "
                                   f"batch_size={self.batch_size}, lr={self.lr}")
        for key, value, known in (("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                                  ("loss", self.loss, tuple(LOSSES))):
            if value not in known:
                raise ShrinkBenchError(f"{key} must be one of {', '.join(known)}, got {value!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ShrinkBenchError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")

    def updated(self, **changes: Any) -> Recipe:
        """A copy with the non-``None`` ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# Standard recipes per dataset family: (pretrain, finetune). Small by default where CPUs are the norm.
_MNIST = (Recipe(epochs=10, lr=0.05), Recipe(epochs=4, lr=0.01, schedule="constant"))
_CIFAR = (Recipe(epochs=160, lr=0.1, batch_size=128, weight_decay=1e-4, schedule="step"),
          Recipe(epochs=30, lr=0.01, batch_size=128, weight_decay=1e-4))
_IMAGENET = (Recipe(epochs=90, lr=0.1, batch_size=256, weight_decay=1e-4, schedule="step"),
             Recipe(epochs=10, lr=0.001, batch_size=256, weight_decay=1e-4))
STANDARD_RECIPES: dict[str, tuple[Recipe, Recipe]] = {
    "mnist-5k": _MNIST, "mnist": _MNIST, "fashion-mnist": _MNIST,
    "cifar10": _CIFAR, "cifar100": _CIFAR,
    "imagenet": _IMAGENET, "places365": _IMAGENET,
}
DEFAULT_RECIPES = (Recipe(epochs=10, lr=0.01), Recipe(epochs=5, lr=0.01, schedule="constant"))


def standard_recipes(dataset: str) -> tuple[Recipe, Recipe]:
    """The (pretrain, finetune) recipes used for ``dataset`` unless the user overrides them."""
    return STANDARD_RECIPES.get(dataset, DEFAULT_RECIPES)


# Fields that say where or how fast a sweep runs, or that vary inside it: not part of the fingerprint.
_NOT_FIXED = ("strategies", "compressions", "seeds", "schedules", "rewind_epochs", "checkpoint", "checkpoint_sha256", "pretrained",
              "pretrained_sha256", "data_root", "eval_batch_size", "threads", "out", "jobs", "device", "workers",
              "deterministic", "compile", "channels_last", "tf32", "executor", "executor_options")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class SweepConfig:
    """A controlled sweep: fixed (dataset, model, recipes, evaluation) x varying (strategy, compression, seed).

    Dense weights: pretrained from scratch with ``pretrain`` (default); from ``pretrained`` weights (a local file
    or a tag the model's source knows) then trained with ``pretrain`` (``epochs = 0`` keeps them as they are);
    or read from ``checkpoint``, a dense model of this dataset used as is. ``out`` is the results directory
    (default ``shrinkbench-results/<dataset>-<model>``).

    Where and how fast it runs (none of it is part of the fingerprint, except ``precision``): ``device``
    (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``; resolved once by the sweep), ``precision`` (``fp32``,
    ``bf16``, ``fp16``), ``threads`` (torch threads inside every run; ``None``: the cores shared by ``jobs``;
    an explicit value makes ``jobs = 2`` reproduce ``jobs = 1`` exactly), ``workers`` (DataLoader processes
    for folder datasets; ``None``: min(8, cores / jobs)), ``eval_batch_size`` (``None``: 1024 on CUDA, else
    256), ``deterministic``, ``compile``, ``channels_last`` and ``tf32`` (see
    :class:`shrinkbench.engine.runtime.Runtime`),
    ``executor`` (an installed executor's name; ``None``: ``sequential`` for one job, else ``local``) and its
    ``executor_options`` (``(name, value)`` pairs).

    ``schedules`` vary like strategies (every strategy runs under every schedule; ``oneshot`` by default);
    ``schedule_options`` are fixed. ``rewind_epochs`` (dense epochs whose weights rewinding needs) is derived
    from them by the sweep.
    """

    dataset: str
    model: str
    pretrain: Recipe
    finetune: Recipe
    strategies: tuple[str, ...]
    compressions: tuple[float, ...]
    seeds: tuple[int, ...] = (0,)
    val_fraction: float = 0.1
    selection: str = "final"
    include_classifier: bool = False
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    pretrained: str | None = None
    pretrained_sha256: str | None = None
    data_root: str | None = None
    eval_batch_size: int | None = None
    threads: int | None = None
    out: str | None = None
    jobs: int = 1
    device: str = "auto"
    precision: str = "fp32"
    workers: int | None = None
    deterministic: bool = False
    compile: bool = False
    channels_last: bool = False
    tf32: bool = True
    executor: str | None = None
    executor_options: tuple[tuple[str, Any], ...] = ()
    schedules: tuple[str, ...] = (DEFAULT_SCHEDULE,)
    schedule_options: tuple[tuple[str, Any], ...] = ()
    rewind_epochs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.val_fraction < 1:
            raise ShrinkBenchError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.selection not in SELECTIONS:
            raise ShrinkBenchError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if self.selection == "best-val" and self.val_fraction == 0:
            raise ShrinkBenchError("selection 'best-val' needs a validation split: set val_fraction > 0")
        if self.precision not in PRECISIONS:
            raise ShrinkBenchError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.checkpoint and self.pretrained:
            raise ShrinkBenchError("give either checkpoint (dense weights used as they are) or pretrained (weights "
                                   "to pretrain from), not both")

    @property
    def results_dir(self) -> Path:
        """Where the results go: ``out``, or ``shrinkbench-results/<dataset>-<model>``."""
        return Path(self.out) if self.out else Path(RESULTS_ROOT) / f"{self.dataset}-{self.model.replace(':', '_')}"

    @property
    def executor_name(self) -> str:
        """The executor that runs the sweep: ``executor``, else ``sequential`` (one job) or ``local``."""
        return self.executor or ("local" if self.jobs > 1 else "sequential")

    @property
    def initial_weights(self) -> str | None:
        """What identifies the weights the dense model starts from: a file's SHA-256 or a pretrained tag."""
        if self.checkpoint:
            return f"checkpoint:{self.checkpoint_sha256 or self.checkpoint}"
        if self.pretrained:
            return f"pretrained:{self.pretrained_sha256 or self.pretrained}"
        return None

    def fixed_part(self) -> dict[str, Any]:
        """Everything that must be identical for results to be comparable (not strategies/compressions/seeds)."""
        data = asdict(self)
        for varying in _NOT_FIXED:
            data.pop(varying)
        data["initial_weights"] = self.initial_weights
        return data

    def fingerprint(self) -> str:
        """A short hash of :meth:`fixed_part`."""
        return _hash(self.fixed_part())

    def runs(self) -> list[RunSpec]:
        """Every (strategy, schedule, compression, seed) combination, seeds outermost."""
        return [
            RunSpec(strategy, compression, seed, schedule)
            for seed in self.seeds
            for strategy in self.strategies
            for schedule in self.schedules
            for compression in self.compressions
        ]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (round-trips through :func:`sweep_from_json`)."""
        return asdict(self)


def sweep_from_json(data: dict[str, Any]) -> SweepConfig:
    """Rebuild a :class:`SweepConfig` from :meth:`SweepConfig.to_json`."""
    data = dict(data)
    data["pretrain"] = Recipe(**data["pretrain"])
    data["finetune"] = Recipe(**data["finetune"])
    for key in ("strategies", "compressions", "seeds", "schedules", "rewind_epochs"):
        data[key] = tuple(data.get(key, ()))
    data["schedules"] = data["schedules"] or (DEFAULT_SCHEDULE,)
    data["schedule_options"] = tuple(tuple(pair) for pair in data.get("schedule_options", ()))
    data["executor_options"] = tuple(tuple(pair) for pair in data.get("executor_options", ()))
    return SweepConfig(**data)


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep."""

    strategy: str
    compression: float
    seed: int
    schedule: str = DEFAULT_SCHEDULE

    @property
    def run_id(self) -> str:
        """A stable, file-system-safe identifier, e.g. ``global-magnitude_c4_s0`` (one-shot) or
        ``global-magnitude+iterative_c4_s0``."""
        method = self.strategy if self.schedule == DEFAULT_SCHEDULE else f"{self.strategy}+{self.schedule}"
        return f"{method}_c{self.compression:g}_s{self.seed}"


@dataclass(frozen=True)
class DenseKey:
    """What identifies a dense (unpruned) model: trained once, shared by every strategy and compression."""

    dataset: str
    model: str
    pretrain: Recipe
    seed: int
    val_fraction: float
    initial_weights: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """A hash of the key, used as the cache file name."""
        return _hash(asdict(self))


def _hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
