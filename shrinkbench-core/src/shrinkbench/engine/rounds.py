"""The prune -> finetune rounds of one run, as its schedule plans them (see :mod:`.schedules`).

Each round prunes with the run's strategy to the round's compression -- masks for an unstructured strategy (the
zero rule keeps earlier pruning: an already-zero weight never comes back), channel removal for a structured one
-- optionally rewinds the kept weights, then finetunes with the masks enforced, pruning further at the round's
in-training steps. Every pruning step is checked against its target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from ..errors import CompressionError, ShrinkBenchError
from ..masking import MaskedModel, apply_masks, validate_masks
from ..plugins import Registry
from ..pruning import count_parameters, make_context, weights_to_keep
from .config import RunSpec, SweepConfig
from .data import Splits, make_loader
from .events import EpochLog
from .runtime import Runtime
from .schedules import SchedulePlan
from .train import recipe_loss, train

__all__ = ["STRUCTURED_TOLERANCE", "RoundsResult", "check_target", "prune_once", "run_rounds"]

STRUCTURED_TOLERANCE = 0.05
"""Relative miss of its target a structured strategy may have (whole channels cannot hit it exactly)."""


@dataclass
class RoundsResult:
    """What the rounds did: the finished model (pruned weights exact zeros, or shrunken), every epoch's log
    (numbered across rounds), the epoch whose weights it holds, the compile time and notes."""

    model: nn.Module
    epochs: list[EpochLog] = field(default_factory=list)
    selected_epoch: int = 0
    compile_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


class Pruner:
    """Prunes one run's model with its strategy, step after step, keeping the masks of earlier steps."""

    def __init__(self, registry: Registry, config: SweepConfig, run: RunSpec, model: nn.Module, splits: Splits,
                 runtime: Runtime) -> None:
        self.registry, self.config, self.run, self.model = registry, config, run, model
        self.splits, self.runtime = splits, runtime
        self.spec = registry.strategy(run.strategy)
        self.dense_params = count_parameters(model)
        self.masked: MaskedModel | None = None

    def to(self, compression: float) -> None:
        """Prune to ``compression`` over the whole (dense) model."""
        if self.spec.structured:
            prune_structured(self.registry, self.config, self.run, self.model, self.splits, self.runtime,
                             compression, self.dense_params)
            self.runtime.place(self.model)  # the new, smaller layers back to the run's memory format
            return
        masks = prune_once(self.registry, self.config, self.run, self.model, self.splits, self.runtime, compression)
        if self.masked is None:
            self.masked = apply_masks(self.model, masks)
        else:
            self.masked.update(masks)

    def finished(self) -> nn.Module:
        """The plain model, pruned weights exact zeros."""
        return self.masked.remove() if self.masked is not None else self.model


def run_rounds(registry: Registry, config: SweepConfig, run: RunSpec, model: nn.Module, splits: Splits,
               runtime: Runtime, plan: SchedulePlan, rewind_state: dict[str, torch.Tensor] | None,
               loader_fn: Callable[[], object], val_loader: object | None,
               measure_pre: Callable[[nn.Module], None], on_epoch: Callable[[EpochLog], None]) -> RoundsResult:
    """Carry out ``plan`` on ``model`` (in place); ``measure_pre`` is called right after the last round's
    pruning, before its finetuning; ``loader_fn()`` gives each round's training batches."""
    pruner = Pruner(registry, config, run, model, splits, runtime)
    result = RoundsResult(model)
    offset = 0
    for index, round_ in enumerate(plan.rounds):
        last = index == len(plan.rounds) - 1
        pruner.to(round_.compression)
        if round_.rewind:
            rewind(model, rewind_state, pruner.masked)
        if last:
            measure_pre(model)
        steps = dict(round_.steps)

        def on_step(step: int, steps: dict = steps) -> None:
            if step in steps:
                pruner.to(steps[step])

        def renumbered(log: EpochLog, offset: int = offset) -> None:
            log.epoch += offset
            result.epochs.append(log)
            on_epoch(log)

        trained = train(model, replace(config.finetune, epochs=round_.epochs), loader_fn(), val_loader,
                        pruner.masked, select_best_val=last and config.selection == "best-val", on_epoch=renumbered,
                        runtime=runtime, on_step=on_step if steps else None)
        result.selected_epoch = trained.selected_epoch + offset
        result.compile_seconds = result.compile_seconds or trained.compile_seconds
        result.notes += trained.notes
        offset += round_.epochs
    result.model = pruner.finished()
    return result


