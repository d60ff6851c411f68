"""Gradient saliency pruning: keep the weights whose removal would change the loss most, to first order.

Removing weight ``w`` changes the loss by about ``-w * dL/dw`` (first-order Taylor expansion), so the
score is ``|w * dL/dw|`` on a batch of training data. Core keeps the highest scores at the target
compression, with one threshold across all layers (``global``) or the same fraction per layer (``layer``).
"""

from __future__ import annotations

from torch import Tensor

from shrinkbench import Masks, PruningContext, weight_gradients


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
