"""SNIP: Single-shot Network Pruning based on connection sensitivity (Lee, Ajanthan & Torr, ICLR 2019).

Each weight ``w_j`` gets a gate ``c_j`` (1 = connected). The sensitivity of the loss to removing the
connection is ``g_j = dL/dc_j`` at ``c = 1``, which equals ``w_j * dL/dw_j``. SNIP keeps the connections with
the largest normalised sensitivity ``s_j = |g_j| / sum_k |g_k|`` over all prunable layers at once.

SNIP was proposed for pruning at initialisation; ShrinkBench applies every strategy to the same pretrained
dense model, so here it scores the pretrained weights (as any strategy's baseline comparison does).
"""

from __future__ import annotations

from shrinkbench import Masks, PruningContext, weight_gradients
from torch import Tensor


def snip(ctx: PruningContext) -> Masks:
    """Masks keeping the largest SNIP scores (:func:`connection_sensitivity`), one threshold over all layers.

    Needs one training batch (``ctx.batch()``); the model is left exactly as it was (weights, buffers,
    ``.grad``, hooks and train/eval modes).
    """
    return ctx.masks(connection_sensitivity(ctx), scope="global")


def connection_sensitivity(ctx: PruningContext) -> dict[str, Tensor]:
    """Normalised connection sensitivity ``|w * dL/dw| / sum |w * dL/dw|`` for every prunable weight.

    ``L = ctx.loss_fn(model(x), y)`` on ``(x, y) = ctx.batch()``, with the model in eval mode (dropout off,
    BatchNorm uses and keeps its running statistics) and every module's previous mode restored afterwards.
    Gradients come from ``torch.autograd.grad``, so no ``.grad`` is read or written; weights with
    ``requires_grad=False`` are scored too (the flag is restored). Scores sum to 1 over all prunable weights
    (all zeros if the loss does not depend on any of them).
    """
    grads = weight_gradients(ctx)
    scores = {name: (w.detach() * grads[name]).abs().float() for name, w in ctx.prunable.items()}
    total = sum(float(s.sum()) for s in scores.values())
    return {name: s / total for name, s in scores.items()} if total > 0 else scores
