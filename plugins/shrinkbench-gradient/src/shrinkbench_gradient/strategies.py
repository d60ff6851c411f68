"""Gradient saliency pruning: keep the weights whose removal would change the loss most, to first order.

Removing weight ``w`` changes the loss by about ``-w * dL/dw`` (first-order Taylor expansion), so the
score is ``|w * dL/dw|`` on a batch of training data. Core keeps the highest scores at the target
compression, with one threshold across all layers (``global``) or the same fraction per layer (``layer``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from shrinkbench.pruning import Masks, PruningContext, eval_mode


def global_gradient(ctx: PruningContext) -> Masks:
    """score(w) = |w * dL/dw| on the first training batch, one threshold over all layers (GlobalMagGrad).

    Molchanov et al. 2019, "Importance Estimation for Neural Network Pruning" (CVPR); Blalock et al. 2020,
    "What is the State of Neural Network Pruning?" (MLSys), the MagGrad baseline of ShrinkBench.
    """
    return ctx.masks(gradient_scores(ctx), scope="global")


def layer_gradient(ctx: PruningContext) -> Masks:
    """score(w) = |w * dL/dw| on the first training batch, the same fraction kept per layer (LayerMagGrad).

    Molchanov et al. 2019 (CVPR); Blalock et al. 2020 (MLSys), MagGrad.
    """
    return ctx.masks(gradient_scores(ctx), scope="layer")


def gradient_scores(ctx: PruningContext) -> dict[str, Tensor]:
    """``|w * dL/dw|`` for every prunable weight, ``dL/dw`` from :func:`weight_gradients`."""
    grads = weight_gradients(ctx)
    return {name: (weight.detach() * grads[name]).abs() for name, weight in ctx.prunable.items()}


def weight_gradients(ctx: PruningContext) -> dict[str, Tensor]:
    """``dL/dw`` of ``L = ctx.loss_fn(model(x), y)`` on ``(x, y) = ctx.batch()``, for every prunable weight.

    Computed with ``torch.autograd.grad``, so no parameter's ``.grad`` is read or written. The model runs in
    eval mode (BatchNorm uses and keeps its running statistics, dropout is off, so the result is
    deterministic); every module's mode is restored afterwards. ShrinkBench ran this step in train mode,
    which updated the BatchNorm statistics as a side effect. Weights with ``requires_grad=False`` get their
    gradient too (the flag is restored); a weight the loss does not depend on gets zeros.
    """
    model = ctx.model
    names = list(ctx.prunable)
    weights = [ctx.prunable[name] for name in names]
    inputs, targets = ctx.batch()
    device = weights[0].device
    frozen = [w for w in weights if not w.requires_grad]
    try:
        for weight in frozen:
            weight.requires_grad_(True)
        with eval_mode(model), torch.enable_grad():
            loss = ctx.loss_fn(model(inputs.to(device)), targets.to(device))
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
    finally:
        for weight in frozen:
            weight.requires_grad_(False)
    return {
        name: torch.zeros_like(weight) if grad is None else grad.detach()
        for name, weight, grad in zip(names, weights, grads, strict=True)
    }


