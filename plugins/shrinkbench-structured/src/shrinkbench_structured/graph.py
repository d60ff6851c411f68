"""Torch-Pruning's dependency graph, as the strategies use it: trace a model, list the channel groups that
may be removed safely, and remove chosen channels from them.

A *channel group* is a set of coupled channels that must go together: the output channels of a convolution
or linear layer, the BatchNorm that normalises them, the input channels of every layer that reads them, and
-- across residual additions and concatenations -- the channels of every other layer they are added to. A
group is named by its *root*, the qualified name of the convolution or linear layer whose output channels
it starts from, and a *plan* maps roots to the channel indices (in the root's numbering) to remove.

Only groups that every part of ShrinkBench can follow are offered (:func:`channel_groups`): never the
model's outputs or the classifier, only convolutions (not transposed), linear layers and BatchNorms (the
layers :func:`shrinkbench.checkpoints.load_shrunken` can rebuild), and only groups whose layers agree on
the channel count (Torch-Pruning treats operations it does not know, such as a zero-padding shortcut, as
element-wise; the channels they would wrongly couple are left alone).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch
import torch_pruning as tp
from torch import nn

from shrinkbench import ShrinkBenchError, eval_mode, find_classifier
from shrinkbench.errors import one_line

__all__ = ["SHRINKABLE", "Plan", "channel_groups", "remove", "trace"]

SHRINKABLE: tuple[type[nn.Module], ...] = (nn.Linear, nn.modules.conv._ConvNd,
                                           nn.modules.batchnorm._BatchNorm)
"""Module types whose channels may be removed: those ``load_shrunken`` resizes (no transposed convolution)."""

Plan = Mapping[str, Sequence[int]]
"""Channels to remove: root layer's qualified name -> channel indices of that layer's outputs."""


def trace(model: nn.Module, example: torch.Tensor) -> tp.DependencyGraph:
    """Torch-Pruning's dependency graph of ``model``, traced with one forward of ``example`` in eval mode
    (BatchNorm statistics untouched, every module's mode restored). Raises a one-line
    :class:`ShrinkBenchError` naming the model type when the model cannot be traced."""
    try:
        with eval_mode(model), torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    except Exception as exc:  # noqa: BLE001 - any failure means Torch-Pruning cannot follow this model
        raise ShrinkBenchError(f"Torch-Pruning cannot trace {type(model).__name__} to find its channel "
                               f"dependencies ({one_line(exc, 160)})") from None


def channel_groups(graph: tp.DependencyGraph, model: nn.Module) -> tuple[dict[str, tp.Group], set[str]]:
    """The removable channel groups of the traced ``model`` (root name -> the group with all its channels)
    and why the others are not removable.

    Left out: groups that touch the model's outputs or its classifier (``find_classifier``), a module that
    is not :data:`SHRINKABLE`, a bare ``nn.Parameter``, or a layer whose channels the group covers in part."""
    classifier = find_classifier(model)
    ignored = [model.get_submodule(classifier)] if classifier else []
    names = {module: name for name, module in model.named_modules()}
    groups, blocked = {}, set()
    roots = (nn.modules.conv._ConvNd, nn.Linear)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for group in graph.get_all_groups(ignored_layers=ignored, root_module_types=roots):
            root = group[0].dep.target.module
            reason = _blocker(graph, group, names)
            if reason:
                blocked.add(reason)
            elif root in names:
                groups[names[root]] = group
    return groups, blocked


def _blocker(graph: tp.DependencyGraph, group: tp.Group, names: Mapping[nn.Module, str]) -> str | None:
    """Why ``group`` cannot be removed (a member ShrinkBench cannot shrink, or one covered in part), or
    ``None``."""
    for dep, idxs in group:
        target = dep.target
        if target.type == tp.ops.OPTYPE.OUTPUT:
            return "the model's output"
        if target.type == tp.ops.OPTYPE.PARAMETER:
            return "a bare nn.Parameter"
        module = target.module
        if module not in names:  # an operation Torch-Pruning tracks (add, concat, reshape): no parameters
            continue
        if not isinstance(module, SHRINKABLE) or getattr(module, "transposed", False):
            return type(module).__name__
        if graph.is_out_channel_pruning_fn(dep.handler) and len(idxs) != graph.get_out_channels(module):
            return f"{names[module]} (channels coupled in part, e.g. through a channel padding)"
    return None


def remove(graph: tp.DependencyGraph, model: nn.Module, plan: Plan) -> None:
    """Remove the channels of ``plan`` from the traced ``model`` in place, with every coupled layer.

    Parameters are replaced by smaller ones; their ``requires_grad`` flags are kept."""
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    for root, idxs in plan.items():
        if not idxs:
            continue
        module = model.get_submodule(root)
        prune_out = graph.get_pruner_of_module(module).prune_out_channels
        group = graph.get_pruning_group(module, prune_out, list(idxs))
        if not graph.check_pruning_group(group):
            raise ShrinkBenchError(f"removing {len(idxs)} channels of {root!r} would empty a layer of "
                                   f"{type(model).__name__}")
        group.prune(record_history=False)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name not in frozen)
