"""The training loop shared by pretraining and finetuning.

Loss and accuracy accumulate on the device and are read once per epoch (and every :data:`CHECK_EVERY` steps,
to stop a diverging run early), so the host never waits for the device step by step.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import measuring
from ..errors import ShrinkBenchError, one_line
from ..losses import LossFn, loss_function
from ..masking import MaskedModel
from ..metrics.accuracy import evaluate
from ..task_spec import TaskMetric
from .config import Recipe
from .events import EpochLog
from .runtime import Runtime

__all__ = ["CHECK_EVERY", "DivergedError", "TrainResult", "lr_at", "make_optimizer", "recipe_loss", "recompile_limit_errors",
           "train"]

CHECK_EVERY = 50  # steps between divergence checks (one host synchronisation each)
TOP1 = TaskMetric("top1", "top-1 accuracy", True)


def recompile_limit_errors() -> tuple[type[BaseException], ...]:
    """What Dynamo raises, under :meth:`Runtime.compile_guard`, where it would otherwise run eager silently
    (imported on demand: Dynamo is slow to import and only compiled runs need it)."""
    from torch._dynamo import exc

    return tuple(e for e in (getattr(exc, "FailOnRecompileLimitHit", None), getattr(exc, "FailOnCacheLimitHit", None))
                 if e is not None)


class DivergedError(ShrinkBenchError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """The epochs run, which one's weights the model holds at the end (the last, or best on validation), and
    the seconds the first compiled step took (``None`` without ``compile``)."""

    epochs: list[EpochLog] = field(default_factory=list)
    selected_epoch: int = 0
    compile_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


def recipe_loss(recipe: Recipe) -> LossFn:
    """The recipe's loss function, ``fn(logits, targets, reduction="mean")``."""
    return loss_function(recipe.loss, recipe.label_smoothing)


def make_optimizer(model: nn.Module, recipe: Recipe, fused: bool = False) -> torch.optim.Optimizer:
    """The recipe's optimizer over all of ``model``'s parameters (``fused``: the single-kernel variant)."""
    params = model.parameters()
    extra = {"fused": True} if fused else {}
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay, **extra)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, **extra)
    return torch.optim.SGD(
        params, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov and recipe.momentum > 0,
        weight_decay=recipe.weight_decay, **extra,
    )


def lr_at(recipe: Recipe, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based) under the recipe's schedule."""
    if recipe.lr_schedule == "cosine":
        return recipe.lr * 0.5 * (1 + math.cos(math.pi * epoch / max(recipe.epochs, 1)))
    if recipe.lr_schedule == "step":
        return recipe.lr * (0.1 ** sum(epoch >= m * recipe.epochs for m in (0.5, 0.75)))
    return recipe.lr


