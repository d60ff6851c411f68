"""The rounds of one run, as its schedule planned them (:mod:`shrinkbench.plans`).

Each round prunes with the run's strategy to the round's compression -- masks for an unstructured strategy (the
zero rule keeps earlier pruning: an already-zero weight never comes back), channel removal for a structured
one -- optionally rewinds the kept weights to a dense pretraining checkpoint, then trains with the masks
enforced, pruning further at the round's in-training steps. A rewound round trains with the pretraining recipe
from the rewind epoch on (learning-rate schedule included); every other round with the finetuning recipe for
its epochs. Every pruning step is checked against its target. The measurements "before finetuning" (the
``_pre`` columns) are taken right after the last pruning step, wherever it falls -- at a round's start or
during its training (a gradual schedule).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from ..errors import CompressionError, ShrinkBenchError
from ..masking import apply_masks, validate_masks
from ..plans import Round, SchedulePlan
from ..pruning import count_parameters, weights_to_keep
from ..specs import STRUCTURED_TOLERANCE
from .calibration import changed_weights, snapshot
from .context import RunContext
from .events import EpochDone, EpochLog
from .train import train

__all__ = ["RoundsResult", "check_target", "prune", "run_rounds"]


@dataclass
class RoundsResult:
    """What the rounds did: the epoch whose weights the model holds (numbered across rounds), and the compile
    time of the first compiled step."""

    selected_epoch: int = 0
    compile_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


def run_rounds(ctx: RunContext, plan: SchedulePlan, rewind_states: dict[int, dict[str, torch.Tensor]],
               val_loader: object | None, measure_pre: Callable[[], None]) -> RoundsResult:
    """Carry out ``plan`` on ``ctx.model`` (pruned weights exact zeros at the end, or the model shrunken);
    ``rewind_states`` holds the dense checkpoints by pretraining epoch; ``measure_pre()`` is called right after
    the last pruning step."""
    result = RoundsResult()
    last_round, last_step = plan.last_pruning()
    offset = 0
    for index, round_ in enumerate(plan.rounds):
        if round_.prune_to is not None:
            prune(ctx, round_.prune_to)
        if round_.rewind_to is not None:
            rewind(ctx, rewind_states.get(round_.rewind_to))
        if index == last_round and last_step is None:
            measure_pre()
        steps = dict(round_.steps)
        final_step = last_step if index == last_round else None
        if steps and ctx.masked is None and not ctx.strategy.structured:  # enforce masks from the first step on
            ctx.masked = apply_masks(ctx.model, {n: torch.ones_like(p, dtype=torch.bool)
                                                 for n, p in ctx.pruning_context(1.0).prunable.items()})

        def on_step(step: int, steps: dict = steps, final_step: int | None = final_step) -> None:
            if step in steps:
                prune(ctx, steps[step])
                if step == final_step:
                    measure_pre()

        def renumbered(log: EpochLog, offset: int = offset) -> None:
            log.epoch += offset
            ctx.epochs.append(log)
            ctx.task.emit(EpochDone(ctx.key, log))

        recipe, first_epoch = _recipe(ctx, round_)
        select = index == len(plan.rounds) - 1 and ctx.experiment.selection == "best-val"
        trained = train(ctx.model, recipe, ctx.loader(recipe), val_loader, ctx.masked, select_best_val=select,
                        on_epoch=renumbered, runtime=ctx.runtime, on_step=on_step if steps else None,
                        first_epoch=first_epoch, epochs=round_.epochs,
                        select_after_step=final_step if final_step is not None else -1,
                        evaluate_fn=ctx.learning_task.load(), primary=ctx.learning_task.primary_metric)
        result.selected_epoch = trained.selected_epoch + offset
        result.compile_seconds = result.compile_seconds or trained.compile_seconds
        result.notes += trained.notes
        offset += round_.epochs
    if ctx.masked is not None:
        ctx.model = ctx.masked.remove()
    return result


def _recipe(ctx: RunContext, round_: Round):  # noqa: ANN202 - (Recipe, first epoch)
    """A rewound round continues the pretraining recipe at the rewind epoch; any other trains with the
    finetuning recipe over the round's epochs."""
    if round_.rewind_to is not None:
        return ctx.experiment.pretrain, round_.rewind_to
    return replace(ctx.experiment.finetune, epochs=round_.epochs), 0


