"""SNIP: Single-shot Network Pruning based on connection sensitivity (Lee, Ajanthan & Torr, ICLR 2019).

Each weight ``w_j`` gets a gate ``c_j`` (1 = connected). The sensitivity of the loss to removing the
connection is ``g_j = dL/dc_j`` at ``c = 1``, which equals ``w_j * dL/dw_j``. SNIP keeps the connections with
the largest normalised sensitivity ``s_j = |g_j| / sum_k |g_k|`` over all prunable layers at once.

SNIP was proposed for pruning at initialisation; ShrinkBench applies every strategy to the same pretrained
dense model, so here it scores the pretrained weights (as any strategy's baseline comparison does).
"""

from __future__ import annotations

import torch
from shrinkbench.pruning import Masks, PruningContext, eval_mode
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
    names = list(ctx.prunable)
    weights = [ctx.prunable[name] for name in names]
    inputs, targets = ctx.batch()
    device = weights[0].device
    frozen = [w for w in weights if not w.requires_grad]
    try:
        for weight in frozen:
            weight.requires_grad_(True)
        with eval_mode(ctx.model), torch.enable_grad():
            loss = ctx.loss_fn(ctx.model(inputs.to(device)), targets.to(device))
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
    finally:
        for weight in frozen:
            weight.requires_grad_(False)
    scores = {
        name: torch.zeros_like(w, dtype=torch.float32) if g is None else (w.detach() * g).abs().float()
        for name, w, g in zip(names, weights, grads, strict=True)
    }
    total = sum(float(s.sum()) for s in scores.values())
    return {name: s / total for name, s in scores.items()} if total > 0 else scores