def rewind(model: nn.Module, state: dict[str, torch.Tensor] | None, masked: MaskedModel | None) -> None:
    """Reset the model's weights and buffers to ``state`` (an early checkpoint of the dense run), pruned
    weights staying zero."""
    if state is None:
        raise ShrinkBenchError("this schedule rewinds, but the dense run's rewind checkpoint is missing")
    own = model.state_dict()
    if any(own[k].shape != v.shape for k, v in state.items() if k in own):
        raise ShrinkBenchError("rewinding needs the dense architecture: it does not combine with structured pruning")
    model.load_state_dict({k: v.to(own[k].device) for k, v in state.items()})
    if masked is not None:
        masked.reapply()


def _batches(config: SweepConfig, run: RunSpec, splits: Splits, runtime: Runtime, registry: Registry):
    loader = make_loader(splits.train, config.finetune.batch_size, True, run.seed, runtime.torch_device,
                         registry.dataset(config.dataset).augmented, config.workers or 0)
    return lambda: iter(loader)


def prune_once(registry: Registry, config: SweepConfig, run: RunSpec, model: nn.Module, splits: Splits,
               runtime: Runtime, compression: float) -> dict[str, torch.Tensor]:
    """The strategy's masks for ``compression`` on the model as it is (training batches on the run's device),
    checked: boolean, right shapes, exactly the prunable weights, the target hit."""
    spec = registry.strategy(run.strategy)
    ctx = make_context(model, compression, seed=run.seed, batches=_batches(config, run, splits, runtime, registry),
                       include_classifier=config.include_classifier, loss_fn=recipe_loss(config.finetune))
    torch.manual_seed(run.seed)
    with registry.blame("strategies", spec.name):
        masks = spec.load()(ctx)
    validate_masks(model, masks, expected=set(ctx.prunable), source=f"strategy {spec.name!r}")
    check_target(model, ctx.prunable, masks, compression, f"strategy {spec.name!r}")
    return masks


def prune_structured(registry: Registry, config: SweepConfig, run: RunSpec, model: nn.Module, splits: Splits,
                     runtime: Runtime, compression: float, dense_params: int) -> None:
    """Let a structured strategy shrink ``model`` in place, then check that dense params / params is within
    :data:`STRUCTURED_TOLERANCE` of ``compression``."""
    spec = registry.strategy(run.strategy)
    ctx = make_context(model, compression, seed=run.seed, batches=_batches(config, run, splits, runtime, registry),
                       include_classifier=config.include_classifier, loss_fn=recipe_loss(config.finetune))
    torch.manual_seed(run.seed)
    with registry.blame("strategies", spec.name):
        spec.load()(replace(ctx, dense_parameters=dense_params))
    achieved = dense_params / count_parameters(model)
    if abs(achieved / compression - 1) > STRUCTURED_TOLERANCE:
        raise CompressionError(f"strategy {spec.name!r} achieved {achieved:.2f}x for target {compression:g}x "
                               f"(structured tolerance {STRUCTURED_TOLERANCE:.0%})")


def check_target(model: nn.Module, prunable: dict, masks: dict, compression: float, who: str) -> None:
    """Raise :class:`CompressionError` when ``masks`` keep more or fewer weights than ``compression`` needs,
    beyond a tolerance for ties (5 weights, or 0.1% of the prunable weights if more)."""
    want = weights_to_keep(model, prunable, compression)
    kept = sum(int(m.count_nonzero()) for m in masks.values())
    total = count_parameters(model)
    n_prunable = sum(p.numel() for p in prunable.values())
    tolerance = max(5, n_prunable // 1000)
    if abs(kept - want) > tolerance:
        achieved = total / (total - n_prunable + kept) if total - n_prunable + kept else math.inf
        raise CompressionError(f"{who} achieved {achieved:.2f}x for target {compression:g}x: it keeps {kept:,} of "
                               f"{n_prunable:,} prunable weights, {want:,} expected (tolerance {tolerance:,})")
