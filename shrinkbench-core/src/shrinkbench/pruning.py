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

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .errors import CompressionError
from .losses import LossFn, cross_entropy
from .masking import Masks
from .modules import eval_mode, find_classifier, owner_module

__all__ = [
    "ATTENTION_WEIGHTS",
    "PRUNABLE_TYPES",
    "Batch",
    "Masks",
    "PruningContext",
    "count_parameters",
    "eval_mode",
    "global_masks",
    "layer_keep_counts",
    "layer_masks",
    "make_context",
    "masks_from_scores",
    "owner_module",
    "prunable_parameters",
    "weight_gradients",
    "weights_to_keep",
]

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
)
"""Module types (subclasses included) whose ``weight`` is the weight of a linear or convolution operation."""

ATTENTION_WEIGHTS: tuple[str, ...] = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")
"""The ``nn.MultiheadAttention`` parameters used as linear weights (packed, or separate when kdim/vdim differ)."""

Batch = tuple[Tensor, Tensor]
"""A training or evaluation batch: ``(inputs, integer targets)``."""


def prunable_parameters(
    model: nn.Module, include_classifier: bool = False, *, include_embeddings: bool = False
) -> dict[str, nn.Parameter]:
    """The weights a strategy may prune, by qualified parameter name, in module order.

    These are the tensors used as the weight of a linear or convolution operation: the ``weight`` of every
    :data:`PRUNABLE_TYPES` module (``nn.MultiheadAttention.out_proj`` included) and the
    :data:`ATTENTION_WEIGHTS` of every ``nn.MultiheadAttention``; ``nn.Embedding`` weights only when
    ``include_embeddings`` is true. Norms, biases, position embeddings and class tokens never are. The
    classifier's weight is left out unless ``include_classifier`` is true (as in ShrinkBench). Parameters
    shared by several modules appear once, under their first name.
    """
    skip = None if include_classifier else find_classifier(model)
    out: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    for name, module in model.named_modules():
        if name == skip:
            continue
        for attr in _weight_attributes(module, include_embeddings):
            weight = getattr(module, attr, None)
            if isinstance(weight, nn.Parameter) and id(weight) not in seen:
                seen.add(id(weight))
                out[f"{name}.{attr}" if name else attr] = weight
    return out


def _weight_attributes(module: nn.Module, include_embeddings: bool) -> tuple[str, ...]:
    """The names of ``module``'s own parameters that :func:`prunable_parameters` may return."""
    if isinstance(module, PRUNABLE_TYPES) or (include_embeddings and isinstance(module, nn.Embedding)):
        return ("weight",)
    if isinstance(module, nn.MultiheadAttention):
        return ATTENTION_WEIGHTS
    return ()


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
    masks = _top_k_masks([scores[n].detach().reshape(-1) for n in names], keep)
    return {n: m.view_as(scores[n]) for n, m in zip(names, masks, strict=True)}


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
    return {n: _top_k_masks([s.detach().reshape(-1)], counts[n])[0].view_as(s) for n, s in scores.items()}


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


_SAMPLE = 1 << 16  # scores sampled to bracket the threshold


def _top_k_masks(flats: list[Tensor], k: int) -> list[Tensor]:
    """Masks of the ``k`` largest entries of 1-D tensors taken together; ties go to the lowest index."""
    n = sum(f.numel() for f in flats)
    if k >= n or k <= 0:
        return [torch.full((f.numel(),), k > 0, dtype=torch.bool, device=f.device) for f in flats]
    dtype = functools.reduce(torch.promote_types, [f.dtype for f in flats])
    dtype = dtype if dtype.is_floating_point else torch.float32
    flats = [f.to(dtype) for f in flats]
    threshold = _kth_smallest(flats, n - k)  # everything strictly above it is kept
    masks = [f > threshold for f in flats]
    missing = k - sum(int(m.count_nonzero()) for m in masks)
    for f, m in zip(flats, masks, strict=True):  # then the ties at the threshold, lowest index first
        if missing <= 0:
            break
        ties = (f == threshold).nonzero().flatten()[:missing]
        m[ties] = True
        missing -= ties.numel()
    return masks


