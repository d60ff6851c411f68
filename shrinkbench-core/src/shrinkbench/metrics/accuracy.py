"""Top-1 / top-5 accuracy and loss on an evaluation loader."""

from __future__ import annotations

import torch

from . import MetricContext


def evaluate(model: torch.nn.Module, loader, loss_fn=None) -> dict[str, float]:
    """``top1``, ``top5`` (fractions of examples) and ``loss`` (mean over examples) of ``model`` on ``loader``.

    Every batch counts by its real size, so a short last batch weighs what it holds. The model is evaluated in
    eval mode under ``torch.no_grad()`` and its mode is restored afterwards.
    """
    from . import _cross_entropy

    loss_fn = loss_fn or _cross_entropy
    device = next(model.parameters()).device
    correct1 = correct5 = examples = 0
    loss_sum = 0.0
    was_training = model.training
    model.eval()
    try:
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
    finally:
        model.train(was_training)
    if examples == 0:
        raise ValueError("the evaluation loader yielded no examples")
    return {"top1": correct1 / examples, "top5": correct5 / examples, "loss": loss_sum / examples}


def measure(ctx: MetricContext) -> dict[str, float]:
    """The accuracy metric: :func:`evaluate` on ``ctx.loader``."""
    if ctx.loader is None:
        raise ValueError("the accuracy metric needs an evaluation loader (MetricContext.loader)")
    return evaluate(ctx.model, ctx.loader, ctx.loss_fn)
