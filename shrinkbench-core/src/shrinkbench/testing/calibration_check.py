"""A conformance check for calibration strategies (``check_strategy`` asserts that weights never change, which
SparseGPT and Wanda legitimately do): what the engine promises to verify after such a run, checked here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..masking import validate_masks
from ..patterns import pattern_violation
from ..pruning import make_context, weights_to_keep
from ..specs import StrategySpec

__all__ = ["check_calibration_strategy", "run"]


def hooks(model: nn.Module) -> list[int]:
    """How many hooks each hook dictionary of each module holds (to tell that none was left behind)."""
    return [len(getattr(m, k)) for m in model.modules() for k in vars(m) if "hook" in k and isinstance(getattr(m, k), dict)]


def run(spec: StrategySpec, model: nn.Module, calibration: Sequence, compression: float) -> dict[str, torch.Tensor]:
    """Masks of ``spec`` at ``compression`` with ``calibration``, after the strategy's own ``check``."""
    ctx = dataclasses.replace(make_context(model, compression), calibration=list(calibration))
    assert spec.limit(ctx) is None, spec.limit(ctx)
    return spec.load()(ctx)


def check_calibration_strategy(spec: StrategySpec, factory: Callable[[], nn.Module], calibration: Sequence,
                               compressions: Sequence[float]) -> None:
    """For every compression, on fresh models: valid masks covering the prunable weights, exactly
    ``weights_to_keep`` kept (N:M: in the pattern); in the model afterwards, pruned weights zero, kept weights
    unchanged unless the spec ``reconstructs``, every other tensor (buffers, biases, norms, embeddings), the
    modes, hooks and grad mode unchanged; a second run gives the same masks and weights."""
    for compression in compressions:
        results = []
        for _ in range(2):
            model = factory()
            dense = {k: v.detach().clone() for k, v in model.state_dict().items()}
            modes, before = [m.training for m in model.modules()], hooks(model)
            masks = run(spec, model, calibration, compression)
            prunable = make_context(model, compression).prunable
            validate_masks(model, masks, expected=set(prunable), source=spec.name)
            kept = sum(int(m.count_nonzero()) for m in masks.values())
            assert kept == weights_to_keep(model, prunable, compression), (spec.name, compression)
            if spec.pattern is not None:
                assert pattern_violation(model, masks, *spec.pattern) is None
            state = model.state_dict()
            for name, tensor in state.items():
                if name not in masks:
                    assert torch.equal(tensor, dense[name]), f"{spec.name} changed {name}"
                    continue
                assert not tensor[~masks[name]].any(), f"{spec.name} left pruned weights of {name} nonzero"
                same = torch.equal(tensor[masks[name]], dense[name][masks[name]])
                assert same or spec.reconstructs, f"{spec.name} changed kept weights of {name} undeclared"
            assert [m.training for m in model.modules()] == modes and hooks(model) == before
            assert torch.is_grad_enabled()
            results.append((masks, state))
        for name, mask in results[0][0].items():
            assert torch.equal(mask, results[1][0][name]), f"{spec.name}: masks differ between runs"
            assert torch.equal(results[0][1][name], results[1][1][name]), f"{spec.name}: weights differ"
