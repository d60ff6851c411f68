"""The training loop shared by pretraining and finetuning."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ShrinkBenchError
from ..losses import loss_function
from ..masking import MaskedModel
from ..metrics.accuracy import evaluate
from .config import Recipe
from .data import Loader
from .events import EpochLog


class DivergedError(ShrinkBenchError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """The epochs run and which one's weights the model holds at the end (the last, or best on validation)."""

    epochs: list[EpochLog] = field(default_factory=list)
    selected_epoch: int = 0


def recipe_loss(recipe: Recipe):
    """The recipe's loss function, ``fn(logits, targets, reduction="mean")``."""
    return loss_function(recipe.loss, recipe.label_smoothing)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimizer over all of ``model``'s parameters."""
    params = model.parameters()
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(
        params, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov and recipe.momentum > 0,
        weight_decay=recipe.weight_decay,
    )


def lr_at(recipe: Recipe, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based) under the recipe's schedule."""
    if recipe.schedule == "cosine":
        return recipe.lr * 0.5 * (1 + math.cos(math.pi * epoch / max(recipe.epochs, 1)))
    if recipe.schedule == "step":
        return recipe.lr * (0.1 ** sum(epoch >= m * recipe.epochs for m in (0.5, 0.75)))
    return recipe.lr


def train(
    model: nn.Module,
    recipe: Recipe,
    loader: Loader,
    val_loader: Loader | None = None,
    masked: MaskedModel | None = None,
    select_best_val: bool = False,
    on_epoch: Callable[[EpochLog], None] | None = None,
    on_step: Callable[[], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place for ``recipe.epochs`` epochs.

    With ``masked``, pruned weights stay exactly zero after every step. With ``select_best_val``, the model
    ends with the weights of the epoch that scored best on ``val_loader`` (never the test split); otherwise
    with the last epoch's. Raises :class:`DivergedError` when the loss stops being finite.
    """
    optimizer = make_optimizer(model, recipe)
    if masked is not None:
        masked.enforce(optimizer)
    result = TrainResult()
    best: tuple[float, int, dict] | None = None
    loss_fn = recipe_loss(recipe)
    for epoch in range(recipe.epochs):
        lr = lr_at(recipe, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for inputs, targets in loader:
            optimizer.zero_grad(set_to_none=True)
            logits = model(inputs)
            loss = loss_fn(logits, targets, reduction="sum")
            if not math.isfinite(loss.item()):
                raise DivergedError(f"training loss became {loss.item()} in epoch {epoch + 1}")
            (loss / targets.shape[0]).backward()
            optimizer.step()
            loss_sum += loss.item()
            correct += int((logits.argmax(1) == targets).sum())
            seen += targets.shape[0]
            if on_step:
                on_step()
        log = EpochLog(epoch + 1, lr, loss_sum / max(seen, 1), correct / max(seen, 1))
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn)
            log.val_top1, log.val_loss = val["top1"], val["loss"]
            if select_best_val and (best is None or val["top1"] > best[0]):
                best = (val["top1"], epoch + 1, copy.deepcopy(model.state_dict()))
        result.epochs.append(log)
        if on_epoch:
            on_epoch(log)
    result.selected_epoch = recipe.epochs
    if best is not None:
        model.load_state_dict(best[2])
        result.selected_epoch = best[1]
    return result
