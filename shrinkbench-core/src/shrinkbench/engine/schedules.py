"""Pruning schedules: how a run reaches its target compression over time.

A schedule's plan is a sequence of :class:`Round` s. In each round the engine prunes the model with the run's
strategy to the round's compression, optionally rewinds the kept weights to an early checkpoint of the dense
run, then finetunes for the round's epochs -- pruning further at the round's in-training steps, if any. The
total finetuning epochs of the plan are recorded in every row (``finetune_epochs``), so methods with different
budgets are never compared silently.

- ``oneshot``: prune once to the target, finetune (the original ShrinkBench protocol; the default).
- ``iterative``: ``rounds`` rounds; round *i* prunes to ``target ** (i / rounds)`` (a geometric path) and
  finetunes for the recipe's epochs; with ``rewind_epoch``, the kept weights are reset after each pruning to
  those of the dense run at that epoch (0: its initial weights) -- lottery-ticket rewinding (Frankle et al.).
- ``gradual``: sparsity rises during finetuning along the cubic schedule of Zhu & Gupta (2017), from the step
  ``start`` to ``end`` (fractions of the finetuning) every ``frequency`` steps; the strategy recomputes the
  masks at each of these steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ShrinkBenchError
from .executors import int_option

__all__ = ["Round", "SchedulePlan", "cubic_pruned", "gradual", "iterative", "oneshot"]


@dataclass(frozen=True)
class Round:
    """Prune to ``compression`` (1: not at all), rewind when asked, then finetune for ``epochs`` epochs,
    pruning again at ``steps`` (``(step of the round, compression)`` pairs, steps counted from 0)."""

    compression: float
    epochs: int
    rewind: bool = False
    steps: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class SchedulePlan:
    """The rounds of a run and the dense epoch that rewinding restores (``None``: no rewinding)."""

    rounds: tuple[Round, ...]
    rewind_epoch: int | None = None

    @property
    def total_epochs(self) -> int:
        """Finetuning epochs spent over all rounds."""
        return sum(r.epochs for r in self.rounds)


Plan = Callable[[float, int, int, int, int], SchedulePlan]


def oneshot(options: Mapping[str, Any]) -> Plan:
    """``oneshot``: one round, pruned to the target before finetuning (no options)."""

    def plan(target: float, epochs: int, steps_per_epoch: int, total: int, prunable: int) -> SchedulePlan:
        return SchedulePlan((Round(target, epochs),))

    return plan


def iterative(options: Mapping[str, Any]) -> Plan:
    """``iterative``: ``rounds`` (default 3) rounds along a geometric path, each finetuned for the recipe's
    epochs; ``rewind_epoch`` (default: none) rewinds the kept weights to that epoch of the dense run."""
    rounds = int_option(options, "rounds", 3)
    rewind = options.get("rewind_epoch")
    rewind_epoch = int_option(options, "rewind_epoch", 0, minimum=0) if rewind not in (None, "", "none") else None

    def plan(target: float, epochs: int, steps_per_epoch: int, total: int, prunable: int) -> SchedulePlan:
        path = [target ** ((i + 1) / rounds) for i in range(rounds)]
        return SchedulePlan(tuple(Round(c, epochs, rewind=rewind_epoch is not None) for c in path), rewind_epoch)

    return plan


def cubic_pruned(final_pruned: int, step: int, start: int, end: int) -> int:
    """Weights pruned at ``step`` by Zhu & Gupta's cubic schedule: ``final * (1 - (1 - (step - start) /
    (end - start)) ** 3)``, 0 before ``start``, ``final`` from ``end`` on (rounded to whole weights)."""
    if step <= start:
        return 0
    if step >= end:
        return final_pruned
    return round(final_pruned * (1 - (1 - (step - start) / (end - start)) ** 3))


def gradual(options: Mapping[str, Any]) -> Plan:
    """``gradual``: the cubic schedule from ``start`` (default 0) to ``end`` (default 0.75) of the finetuning,
    as fractions of its steps, pruning every ``frequency`` steps (default: a quarter of an epoch)."""
    start, end = _fraction(options, "start", 0.0), _fraction(options, "end", 0.75)
    if end <= start:
        raise ShrinkBenchError(f"schedule option end ({end:g}) must come after start ({start:g})")

    def plan(target: float, epochs: int, steps_per_epoch: int, total: int, prunable: int) -> SchedulePlan:
        steps = epochs * steps_per_epoch
        frequency = int_option(options, "frequency", max(1, steps_per_epoch // 4))
        first, last = round(start * steps), max(round(end * steps), round(start * steps) + 1)
        dense_rest = total - prunable
        final_pruned = prunable - max(0, min(prunable, round(total / target) - dense_rest))
        events = []
        for step in range(first, last + frequency, frequency):
            pruned = cubic_pruned(final_pruned, min(step, last), first, last)
            if pruned > 0 and step < max(steps, 1):
                events.append((step, total / (total - pruned)))
        if not events or events[-1][1] < target:  # the target itself, at the last pruning step or the end
            events.append((min(last, max(steps - 1, 0)), target))
        return SchedulePlan((Round(1.0, epochs, steps=tuple(events)),))

    return plan


def _fraction(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 <= number <= 1:
        raise ShrinkBenchError(f"schedule option {key} must be a fraction of the finetuning in [0, 1], got {value!r}")
    return number