def train(
    model: nn.Module,
    recipe: Recipe,
    loader: Iterable,
    val_loader: Iterable | None = None,
    masked: MaskedModel | None = None,
    select_best_val: bool = False,
    on_epoch: Callable[[EpochLog], None] | None = None,
    runtime: Runtime | None = None,
    on_step: Callable[[int], None] | None = None,
    first_epoch: int = 0,
    epochs: int | None = None,
    select_after_step: int = -1,
    evaluate_fn: Callable[..., dict[str, float]] = evaluate,
    primary: TaskMetric = TOP1,
) -> TrainResult:
    """Train ``model`` (already on ``runtime``'s device) in place for ``epochs`` epochs (default
    ``recipe.epochs``), following the recipe's learning-rate schedule from its epoch ``first_epoch`` on (a run
    rewound to a pretraining epoch continues the pretraining schedule there). Epoch logs count from 1.

    With ``masked``, pruned weights stay exactly zero after every step. With ``select_best_val``, the model
    ends with the weights of the epoch that scored best on ``val_loader`` (never the test split, evaluated by the
    task's ``evaluate_fn``, best by its ``primary`` metric and that metric's direction) among the
    epochs that end after optimizer step ``select_after_step`` (the last pruning step: an epoch before it holds
    a less pruned model); otherwise with the last epoch's. With ``runtime.compile``, a model that fails to
    compile trains eagerly and the result's ``notes`` say so. ``on_step(step)`` is called after every optimizer
    step with the step's index (from 0), e.g. to prune further during training. Raises :class:`DivergedError`
    when the loss stops being finite.
    """
    epochs = recipe.epochs if epochs is None else epochs
    runtime = runtime or Runtime()
    optimizer = make_optimizer(model, recipe, fused=runtime.fused_optimizer)
    if masked is not None:
        masked.enforce(optimizer)
    scaler = runtime.grad_scaler()
    loss_fn = recipe_loss(recipe)
    forward = runtime.compiled(model) if runtime.compile else model
    result = TrainResult()
    best: tuple[float, int, dict] | None = None
    device = runtime.torch_device
    global_step = 0

    def step(inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        optimizer.zero_grad(set_to_none=True)
        runtime.step_begin()
        with runtime.autocast():
            logits = forward(runtime.prepare_inputs(inputs))
            loss = loss_fn(logits, targets, reduction="sum")
        mean_loss = loss / targets.numel()  # per prediction: per example, or per token of a language model
        if scaler is None:
            mean_loss.backward()
            optimizer.step()
        else:
            scaler.scale(mean_loss).backward()
            scaler.step(optimizer)
            scaler.update()
        return loss.detach().float(), (logits.detach().argmax(-1) == targets).sum()

    def guarded_step(inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A step of the compiled model that falls back to eager: on any failure of the first (compiling)
        step, and when Dynamo hits its recompile limit later; the result's notes say which."""
        nonlocal forward
        if forward is model:
            return step(inputs, targets)
        first = result.compile_seconds is None
        started = time.perf_counter()
        graphs = runtime.compiled_graphs() if first else 0
        try:
            out = step(inputs, targets)
        except Exception as exc:  # noqa: BLE001 - a compiler failure: train eagerly, say so
            if not (first or isinstance(exc, recompile_limit_errors())):
                raise
            when = "compile failed" if first else f"recompile limit hit at step {global_step + 1}"
            result.notes.append(f"{when}, ran eager ({one_line(exc, 200)})")
            forward = model
            return step(inputs, targets)
        if first:
            runtime.synchronize()
            result.compile_seconds = time.perf_counter() - started
            if runtime.compiled_graphs() == graphs:
                result.notes.append("compile: reused the graphs an earlier run in this process compiled")
        return out

    with runtime.compile_guard():
        for epoch in range(epochs):
            lr = lr_at(recipe, first_epoch + epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            seen = 0
            for index, (inputs, targets) in enumerate(loader):
                loss, hits = guarded_step(inputs, targets)
                loss_sum += loss
                correct += hits
                seen += targets.numel()
                if on_step is not None:
                    on_step(global_step)
                global_step += 1
                measuring.safe_point()  # another process's latency measurement may pause this one here
                if (index + 1) % CHECK_EVERY == 0 and not math.isfinite(loss_sum.item()):
                    raise DivergedError(f"training loss became {loss_sum.item()} in epoch {epoch + 1}")
            total_loss = loss_sum.item()
            if not math.isfinite(total_loss):
                raise DivergedError(f"training loss became {total_loss} in epoch {epoch + 1}")
            log = EpochLog(epoch + 1, lr, total_loss / max(seen, 1), int(correct.item()) / max(seen, 1))
            if val_loader is not None:
                val = evaluate_fn(model, val_loader, loss_fn, autocast=runtime.autocast)
                log.val_top1, log.val_loss = val.get("top1", val.get("token_top1")), val["loss"]
                log.val_primary = val[primary.column]
                eligible = global_step - 1 >= select_after_step
                if select_best_val and eligible and (best is None or primary.better(log.val_primary, best[0])):
                    best = (log.val_primary, epoch + 1, copy.deepcopy(model.state_dict()))
            result.epochs.append(log)
            if on_epoch:
                on_epoch(log)
    result.selected_epoch = epochs
    if best is not None:
        model.load_state_dict(best[2])
        result.selected_epoch = best[1]
    return result
