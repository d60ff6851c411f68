"""Top-1 / top-5 accuracy and loss on an evaluation loader."""

from __future__ import annotations

import torch

from ..losses import LossFn, cross_entropy
from ..modules import eval_mode
from . import MetricContext

__all__ = ["evaluate", "measure"]


def evaluate(model: torch.nn.Module, loader, loss_fn: LossFn = cross_entropy) -> dict[str, float]:
    """``top1``, ``top5`` (fractions of examples) and ``loss`` (mean over examples) of ``model`` on ``loader``.

    Every batch counts by its real size, so a short last batch weighs what it holds. The model is evaluated in
    eval mode under ``torch.no_grad()`` and every module's mode is restored afterwards.
    """
    device = next(model.parameters()).device
    correct1 = correct5 = examples = 0
    loss_sum = 0.0
    with eval_mode(model):
        with torch.no_grad():
            for inputs, targets in loader:
                inputs, targets = inputs.to(device), targets.to(device)
                logits = model(inputs)
                loss_sum += float(loss_fn(logits, targets, reduction="sum"))
                k = min(5, logits.shape[1])
                top = logits.topk(k, dim=1).indices
                hits = top == targets.unsqueeze(1)
                correct1 += int(hits[:, 0].sum())
                correct5 += int(hits.any(dim=1).sum())
                examples += targets.shape[0]
    if examples == 0:
        raise ValueError("the evaluation loader yielded no examples")
    return {"top1": correct1 / examples, "top5": correct5 / examples, "loss": loss_sum / examples}


def measure(ctx: MetricContext) -> dict[str, float]:
    """The accuracy metric: :func:`evaluate` on ``ctx.loader``."""
    if ctx.loader is None:
        raise ValueError("the accuracy metric needs an evaluation loader (MetricContext.loader)")
    return evaluate(ctx.model, ctx.loader, ctx.loss_fn)
