"""Core's pruning schedules: how a run reaches its target compression over time (the contract is
:mod:`shrinkbench.plans`).

- ``oneshot``: prune once to the target, finetune (the original ShrinkBench protocol; the default).
- ``iterative``: ``rounds`` rounds; round *i* prunes to ``target ** (i / rounds)`` (a geometric path) and
  finetunes for the recipe's epochs. With ``rewind_epoch`` k it is lottery-ticket rewinding as published
  (Frankle et al. 2019, "Stabilizing the Lottery Ticket Hypothesis"; Frankle et al. 2020, "Linear Mode
  Connectivity and the Lottery Ticket Hypothesis"; open_lth's ``lottery`` runner): after each pruning, the kept
  weights go back to the dense run's weights after pretraining epoch k (0: its initialisation) and train for
  the *remaining* pretraining epochs with the pretraining recipe and its learning-rate schedule, from epoch k
  on -- not with the (short, low learning-rate) finetuning recipe.
- ``gradual``: sparsity rises during finetuning along the cubic schedule of Zhu & Gupta (2017, "To prune, or
  not to prune"), from step ``start`` to ``end`` (fractions of the finetuning) every ``frequency`` steps; the
  strategy recomputes the masks at each of these steps. With no finetuning steps at all it prunes to the target
  at once.
"""

from __future__ import annotations

from ..errors import ShrinkBenchError
from ..plans import Round, ScheduleContext, SchedulePlan

__all__ = ["cubic_pruned", "gradual", "iterative", "oneshot"]


def oneshot(ctx: ScheduleContext) -> SchedulePlan:
    """``oneshot``: one round, pruned to the target before finetuning (no options)."""
    return SchedulePlan((Round(ctx.epochs, prune_to=ctx.target),))


def iterative(ctx: ScheduleContext) -> SchedulePlan:
    """``iterative``: ``rounds`` (default 3) rounds along a geometric path, each finetuned for the recipe's
    epochs; with ``rewind_epoch`` (default: none) each round instead rewinds the kept weights to that epoch of
    the dense pretraining run and trains for the rest of the pretraining schedule (see the module docstring)."""
    rounds = ctx.options.integer("rounds", 3)
    rewind = ctx.options.integer("rewind_epoch", None, minimum=0)
    path = [ctx.target ** ((i + 1) / rounds) for i in range(rounds)]
    path[-1] = ctx.target
    if rewind is None:
        return SchedulePlan(tuple(Round(ctx.epochs, prune_to=c) for c in path))
    if rewind > ctx.pretrain_epochs:
        raise ShrinkBenchError(f"schedule iterative option rewind_epoch {rewind} is after the last pretraining epoch "
                               f"({ctx.pretrain_epochs}); choose one from 0 to {ctx.pretrain_epochs}")
    remaining = ctx.pretrain_epochs - rewind
    return SchedulePlan(tuple(Round(remaining, prune_to=c, rewind_to=rewind) for c in path))


def cubic_pruned(final_pruned: int, step: int, start: int, end: int) -> int:
    """Weights pruned at ``step`` by Zhu & Gupta's cubic schedule: ``final * (1 - (1 - (step - start) /
    (end - start)) ** 3)``, 0 before ``start``, ``final`` from ``end`` on (rounded to whole weights)."""
    if step <= start:
        return 0
    if step >= end:
        return final_pruned
    return round(final_pruned * (1 - (1 - (step - start) / (end - start)) ** 3))


def gradual(ctx: ScheduleContext) -> SchedulePlan:
    """``gradual``: the cubic schedule from ``start`` (default 0) to ``end`` (default 0.75) of the finetuning, as
    fractions of its steps, pruning every ``frequency`` steps (default: a quarter of an epoch); the last pruning
    step reaches the target exactly. Without finetuning steps, one round prunes to the target at once."""
    start, end = ctx.options.fraction("start", 0.0), ctx.options.fraction("end", 0.75)
    if end <= start:
        raise ShrinkBenchError(f"schedule gradual option end ({end:g}) must come after start ({start:g})")
    frequency = ctx.options.integer("frequency", max(1, ctx.steps_per_epoch // 4))
    steps = ctx.epochs * ctx.steps_per_epoch
    if steps == 0:
        return SchedulePlan((Round(ctx.epochs, prune_to=ctx.target),))
    first = min(round(start * steps), steps - 1)
    last = min(max(round(end * steps), first), steps - 1)
    dense_rest = ctx.parameters - ctx.prunable
    final_pruned = ctx.prunable - max(0, min(ctx.prunable, round(ctx.parameters / ctx.target) - dense_rest))
    events: list[tuple[int, float]] = []
    for step in range(first, last + 1, frequency):
        pruned = cubic_pruned(final_pruned, step, first, last)
        if pruned > 0:
            events.append((step, ctx.parameters / (ctx.parameters - pruned)))
    if events and events[-1][0] == last:
        events.pop()
    events.append((last, ctx.target))  # the target itself, exactly, at the last pruning step
    return SchedulePlan((Round(ctx.epochs, steps=tuple(events)),))
