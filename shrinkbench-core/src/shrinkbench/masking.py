"""The mask API: ``{qualified parameter name: bool tensor}`` (True = keep).

Mechanism (chosen by measurement, see ``benchmarks/masking.py``): pruned weights are zeroed in place, and
re-zeroed after every ``optimizer.step()`` by an optimizer step post-hook. There is no forward hook, so the
masked model's forward and backward are the dense ones, evaluation costs nothing extra, and parameters used
outside their own module's ``forward`` (``nn.MultiheadAttention.out_proj``) are handled like any other.
With elementwise optimizers (SGD with momentum and weight decay, Adam, AdamW) the kept weights evolve
bit-identically to gradient masking. Not equivalent: global-norm gradient clipping, which sees the pruned
weights' gradients (mask them first with :meth:`MaskedModel.mask_gradients`).

Example::

    masked = apply_masks(model, masks)          # zeroes pruned weights now
    masked.enforce(optimizer)                   # keeps them zero after each step
    ...train...
    masked.remove()                             # a plain model with exact zeros
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .errors import MaskError

__all__ = ["FLOAT_FACTORS_LIMIT", "MaskedModel", "Masks", "apply_masks", "kept_fraction", "masks_from_zeros",
           "validate_masks"]

FLOAT_FACTORS_LIMIT = 1 << 28
"""Masked weights (268M) above which :class:`MaskedModel` keeps boolean multipliers instead of float ones."""

Masks = dict[str, Tensor]
"""Masks by qualified parameter name: boolean tensors shaped like their parameters, True = keep."""


def validate_masks(
    model: nn.Module, masks: Mapping[str, Tensor], expected: set[str] | None = None, source: str = "masks"
) -> None:
    """Raise :class:`MaskError` unless every mask names a parameter of ``model``, is boolean and has its shape.

    ``expected``, when given, is the exact set of names the masks must cover. ``source`` (e.g.
    ``"strategy 'random'"``) starts the error message.
    """
    if not isinstance(masks, Mapping):
        raise MaskError(f"{source} returned {type(masks).__name__}, expected a dict of parameter name -> bool tensor")
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in params:
            raise MaskError(f"{source}: mask for {name!r}, which is not a parameter of the model")
        if not isinstance(mask, Tensor):
            raise MaskError(f"{source}: mask for {name!r} is {type(mask).__name__}, expected a torch.bool tensor")
        if mask.dtype != torch.bool:
            raise MaskError(f"{source}: mask for {name!r} has dtype {mask.dtype}, expected torch.bool")
        if mask.shape != params[name].shape:
            raise MaskError(
                f"{source}: mask for {name!r} has shape {tuple(mask.shape)}, the parameter has {tuple(params[name].shape)}"
            )
    if expected is not None:
        missing = sorted(expected - set(masks))
        extra = sorted(set(masks) - expected)
        if missing:
            raise MaskError(f"{source}: no mask for prunable parameter {missing[0]!r} ({len(missing)} missing)")
        if extra:
            raise MaskError(f"{source}: mask for {extra[0]!r}, which is not a prunable parameter")


class MaskedModel:
    """Masks applied to a model: pruned weights are zero now and stay zero under enforced optimizers."""

    def __init__(self, model: nn.Module, masks: Mapping[str, Tensor]) -> None:
        validate_masks(model, masks)
        self.model = model
        self._handles: list = []
        self._set(masks)

    def update(self, masks: Mapping[str, Tensor]) -> None:
        """Replace the masks (e.g. a schedule's next, sparser step) and zero the newly pruned weights now;
        optimizers this object already enforces keep enforcing the new masks."""
        validate_masks(self.model, masks)
        self._set(masks)

    def _set(self, masks: Mapping[str, Tensor]) -> None:
        """Keep one multiplier per masked parameter, with the parameter's device *and memory layout*
        (channels-last weights get channels-last factors: the fused ``_foreach_mul_`` takes its fast path only
        when the strides agree), then zero the pruned weights. The multipliers have the parameter's dtype (the
        fastest re-masking), or are boolean -- 1 byte per weight instead of 4 -- when the masked weights number
        more than :data:`FLOAT_FACTORS_LIMIT` (billion-parameter models, whose steps make the slower re-mask
        negligible and whose memory is short). The masks are not kept besides: :attr:`masks` reads them back."""
        params = dict(self.model.named_parameters())
        self._names = list(masks)
        self._params = [params[n] for n in self._names]
        compact = sum(p.numel() for p in self._params) > FLOAT_FACTORS_LIMIT
        self._factors = [torch.empty_like(p, dtype=torch.bool if compact else p.dtype).copy_(masks[n])
                         for n, p in zip(self._names, self._params, strict=True)]
        self.reapply()

    @property
    def masks(self) -> Masks:
        """The current masks by parameter name (True = kept), on the parameters' devices."""
        return {n: f.bool() for n, f in zip(self._names, self._factors, strict=True)}

    @torch.no_grad()
    def reapply(self) -> None:
        """Zero every pruned weight again (call after any update the optimizer hook does not see)."""
        if self._params:
            torch._foreach_mul_(self._params, self._factors)

    def enforce(self, optimizer: torch.optim.Optimizer) -> None:
        """Re-zero pruned weights after every ``optimizer.step()``."""
        self._handles.append(optimizer.register_step_post_hook(lambda *_: self.reapply()))

    @torch.no_grad()
    def mask_gradients(self) -> None:
        """Zero the gradients of pruned weights (before gradient clipping by global norm)."""
        grads = [p.grad for p in self._params if p.grad is not None]
        if grads:
            factors = [f for p, f in zip(self._params, self._factors, strict=True) if p.grad is not None]
            torch._foreach_mul_(grads, factors)

    def remove(self) -> nn.Module:
        """Detach from optimizers and return the plain model (pruned weights are exact zeros). The multipliers
        shrink to booleans (:attr:`masks` still reads them) so that a finished run does not hold a float copy
        of its weights."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.reapply()
        self._factors = [f if f.dtype == torch.bool else f.bool() for f in self._factors]
        return self.model


def apply_masks(model: nn.Module, masks: Mapping[str, Tensor]) -> MaskedModel:
    """Validate ``masks``, zero the pruned weights of ``model`` in place and return the :class:`MaskedModel`."""
    return MaskedModel(model, masks)


def masks_from_zeros(model: nn.Module, names: list[str] | None = None) -> Masks:
    """Masks that keep exactly the nonzero entries of the named parameters (all parameters by default)."""
    params = dict(model.named_parameters())
    return {n: params[n].detach() != 0 for n in (names if names is not None else params)}


def kept_fraction(masks: Mapping[str, Tensor]) -> float:
    """Fraction of entries the masks keep (1.0 for no masks)."""
    total = sum(m.numel() for m in masks.values())
    return sum(int(m.count_nonzero()) for m in masks.values()) / total if total else 1.0
