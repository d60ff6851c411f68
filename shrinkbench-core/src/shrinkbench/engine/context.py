"""The state of one run as it goes through its rounds: one object instead of a bundle of arguments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from ..masking import MaskedModel
from ..plugins import Registry
from ..pruning import Batch, PruningContext, count_parameters, prunable_parameters
from ..specs import StrategySpec, TaskSpec
from ..tasks import TaskContext
from .calibration import Calibration, draw_calibration
from .config import Recipe
from .data import Splits, make_loader
from .events import EpochLog
from .experiment import Experiment, RunSpec
from .runtime import RunSettings, Runtime
from .train import recipe_loss

__all__ = ["RunContext"]


@dataclass
class RunContext:
    """One run in progress: what it is (``experiment``, ``run``), where it executes (``runtime``, ``settings``,
    ``task``), its data, its model (the one model a run holds: pruned in place, or replaced by its shrunken
    version), the dense parameter count every target is relative to, and what it has recorded so far (epoch
    logs, notes). ``masked`` holds the masks once an unstructured strategy has pruned."""

    registry: Registry
    experiment: Experiment
    run: RunSpec
    runtime: Runtime
    settings: RunSettings
    task: TaskContext
    splits: Splits
    model: nn.Module
    dense_parameters: int = 0
    masked: MaskedModel | None = None
    epochs: list[EpochLog] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _calibration: Calibration | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.dense_parameters = self.dense_parameters or count_parameters(self.model)

    @property
    def strategy(self) -> StrategySpec:
        """The run's strategy."""
        return self.registry.strategy(self.run.strategy)

    @property
    def learning_task(self) -> TaskSpec:
        """The experiment's learning task (its evaluation, metrics and their directions)."""
        return self.registry.task(self.experiment.task)

    @property
    def key(self) -> str:
        """The run id, which keys its events."""
        return self.run.run_id

    def loader(self, recipe: Recipe, shuffle: bool = True):  # noqa: ANN201 - a loader of engine.data
        """Training batches of the run's seed on its device, with ``recipe``'s batch size."""
        return make_loader(self.splits.train, recipe.batch_size, shuffle, self.run.seed, self.runtime.torch_device,
                           self.registry.dataset(self.experiment.dataset).augmented, self.settings.loader_workers,
                           drop_last=self.experiment.full_batches)

    def batches(self) -> Callable[[], Iterator[Batch]]:
        """What a strategy's ``ctx.batches()`` yields: the run's training batches (finetuning batch size)."""
        loader = self.loader(self.experiment.finetune)
        return lambda: iter(loader)

    def pruning_context(self, compression: float) -> PruningContext:
        """What the strategy sees when pruning to ``compression`` (relative to the dense model). Structured
        strategies prune a model that may already be smaller, so nothing is checked against its current size."""
        prunable = prunable_parameters(self.model, include_classifier=self.experiment.include_classifier)
        calibration = self.calibration() if self.strategy.calibration and compression != 1 else None
        return PruningContext(self.model, prunable, float(compression), self.run.seed, self.batches(),
                              recipe_loss(self.experiment.finetune), self.dense_parameters, calibration)

    def calibration(self) -> Calibration:
        """The run's calibration inputs (drawn once, seeded by the run's seed; see :mod:`.calibration`)."""
        if self._calibration is None:
            self._calibration = draw_calibration(self.registry, self.experiment, self.run.seed,
                                                 self.runtime.torch_device)
        return self._calibration

    def seed_everything(self) -> None:
        """Seed torch's global generator with the run's seed (strategies and training draw from it)."""
        torch.manual_seed(self.run.seed)
