"""Magnitude pruning: keep the weights with the largest |w|, or |w| weighted by the size of their input.

Every strategy scores each prunable weight and lets core keep the highest scores at the target compression,
either with one threshold across all layers (``global``) or with the same fraction in every layer
(``layer``), see :meth:`shrinkbench.pruning.PruningContext.masks`.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from shrinkbench import Masks, PruningContext, eval_mode, owner_module


def global_magnitude(ctx: PruningContext) -> Masks:
    """score(w) = |w|, one threshold over all prunable layers (ShrinkBench's GlobalMagWeight).

    Han et al. 2015, "Learning both Weights and Connections for Efficient Neural Networks" (NeurIPS).
    """
    return ctx.masks(magnitude_scores(ctx), scope="global")


def layer_magnitude(ctx: PruningContext) -> Masks:
    """score(w) = |w|, the same fraction kept in every layer (ShrinkBench's LayerMagWeight).

    Han et al. 2015, "Learning both Weights and Connections for Efficient Neural Networks" (NeurIPS).
    """
    return ctx.masks(magnitude_scores(ctx), scope="layer")


def global_activation(ctx: PruningContext) -> Masks:
    """score(w[o, i, ...]) = |w[o, i, ...]| * mean |x_i|, one threshold over all layers (GlobalMagAct).

    ``x_i`` is input feature (Linear) or input channel (Conv) ``i`` of the weight's layer on the first
    training batch; see :func:`activation_scores`. Blalock et al. 2020, "What is the State of Neural Network
    Pruning?" (MLSys), the MagAct baseline of ShrinkBench.
    """
    return ctx.masks(activation_scores(ctx), scope="global")


def layer_activation(ctx: PruningContext) -> Masks:
    """score(w[o, i, ...]) = |w[o, i, ...]| * mean |x_i|, the same fraction kept per layer (LayerMagAct).

    Blalock et al. 2020, "What is the State of Neural Network Pruning?" (MLSys), MagAct.
    """
    return ctx.masks(activation_scores(ctx), scope="layer")


def magnitude_scores(ctx: PruningContext) -> dict[str, Tensor]:
    """``|w|`` for every prunable weight (detached; the weights are not touched)."""
    return {name: weight.detach().abs() for name, weight in ctx.prunable.items()}


def activation_scores(ctx: PruningContext) -> dict[str, Tensor]:
    """``|w| * mean|x_i|`` for every prunable weight, ``mean|x_i|`` broadcast over the weight's input axis.

    Linear: ``score[o, i] = |w[o, i]| * mean over examples (and leading axes) of |x[:, i]|``.
    ConvNd: ``score[o, i, k...] = |w[o, i, k...]| * mean over examples and positions of |x[:, c(o, i)]|``,
    where ``c(o, i)`` is the input channel that weight reads (``i`` shifted by the group of ``o``).
    ConvTransposeNd: ``score[i, o, k...] = |w[i, o, k...]| * mean|x[:, i]|`` (the input channel is axis 0).
    ``nn.MultiheadAttention``: the rows of ``in_proj_weight`` that project the query, key and value are scaled
    by the mean |query|, |key| and |value| features; ``q/k/v_proj_weight`` by their own input's.
    """
    means = input_activation_means(ctx)
    scores = {}
    for name, weight in ctx.prunable.items():
        factor = _broadcast_to_weight(means[name], weight, owner_module(ctx.model, name))
        scores[name] = weight.detach().abs().float() * factor
    return scores


_ATTENTION_INPUTS = {"in_proj_weight": ("query", "key", "value"), "q_proj_weight": ("query",),
                     "k_proj_weight": ("key",), "v_proj_weight": ("value",)}
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _inputs_of(name: str, module: nn.Module) -> tuple[str, ...]:
    """Which forward arguments of its owner ``module`` the prunable parameter ``name`` multiplies."""
    if isinstance(module, nn.MultiheadAttention):
        return _ATTENTION_INPUTS[name.rpartition(".")[2]]
    return ("input",)


def input_activation_means(ctx: PruningContext) -> dict[str, Tensor]:
    """Mean |input| per input feature/channel of every prunable weight's layer, over ``ctx.batch()``.

    The model runs once in eval mode under ``torch.no_grad()`` (BatchNorm statistics and dropout untouched;
    every module's mode is restored and the temporary forward-pre-hooks removed). A layer called several
    times averages over all calls. An ``nn.MultiheadAttention`` weight reads the module's query, key or value
    argument; the packed ``in_proj_weight`` gets one row per block, shape ``(3, embed_dim)``. A layer whose
    ``forward`` never runs (e.g. ``MultiheadAttention.out_proj``, read by a functional call) gets the mean of
    the other layers' values, with a warning.
    """
    model = ctx.model
    sums: dict[tuple[str, str], Tensor] = {}
    counts: dict[tuple[str, str], int] = {}

    def add(key: tuple[str, str], x: Tensor, axis: int) -> None:
        x = x.detach()
        total = x.abs().float().sum(dim=[d for d in range(x.dim()) if d != axis])
        sums[key] = sums[key] + total if key in sums else total
        counts[key] = counts.get(key, 0) + x.numel() // x.shape[axis]

    def recorder(module_name: str, module: nn.Module):
        def record(_module: nn.Module, args: tuple, kwargs: dict) -> None:
            if isinstance(module, nn.MultiheadAttention):
                for index, arg in enumerate(("query", "key", "value")):
                    x = args[index] if len(args) > index else kwargs.get(arg)
                    if isinstance(x, Tensor):
                        add((module_name, arg), x, x.dim() - 1)
            elif args and isinstance(args[0], Tensor):
                x = args[0]
                axis = x.dim() - 1 if isinstance(module, nn.Linear) else x.dim() - module.weight.dim() + 1
                add((module_name, "input"), x, axis)

        return record

    owners = {name.rpartition(".")[0]: owner_module(model, name) for name in ctx.prunable}
    handles = [module.register_forward_pre_hook(recorder(module_name, module), with_kwargs=True)
               for module_name, module in owners.items()]
    inputs, _targets = ctx.batch()
    device = next(iter(ctx.prunable.values())).device
    try:
        with eval_mode(model), torch.no_grad():
            model(inputs.to(device))
    finally:
        for handle in handles:
            handle.remove()
    means: dict[str, Tensor] = {}
    for name in ctx.prunable:
        keys = [(name.rpartition(".")[0], arg) for arg in _inputs_of(name, owner_module(model, name))]
        if all(key in sums for key in keys):
            rows = [sums[key] / counts[key] for key in keys]
            means[name] = torch.stack(rows) if len(rows) > 1 else rows[0]
    unseen = [name for name in ctx.prunable if name not in means]
    if unseen:
        fill = torch.cat([m.reshape(-1) for m in means.values()]).mean() if means else torch.tensor(1.0)
        warnings.warn(f"activation scores: the forward of {unseen} never ran; using the mean activation "
                      f"{float(fill):.4g} for their inputs", stacklevel=2)
        for name in unseen:
            weight = ctx.prunable[name]
            means[name] = fill.to(device).expand(_input_width(weight, owner_module(model, name)))
    return means


def _input_width(weight: Tensor, module: nn.Module) -> int:
    if isinstance(module, _TRANSPOSED):
        return weight.shape[0]
    return weight.shape[1] * getattr(module, "groups", 1)


def _broadcast_to_weight(mean: Tensor, weight: Tensor, module: nn.Module) -> Tensor:
    """Per-input values (length in_features / in_channels) arranged to multiply ``weight`` elementwise.

    For attention weights ``mean`` may hold one row per block of the weight's rows (query, key, value).
    """
    mean = mean.to(weight.device)
    if isinstance(module, nn.MultiheadAttention):
        blocks = mean.reshape(-1, 1, weight.shape[1])
        return blocks.expand(-1, weight.shape[0] // blocks.shape[0], -1).reshape(weight.shape)
    if isinstance(module, _TRANSPOSED):
        return mean.reshape(-1, *([1] * (weight.dim() - 1)))
    out_dim, in_per_group = weight.shape[0], weight.shape[1]
    groups = getattr(module, "groups", 1)
    if groups == 1:
        return mean.reshape(1, in_per_group, *([1] * (weight.dim() - 2)))
    per_weight = mean.reshape(groups, 1, in_per_group).expand(groups, out_dim // groups, in_per_group)
    return per_weight.reshape(out_dim, in_per_group, *([1] * (weight.dim() - 2)))
