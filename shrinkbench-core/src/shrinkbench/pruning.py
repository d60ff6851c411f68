"""Helpers every strategy reuses: which parameters are prunable, how many weights a compression keeps, and
exact global / per-layer selection of the highest-scoring weights.

Compression follows ShrinkBench: ``total parameters / nonzero parameters`` over the whole model, with the
parameters that are not pruned (biases, norms, the classifier) counted dense.

Tie rule: when several weights share the threshold score, the ones with the lowest flat index (in prunable
parameter order) are kept, so the kept count is always exact and the result deterministic.

Zero rule: :meth:`PruningContext.masks` ranks weights that are already exactly zero below every nonzero
weight, so pruning an already-sparse model never revives a pruned weight while pruning a live one.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .errors import CompressionError

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
CLASSIFIER_ATTR = "shrinkbench_classifier"

Masks = dict[str, Tensor]
Batch = tuple[Tensor, Tensor]


def classifier_name(model: nn.Module) -> str | None:
    """Qualified name of the model's classifier module.

    Taken from the model's ``shrinkbench_classifier`` attribute, else timm's ``get_classifier()``, else the
    last ``nn.Linear`` in module order; ``None`` when the model has none of these.
    """
    declared = getattr(model, CLASSIFIER_ATTR, None)
    if declared is not None:
        return declared
    named = dict(model.named_modules())
    get_classifier = getattr(model, "get_classifier", None)
    if callable(get_classifier):
        head = get_classifier()
        for name, module in named.items():
            if module is head:
                return name
    linears = [name for name, module in named.items() if isinstance(module, nn.Linear)]
    return linears[-1] if linears else None


def prunable_parameters(model: nn.Module, include_classifier: bool = False) -> dict[str, nn.Parameter]:
    """The weights a strategy may prune, by qualified parameter name, in module order.

    These are the ``weight`` tensors of linear and convolution layers; the classifier's weight is left out
    unless ``include_classifier`` is true (as in ShrinkBench). Parameters shared by several modules appear once.
    """
    skip = None if include_classifier else classifier_name(model)
    out: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    for name, module in model.named_modules():
        if not isinstance(module, PRUNABLE_TYPES) or name == skip:
            continue
        weight = getattr(module, "weight", None)
        if isinstance(weight, nn.Parameter) and id(weight) not in seen:
            seen.add(id(weight))
            out[f"{name}.weight" if name else "weight"] = weight
    return out


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters (shared tensors counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def weights_to_keep(model: nn.Module, prunable: Mapping[str, Tensor], compression: float) -> int:
    """How many prunable weights to keep so that the whole model reaches ``compression``.

    Raises :class:`CompressionError` when ``compression`` < 1 or when the non-prunable parameters alone
    exceed the budget.
    """
    if not (isinstance(compression, (int, float)) and math.isfinite(compression)) or compression < 1:
        raise CompressionError(f"compression must be a number >= 1 (1 = no pruning), got {compression!r}")
    total = count_parameters(model)
    n_prunable = sum(t.numel() for t in prunable.values())
    dense_rest = total - n_prunable
    keep = round(total / compression) - dense_rest
    if keep < 0:
        reachable = total / dense_rest if dense_rest else math.inf
        raise CompressionError(
            f"compression {compression:g} is out of reach: the {dense_rest:,} non-prunable parameters alone "
            f"allow at most {reachable:.4g}x; choose a smaller compression"
        )
    return min(keep, n_prunable)


def global_masks(scores: Mapping[str, Tensor], keep: int) -> Masks:
    """Keep the ``keep`` highest scores across all tensors together (one global threshold)."""
    names = list(scores)
    flat = torch.cat([scores[n].detach().reshape(-1) for n in names])
    keep_flat = _top_k_mask(flat, keep)
    out: Masks = {}
    offset = 0
    for n in names:
        size = scores[n].numel()
        out[n] = keep_flat[offset : offset + size].view_as(scores[n])
        offset += size
    return out


def layer_keep_counts(sizes: Mapping[str, int], keep: int) -> dict[str, int]:
    """Split ``keep`` over tensors in proportion to their sizes, summing exactly to ``keep``.

    Every layer keeps the same fraction up to rounding; leftover weights go to the largest remainders.
    """
    total = sum(sizes.values())
    if total == 0:
        return dict.fromkeys(sizes, 0)
    exact = {n: keep * s / total for n, s in sizes.items()}
    counts = {n: math.floor(v) for n, v in exact.items()}
    leftover = keep - sum(counts.values())
    for n in sorted(sizes, key=lambda n: (counts[n] - exact[n], list(sizes).index(n)))[:leftover]:
        counts[n] += 1
    return counts


def layer_masks(scores: Mapping[str, Tensor], keep: int) -> Masks:
    """Keep the same fraction of every tensor (its highest scores), ``keep`` weights in all."""
    counts = layer_keep_counts({n: s.numel() for n, s in scores.items()}, keep)
    return {n: _top_k_mask(s.detach().reshape(-1), counts[n]).view_as(s) for n, s in scores.items()}


def masks_from_scores(
    scores: Mapping[str, Tensor], model: nn.Module, compression: float, scope: str = "global"
) -> Masks:
    """Masks that keep the highest ``scores`` so the whole model reaches ``compression``.

    ``scope`` is ``"global"`` (one threshold over all tensors) or ``"layer"`` (same fraction per tensor).
    ``scores`` must have one tensor per prunable parameter, shaped like it.
    """
    keep = weights_to_keep(model, scores, compression)
    if scope == "global":
        return global_masks(scores, keep)
    if scope == "layer":
        return layer_masks(scores, keep)
    raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")


def _top_k_mask(flat: Tensor, k: int) -> Tensor:
    """Boolean mask of the ``k`` largest entries of a 1-D tensor; ties go to the lowest index."""
    n = flat.numel()
    if k >= n:
        return torch.ones(n, dtype=torch.bool, device=flat.device)
    if k <= 0:
        return torch.zeros(n, dtype=torch.bool, device=flat.device)
    values = flat.float()
    threshold = torch.kthvalue(values, n - k).values  # everything strictly above it is kept
    mask = values > threshold
    missing = k - int(mask.count_nonzero())
    if missing > 0:
        ties = (values == threshold).nonzero().flatten()[:missing]
        mask[ties] = True
    return mask


@dataclass(frozen=True)
class PruningContext:
    """Everything a strategy may look at.

    ``prunable`` maps qualified parameter names to the model's live parameters (do not modify them);
    ``batches()`` yields training batches ``(inputs, targets)`` for data-driven strategies (``None`` when
    the caller gives no data); ``generator`` is seeded from ``seed`` for any randomness.
    """

    model: nn.Module
    prunable: Mapping[str, nn.Parameter]
    compression: float
    seed: int = 0
    batches: Callable[[], Iterator[Batch]] | None = None
    loss_fn: Callable[[Tensor, Tensor], Tensor] = field(default=nn.functional.cross_entropy)

    @property
    def generator(self) -> torch.Generator:
        """A fresh CPU generator seeded with ``seed`` (same seed, same draws)."""
        return torch.Generator().manual_seed(self.seed)

    def batch(self) -> Batch:
        """The first training batch; raises when the strategy needs data and none was given."""
        if self.batches is None:
            raise ValueError("this strategy needs training data, but no batches were given (PruningContext.batches)")
        return next(iter(self.batches()))

    def masks(self, scores: Mapping[str, Tensor], scope: str = "global") -> Masks:
        """Masks keeping the highest ``scores`` at this context's compression (see :func:`masks_from_scores`).

        Weights that are already zero rank below all others (the zero rule above).
        """
        ranked = {}
        for name, score in scores.items():
            score = score.detach().float()
            zero = self.prunable[name].detach() == 0
            ranked[name] = torch.where(zero, torch.full_like(score, -math.inf), score) if zero.any() else score
        return masks_from_scores(ranked, self.model, self.compression, scope)


def make_context(
    model: nn.Module,
    compression: float,
    seed: int = 0,
    batches: Callable[[], Iterator[Batch]] | None = None,
    include_classifier: bool = False,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.cross_entropy,
) -> PruningContext:
    """A :class:`PruningContext` over the model's default prunable parameters; checks ``compression``."""
    prunable = prunable_parameters(model, include_classifier=include_classifier)
    weights_to_keep(model, prunable, compression)
    return PruningContext(model, prunable, float(compression), seed, batches, loss_fn)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module of ``model`` in eval mode, then restore each module's own previous mode."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.training = training


def owner_module(model: nn.Module, parameter_name: str) -> nn.Module:
    """The module that holds the parameter called ``parameter_name`` (e.g. ``"layer1.0.conv1.weight"``)."""
    module_name = parameter_name.rpartition(".")[0]
    return model.get_submodule(module_name) if module_name else model


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
