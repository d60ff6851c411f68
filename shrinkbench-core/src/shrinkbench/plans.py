"""What a pruning schedule receives and returns: a :class:`ScheduleContext` in, a :class:`SchedulePlan` out.

A plan is a sequence of :class:`Round` s. The engine carries each out in order: prune the model with the run's
strategy to the round's ``prune_to`` compression (if any), rewind the kept weights to a dense pretraining
epoch (if ``rewind_to``), then train for the round's ``epochs``, pruning further at its ``steps``. Everything
a plan means is in its rounds: there is no second place that says whether or where to rewind. This module
imports neither torch nor any plugin.

Example (a schedule that prunes halfway, finetunes, then prunes to the target and finetunes again)::

    from shrinkbench import Round, ScheduleContext, SchedulePlan

    def twice(ctx: ScheduleContext) -> SchedulePlan:
        return SchedulePlan((Round(ctx.epochs, prune_to=ctx.target ** 0.5), Round(ctx.epochs, prune_to=ctx.target)))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ShrinkBenchError
from .values import Options

__all__ = ["Round", "ScheduleContext", "SchedulePlan"]


@dataclass(frozen=True)
class ScheduleContext:
    """Everything a schedule may base its plan on.

    ``target``: the run's target compression (dense parameters / remaining nonzero parameters); ``epochs``:
    the finetuning recipe's epochs; ``steps_per_epoch``: optimizer steps in one finetuning epoch;
    ``parameters`` / ``prunable``: the dense model's parameter count and how many of them are prunable;
    ``pretrain_epochs``: the dense model's pretraining epochs (a rewound round trains for what is left of them,
    see :class:`Round`); ``options``: this schedule's options as the user gave them, read with
    :class:`shrinkbench.values.Options` (``ctx.options.integer("rounds", 3)``).
    """

    target: float
    epochs: int
    steps_per_epoch: int
    parameters: int
    prunable: int
    pretrain_epochs: int = 0
    options: Options = field(default_factory=lambda: Options("schedule", {}))

    @classmethod
    def of(cls, name: str, values: Mapping[str, Any], **fields: Any) -> ScheduleContext:
        """A context whose options belong to the schedule ``name`` (errors name it)."""
        return cls(options=Options(f"schedule {name}", values), **fields)


@dataclass(frozen=True)
class Round:
    """One round of a run.

    ``prune_to``: the compression (over the whole dense model) to prune to before training; ``None`` keeps
    the current masks. ``rewind_to``: after pruning, reset the kept weights to those of the dense pretraining run
    after epoch ``rewind_to`` (0: its initial weights), and train with the *pretraining* recipe from that epoch on
    (learning-rate schedule included) for ``epochs`` epochs -- lottery-ticket rewinding (Frankle et al. 2019,
    "Stabilizing the Lottery Ticket Hypothesis"; 2020, "Linear Mode Connectivity and the Lottery Ticket
    Hypothesis"); without it the round trains with the finetuning recipe. ``steps``: ``(step, compression)``
    pairs, pruning further during training after that optimizer step of the round (counted from 0).
    """

    epochs: int
    prune_to: float | None = None
    rewind_to: int | None = None
    steps: tuple[tuple[int, float], ...] = ()

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ShrinkBenchError(f"a round needs epochs >= 0, got {self.epochs}")
        if self.prune_to is not None and not self.prune_to >= 1:
            raise ShrinkBenchError(f"a round prunes to a compression >= 1, got {self.prune_to}")
        if self.rewind_to is not None and self.rewind_to < 0:
            raise ShrinkBenchError(f"a round rewinds to a pretraining epoch >= 0, got {self.rewind_to}")
        steps = [s for s, _ in self.steps]
        if steps != sorted(set(steps)) or any(s < 0 for s in steps) or any(c < 1 for _, c in self.steps):
            raise ShrinkBenchError(f"a round's pruning steps must be increasing steps >= 0 with compressions >= 1, "
                                   f"got {self.steps}")

    @property
    def prunes(self) -> bool:
        """Whether the round prunes at all (at its start or during training)."""
        return self.prune_to is not None or bool(self.steps)


@dataclass(frozen=True)
class SchedulePlan:
    """The rounds of one run, in order."""

    rounds: tuple[Round, ...]

    def __post_init__(self) -> None:
        if not self.rounds:
            raise ShrinkBenchError("a schedule's plan needs at least one round")

    @property
    def total_epochs(self) -> int:
        """Training epochs over all rounds (the run's budget, recorded in its row)."""
        return sum(r.epochs for r in self.rounds)

    @property
    def rewind_epochs(self) -> tuple[int, ...]:
        """The dense pretraining epochs rounds rewind to, sorted (empty: no rewinding)."""
        return tuple(sorted({r.rewind_to for r in self.rounds if r.rewind_to is not None}))

    def prune_targets(self) -> list[float]:
        """Every compression the plan prunes to, in the order it happens."""
        targets: list[float] = []
        for r in self.rounds:
            targets += ([r.prune_to] if r.prune_to is not None else []) + [c for _, c in r.steps]
        return targets

    def last_pruning(self) -> tuple[int, int | None]:
        """Where the last pruning happens: ``(round index, step)``, the step ``None`` when it is at the round's
        start. Raises :class:`ShrinkBenchError` when the plan never prunes."""
        for index in range(len(self.rounds) - 1, -1, -1):
            r = self.rounds[index]
            if r.steps:
                return index, r.steps[-1][0]
            if r.prune_to is not None:
                return index, None
        raise ShrinkBenchError("the schedule's plan never prunes")