def _kth_smallest(flats: list[Tensor], r: int) -> Tensor:
    """The ``r``-th smallest entry (1-based) of 1-D tensors of one dtype taken together, exactly.

    ``torch.kthvalue`` on CPU is a single-threaded quickselect over a copy of its input. For many entries,
    the answer is first bracketed between two order statistics of a fixed random sample; the entries below
    the bracket are counted and the selection runs only within it (~2% of the entries). The sample sets only
    the speed: when the bracket misses (an unlucky sample, NaNs), ``kthvalue`` runs over everything.
    """
    n = sum(f.numel() for f in flats)
    if n > 16 * _SAMPLE:
        g = torch.Generator().manual_seed(0)
        picks = [torch.randint(f.numel(), (f.numel() * _SAMPLE // n,), generator=g).to(f.device) for f in flats]
        sample = torch.cat([f[i] for f, i in zip(flats, picks, strict=True)]).sort().values
        s, slack = sample.numel(), 3 * math.isqrt(sample.numel())
        pos = (r - 1) * s // n
        lo, hi = sample[max(pos - slack, 0)], sample[min(pos + slack, s - 1)]
        below, inside = 0, []
        for f in flats:
            below += int((f < lo).count_nonzero())
            inside.append(f[(f >= lo) & (f <= hi)])
        candidates = torch.cat(inside)
        if below < r <= below + candidates.numel():
            return torch.kthvalue(candidates, r - below).values
    return torch.kthvalue(torch.cat(flats), r).values


@dataclass(frozen=True)
class PruningContext:
    """Everything a strategy may look at.

    ``prunable`` maps qualified parameter names to the model's live parameters (do not modify them);
    ``batches()`` yields training batches ``(inputs, targets)`` for data-driven strategies (``None`` when
    the caller gives no data), already on the model's device; ``generator`` is seeded from ``seed`` for any
    randomness; ``loss_fn(logits, targets)`` is the loss of the run's recipe (cross-entropy by default).
    ``dense_parameters`` is the parameter count of the dense model the run started from: a structured
    strategy's target is relative to it, also when a schedule prunes an already shrunken model again.

    ``calibration``: for a strategy that declares :attr:`shrinkbench.StrategySpec.calibration`, the seeded
    calibration inputs drawn from the training split (never validation or test), as a list of input batches on
    the model's device (token windows for a language model, images for a classifier); ``None`` otherwise. Such a
    strategy may change the model's prunable weights in place while it works -- zero the weights it prunes, and,
    when it declares :attr:`~shrinkbench.StrategySpec.reconstructs`, update the weights it keeps -- because the
    sequential protocol (:mod:`shrinkbench.layerwise`) feeds each block the outputs of the blocks already
    pruned; the engine then checks every tensor against the dense weights (pruned entries zero, kept entries
    unchanged unless declared, nothing else changed).
    """

    model: nn.Module
    prunable: Mapping[str, nn.Parameter]
    compression: float
    seed: int = 0
    batches: Callable[[], Iterator[Batch]] | None = None
    loss_fn: LossFn = field(default=cross_entropy)
    dense_parameters: int | None = None
    calibration: list[Tensor] | None = None

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

        Weights that are already zero rank below all others (the zero rule above). Scores may live on any
        device; the masks are on the weights' device.
        """
        ranked = {}
        for name, score in scores.items():
            weight = self.prunable[name].detach()
            score = score.detach().to(weight.device, torch.float32)
            zero = weight == 0
            ranked[name] = torch.where(zero, torch.full_like(score, -math.inf), score) if zero.any() else score
        return masks_from_scores(ranked, self.model, self.compression, scope)


def make_context(
    model: nn.Module,
    compression: float,
    seed: int = 0,
    batches: Callable[[], Iterator[Batch]] | None = None,
    include_classifier: bool = False,
    loss_fn: LossFn = cross_entropy,
) -> PruningContext:
    """A :class:`PruningContext` over the model's default prunable parameters; checks ``compression``."""
    prunable = prunable_parameters(model, include_classifier=include_classifier)
    weights_to_keep(model, prunable, compression)
    return PruningContext(model, prunable, float(compression), seed, batches, loss_fn)



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
