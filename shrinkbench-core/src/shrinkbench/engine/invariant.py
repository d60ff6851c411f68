"""The one invariant every ``ok`` row satisfies, checked in one place for every strategy, schedule and executor:
the row is what its saved weights show.

After a run, its weights are read back from the file it wrote (``weights.safetensors``), and:

- the compression they achieve (dense parameters / nonzero parameters; for a structured strategy, dense
  parameters / parameters) is within the documented tolerance of the row's target -- ties at the threshold for
  masks (:func:`shrinkbench.engine.rounds.tie_tolerance` weights, plus the weights that were already zero in the
  dense model), :data:`shrinkbench.specs.STRUCTURED_TOLERANCE` for structured strategies;
- every weight the final masks pruned is zero in the file (nothing grew back);
- the row's ``compression`` column is that achieved compression;
- a strategy that declares an N:M pattern left weights that follow it (:mod:`shrinkbench.patterns`; compression 1
  keeps every weight and has no pattern).

Anything else makes the row ``failed``, its ``error`` naming the shortfall. This module is the only place the
rule is written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..patterns import pattern_violation
from ..specs import STRUCTURED_TOLERANCE, StrategySpec
from .rounds import tie_tolerance

__all__ = ["Expectation", "check_saved_weights", "zero_parameters"]


@dataclass(frozen=True)
class Expectation:
    """What a run promised: its ``target`` compression relative to ``dense_parameters``, of which ``prunable``
    may be pruned and ``dense_zeros`` were already zero before pruning; the final ``masks`` (``None`` for a
    structured strategy)."""

    target: float
    dense_parameters: int
    prunable: int
    dense_zeros: int = 0
    masks: Mapping[str, Tensor] | None = None


def check_saved_weights(path: Path, model: nn.Module, spec: StrategySpec, expected: Expectation,
                        recorded_compression: float) -> str | None:
    """Why the weights saved in ``path`` do not make the promised row (one line), or ``None`` when they do.
    ``model`` names the parameters (its state dict also holds buffers)."""
    from safetensors import safe_open

    names = [n for n, _ in model.named_parameters()]
    with safe_open(str(path), framework="pt") as saved:  # one tensor at a time: no second copy of the model
        missing = [n for n in names if n not in saved.keys()]
        if missing:
            return f"the saved weights lack parameter {missing[0]!r}"
        params = nonzero = 0
        revived, zero_masks = [], {}
        for name in names:
            tensor = saved.get_tensor(name)
            params += tensor.numel()
            nonzero += int(tensor.count_nonzero())
            mask = (expected.masks or {}).get(name)
            if mask is not None:
                if tensor[~mask.cpu()].count_nonzero():
                    revived.append(name)
                if spec.pattern is not None:
                    zero_masks[name] = tensor != 0
    if spec.structured:
        achieved = expected.dense_parameters / params
        if abs(achieved / expected.target - 1) > STRUCTURED_TOLERANCE:
            return (f"the saved weights achieve {achieved:.3f}x (dense / remaining parameters) for target "
                    f"{expected.target:g}x, beyond the structured tolerance of {STRUCTURED_TOLERANCE:.0%}")
        achieved = expected.dense_parameters / nonzero if nonzero else math.inf  # what the size metric records
    else:
        want = round(expected.dense_parameters / expected.target)
        slack = tie_tolerance(expected.prunable) + expected.dense_zeros
        if nonzero > want + tie_tolerance(expected.prunable) or nonzero < want - slack:
            achieved = expected.dense_parameters / nonzero if nonzero else math.inf
            return (f"the saved weights achieve {achieved:.3f}x for target {expected.target:g}x: {nonzero:,} nonzero "
                    f"parameters, {want:,} expected (tolerance {slack:,})")
        achieved = expected.dense_parameters / nonzero if nonzero else math.inf
        if revived:
            return f"pruned weights of {revived[0]!r} are not zero in the saved weights ({len(revived)} tensors)"
        if spec.pattern is not None and expected.target > 1:
            problem = pattern_violation(model, zero_masks, *spec.pattern)
            if problem:
                return f"the saved weights break the {spec.pattern[0]}:{spec.pattern[1]} pattern: {problem}"
    if not math.isclose(recorded_compression, achieved, rel_tol=1e-9):
        return f"the row records compression {recorded_compression:.6g}x, the saved weights show {achieved:.6g}x"
    return None


def zero_parameters(model: nn.Module) -> int:
    """How many of ``model``'s parameters (shared ones once) are exactly zero."""
    with torch.no_grad():
        return sum(int((p == 0).sum()) for p in model.parameters())
