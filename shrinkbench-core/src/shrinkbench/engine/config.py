"""Experiment configuration: training recipes, the fixed part of a sweep, and one run's identity.

Only the pruning method may vary inside a results directory: everything in :class:`SweepConfig` except the
lists of strategies, compressions and seeds is fixed, and its :meth:`SweepConfig.fingerprint` is stored with
the results so that a different configuration is refused.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import ShrinkBenchError

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "step")
SELECTIONS = ("final", "best-val")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: optimizer, learning-rate schedule, epochs and batch size.

    ``schedule``: ``constant``, ``cosine`` (to zero over the epochs) or ``step`` (x0.1 at 50% and 75%).
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

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ShrinkBenchError(f"recipe needs epochs >= 0, batch_size >= 1 and lr > 0, got {self}")
        if self.optimizer not in OPTIMIZERS:
            raise ShrinkBenchError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ShrinkBenchError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")

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


@dataclass(frozen=True)
class SweepConfig:
    """A controlled sweep: fixed (dataset, model, recipes, evaluation) x varying (strategy, compression, seed).

    ``threads`` is torch's thread count inside every run (and dense pretraining), whatever the executor: the
    thread count changes floating-point summation order, so fixing it makes ``--jobs 2`` reproduce
    ``--jobs 1`` exactly. One thread is also the fastest setting for small models on a 2-core machine.
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
    data_root: str | None = None
    eval_batch_size: int = 256
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.val_fraction < 1:
            raise ShrinkBenchError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.selection not in SELECTIONS:
            raise ShrinkBenchError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if self.selection == "best-val" and self.val_fraction == 0:
            raise ShrinkBenchError("selection 'best-val' needs a validation split: set val_fraction > 0")

    def fixed_part(self) -> dict[str, Any]:
        """Everything that must be identical for results to be comparable (not strategies/compressions/seeds)."""
        data = asdict(self)
        for varying in ("strategies", "compressions", "seeds", "checkpoint", "data_root", "eval_batch_size", "threads"):
            data.pop(varying)
        return data

    def fingerprint(self) -> str:
        """A short hash of :meth:`fixed_part`."""
        return _hash(self.fixed_part())

    def runs(self) -> list[RunSpec]:
        """Every (strategy, compression, seed) combination, seeds outermost."""
        return [
            RunSpec(strategy, compression, seed)
            for seed in self.seeds
            for strategy in self.strategies
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
    for key in ("strategies", "compressions", "seeds"):
        data[key] = tuple(data[key])
    return SweepConfig(**data)


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep."""

    strategy: str
    compression: float
    seed: int

    @property
    def run_id(self) -> str:
        """A stable, file-system-safe identifier, e.g. ``global-magnitude_c4_s0``."""
        return f"{self.strategy}_c{self.compression:g}_s{self.seed}"


@dataclass(frozen=True)
class DenseKey:
    """What identifies a dense (unpruned) model: trained once, shared by every strategy and compression."""

    dataset: str
    model: str
    pretrain: Recipe
    seed: int
    val_fraction: float
    extra: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """A hash of the key, used as the cache file name."""
        return _hash(asdict(self))


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file: top-level sweep keys plus ``[pretrain]`` and ``[finetune]`` recipe tables.

    Raises :class:`ShrinkBenchError` for unreadable files and unknown keys.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ShrinkBenchError(f"cannot read config file {path}: {exc}") from None
    allowed = {f.name for f in fields(SweepConfig)} | {"pretrain", "finetune"}
    recipe_keys = {f.name for f in fields(Recipe)}
    for key, value in data.items():
        if key not in allowed:
            raise ShrinkBenchError(f"config file {path}: unknown key {key!r}; known: {', '.join(sorted(allowed))}")
        if key in ("pretrain", "finetune"):
            unknown = set(value) - recipe_keys
            if unknown:
                raise ShrinkBenchError(
                    f"config file {path}: unknown [{key}] key {sorted(unknown)[0]!r}; known: {', '.join(sorted(recipe_keys))}"
                )
    return data


def _hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
