"""A training recipe: what a dataset plugin declares as its standard pretraining and finetuning, and what a sweep
may change. Importable without torch (dataset specs name their recipes at registration)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import ShrinkBenchError
from .losses import DEFAULT_LOSS, LOSSES

__all__ = ["LR_SCHEDULES", "OPTIMIZERS", "RECIPE_FIELDS", "Recipe"]

OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: optimizer, learning-rate schedule, epochs, batch size and loss.

    ``lr_schedule``: ``constant``, ``cosine`` (to zero over the epochs) or ``step`` (x0.1 at 50% and 75%).
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
    lr_schedule: str = "cosine"
    loss: str = DEFAULT_LOSS
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ShrinkBenchError(f"a recipe needs epochs >= 0, batch_size >= 1 and lr > 0, got epochs={self.epochs}, "
                                   f"batch_size={self.batch_size}, lr={self.lr}")
        for key, value, known in (("optimizer", self.optimizer, OPTIMIZERS),
                                  ("lr_schedule", self.lr_schedule, LR_SCHEDULES), ("loss", self.loss, tuple(LOSSES))):
            if value not in known:
                raise ShrinkBenchError(f"{key} must be one of {', '.join(known)}, got {value!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ShrinkBenchError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")

    def updated(self, **changes: Any) -> Recipe:
        """A copy with the non-``None`` ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


RECIPE_FIELDS = tuple(f.name for f in fields(Recipe))