def rewind(ctx: RunContext, state: dict[str, torch.Tensor] | None) -> None:
    """Reset the model's weights and buffers to ``state`` (a pretraining checkpoint of the dense run), pruned
    weights staying zero."""
    if state is None:
        raise ShrinkBenchError("this schedule rewinds, but the dense run's rewind checkpoint is missing")
    own = ctx.model.state_dict()
    if any(own[k].shape != v.shape for k, v in state.items() if k in own):
        raise ShrinkBenchError("rewinding needs the dense architecture: it does not combine with structured pruning")
    ctx.model.load_state_dict({k: v.to(own[k].device) for k, v in state.items()})
    if ctx.masked is not None:
        ctx.masked.reapply()


def prune(ctx: RunContext, compression: float) -> None:
    """Prune ``ctx.model`` to ``compression`` of the dense model with the run's strategy, checked: masks are
    boolean, shaped like and covering exactly the prunable weights, and hit the target (N:M strategies: in their
    pattern); nothing but what the strategy may change changed (:func:`.calibration.changed_weights`); a structured strategy's shrunken model is within :data:`STRUCTURED_TOLERANCE` of it. Compression 1
    keeps every weight without calling the strategy, so every strategy's compression-1 run is the same.

    The strategy draws from torch's global generator seeded with the run's seed, in a fork of it: training's
    stream (dropout, anything else drawn from the global generator) goes on where it was. Seeding it at every
    step of a gradual schedule (about 4 an epoch) made training replay the same draws after each one."""
    with torch.random.fork_rng(devices=[]):
        ctx.seed_everything()
        _prune(ctx, compression)


def _prune(ctx: RunContext, compression: float) -> None:
    spec = ctx.strategy
    pctx = ctx.pruning_context(compression)
    if compression == 1:  # keeps every weight by definition: the strategy is not called (see shared_runs)
        if not spec.structured:
            _apply(ctx, {n: torch.ones_like(p, dtype=torch.bool) for n, p in pctx.prunable.items()})
        return
    if spec.structured:
        with ctx.registry.blame("strategies", spec.name):
            spec.load()(pctx)
        ctx.runtime.place(ctx.model)  # the new, smaller layers back to the run's memory format
        achieved = ctx.dense_parameters / count_parameters(ctx.model)
        if abs(achieved / compression - 1) > STRUCTURED_TOLERANCE:
            raise CompressionError(f"strategy {spec.name!r} achieved {achieved:.2f}x for target {compression:g}x "
                                   f"(structured tolerance {STRUCTURED_TOLERANCE:.0%})")
        return
    before = snapshot(ctx.model)
    with ctx.registry.blame("strategies", spec.name):
        masks = spec.load()(pctx)
    source = f"strategy {spec.name!r}"
    validate_masks(ctx.model, masks, expected=set(pctx.prunable), source=source)
    check_target(ctx.model, pctx.prunable, masks, compression, source)
    if spec.pattern is not None:
        from ..patterns import pattern_violation

        problem = pattern_violation(ctx.model, masks, *spec.pattern)
        if problem:
            raise CompressionError(f"{source} declares {spec.pattern[0]}:{spec.pattern[1]} masks, but {problem}")
    changed = changed_weights(before, ctx.model, masks, may_zero=spec.calibration, reconstructs=spec.reconstructs)
    if changed:
        raise ShrinkBenchError(f"{source} {changed}")
    _apply(ctx, masks)


def _apply(ctx: RunContext, masks: dict[str, torch.Tensor]) -> None:
    """Mask ``ctx.model`` with ``masks`` (zero rule: a weight already pruned stays pruned)."""
    if ctx.masked is None:
        ctx.masked = apply_masks(ctx.model, masks)
    else:
        ctx.masked.update(masks)


def tie_tolerance(n_prunable: int) -> int:
    """How many weights a mask strategy may keep beyond or short of its target: ties at the threshold (5
    weights, or 0.1% of the prunable weights if more)."""
    return max(5, n_prunable // 1000)


def check_target(model: nn.Module, prunable: dict, masks: dict, compression: float, who: str) -> None:
    """Raise :class:`CompressionError` when ``masks`` keep more or fewer weights than ``compression`` needs,
    beyond :func:`tie_tolerance`."""
    want = weights_to_keep(model, prunable, compression)
    kept = sum(int(m.count_nonzero()) for m in masks.values())
    total = count_parameters(model)
    n_prunable = sum(p.numel() for p in prunable.values())
    tolerance = tie_tolerance(n_prunable)
    if abs(kept - want) > tolerance:
        achieved = total / (total - n_prunable + kept) if total - n_prunable + kept else math.inf
        raise CompressionError(f"{who} achieved {achieved:.2f}x for target {compression:g}x: it keeps {kept:,} of "
                               f"{n_prunable:,} prunable weights, {want:,} expected (tolerance {tolerance:,})")
