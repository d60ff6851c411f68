"""Channel importance: one score per channel of every removable group (higher = more important).

Each function takes the traced graph and the groups of :func:`shrinkbench_structured.graph.channel_groups`
and returns ``{root name: scores}``, one float32 CPU score per channel in the root's numbering; a group the
criterion cannot score (e.g. one without BatchNorm for ``batchnorm_scale``) is left out. The *producers* of a
group are its layers that lose output channels: the convolutions and linear layers that compute the channels
and the BatchNorms that normalise them; layers that only read the channels are not scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace

import torch
import torch_pruning as tp
from torch import Tensor, nn

from shrinkbench import Batch, PruningContext, weight_gradients

__all__ = ["Scores", "batchnorm_scale", "filter_l1", "taylor"]

Scores = dict[str, Tensor]
"""Root name -> one score per channel of that group."""

Producer = tuple[nn.Module, list[int], list[int]]
"""A layer, its channel indices in the group, the same channels in the root's numbering."""

_BN = nn.modules.batchnorm._BatchNorm
_LAYERS = (nn.modules.conv._ConvNd, nn.Linear, _BN)


def filter_l1(graph: tp.DependencyGraph, groups: Mapping[str, tp.Group]) -> Scores:
    """Li et al. 2017: the L1 norm ``sum |W|`` of each channel's filters, summed over the group's convolutions
    and linear layers that compute it (one layer unless a residual addition couples several)."""
    return _weight_norms(graph, groups, lambda m: not isinstance(m, _BN), mean=False)


def batchnorm_scale(graph: tp.DependencyGraph, groups: Mapping[str, tp.Group]) -> Scores:
    """Liu et al. 2017 (network slimming): ``|gamma|`` of the BatchNorm that normalises each channel, averaged
    over the group's BatchNorms when a residual addition couples several; groups without an affine BatchNorm
    are left out."""
    return _weight_norms(graph, groups, lambda m: isinstance(m, _BN) and m.affine, mean=True)


def taylor(graph: tp.DependencyGraph, groups: Mapping[str, tp.Group], ctx: PruningContext,
           batches: Sequence[Batch]) -> Scores:
    """Molchanov et al. 2019: first-order Taylor importance ``(sum over the channel's gates of g * w)^2``,
    averaged over ``batches``. The gates of a channel are the scale and shift of its BatchNorms (the paper's
    best variant); a channel without BatchNorm uses the weights and bias of the layers that compute it.

    ``g`` is the gradient of ``ctx.loss_fn(ctx.model(x), y)`` on each batch, taken by
    :func:`shrinkbench.weight_gradients`: in eval mode, so BatchNorm running statistics are not updated, and
    with ``torch.autograd.grad``, so no ``.grad`` is written."""
    gates = {root: layers for root, group in groups.items() if (layers := _gates(graph, group))}
    if not gates:
        return {}
    wanted = {id(p) for layers in gates.values() for m, _, _ in layers for p in (m.weight, m.bias)
              if p is not None}
    parameters = {name: p for name, p in ctx.model.named_parameters() if id(p) in wanted}
    totals: Scores = {root: torch.zeros(len(groups[root][0].idxs)) for root in gates}
    for batch in batches:
        one = replace(ctx, prunable=parameters, batches=lambda batch=batch: iter([batch]))
        grads = {id(parameters[name]): grad for name, grad in weight_gradients(one).items()}
        for root, layers in gates.items():
            parts = [(_contribution(m, idxs, grads), root_idxs) for m, idxs, root_idxs in layers]
            totals[root] += _scatter(len(totals[root]), parts).pow(2)
    return {root: total / len(batches) for root, total in totals.items()}


def _producers(graph: tp.DependencyGraph, group: tp.Group) -> Iterator[Producer]:
    """Every producer of ``group``."""
    for item in group:
        module = item.dep.target.module
        out = graph.is_out_channel_pruning_fn(item.dep.handler)
        if out and isinstance(module, _LAYERS) and None not in item.root_idxs:
            yield module, list(item.idxs), list(item.root_idxs)


def _weight_norms(graph: tp.DependencyGraph, groups: Mapping[str, tp.Group],
                  scored: Callable[[nn.Module], bool], mean: bool) -> Scores:
    """Per channel, ``sum |weight|`` over each producer that is ``scored``, added (or averaged) over them."""
    scores = {}
    for root, group in groups.items():
        parts = [(_per_channel(m.weight.detach().abs(), idxs, m), root_idxs)
                 for m, idxs, root_idxs in _producers(graph, group) if scored(m)]
        if parts:
            scores[root] = _scatter(len(group[0].idxs), parts) / (len(parts) if mean else 1)
    return scores


def _gates(graph: tp.DependencyGraph, group: tp.Group) -> list[Producer]:
    """The producers whose parameters gate the group's channels: its affine BatchNorms, else all of them."""
    producers = list(_producers(graph, group))
    norms = [p for p in producers if isinstance(p[0], _BN) and p[0].affine]
    return norms or producers


def _contribution(module: nn.Module, idxs: Sequence[int], grads: Mapping[int, Tensor]) -> Tensor:
    """``sum of g * w`` over each channel's weight and bias entries of ``module``."""
    total = torch.zeros(len(idxs))
    for p in (module.weight, module.bias):
        if p is not None:
            total += _per_channel(p.detach() * grads[id(p)], idxs, module)
    return total


def _per_channel(tensor: Tensor, idxs: Sequence[int], module: nn.Module) -> Tensor:
    """The sum over each output channel ``idxs`` of ``tensor`` (a weight or bias of ``module``), float32,
    on the CPU."""
    if tensor.dim() > 1 and getattr(module, "transposed", False):
        tensor = tensor.transpose(0, 1)
    rows = tensor.detach()[torch.as_tensor(idxs, device=tensor.device)].float()
    return rows.flatten(1).sum(1).cpu() if rows.dim() > 1 else rows.cpu()


def _scatter(size: int, parts: Sequence[tuple[Tensor, Sequence[int]]]) -> Tensor:
    """The per-channel ``parts`` (values, root indices) added into one vector of ``size``."""
    out = torch.zeros(size)
    for values, root_idxs in parts:
        out.index_add_(0, torch.as_tensor(root_idxs), values)
    return out
