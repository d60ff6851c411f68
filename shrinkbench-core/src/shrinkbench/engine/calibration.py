"""Calibration data for post-training strategies, and the check of what a strategy changed in the weights.

**Calibration** (SparseGPT, Frantar & Alistarh 2023; Wanda, Sun et al. 2024): a strategy that declares
:attr:`shrinkbench.StrategySpec.calibration` gets ``calibration_samples`` inputs drawn from the TRAINING split
(never validation or test) of the experiment's dataset or of ``calibration_source`` (another dataset of the same
task, e.g. C4 windows to prune a model evaluated on WikiText-2), in an order seeded by the run's seed: each seed
draws its own set, so the seed spread includes the calibration's. For text an input is a training window of
the context length; for images an image. Size and source are experiment keys (:class:`Experiment`), recorded in
every row of such a strategy, and variant keys the confounder report can study.

**What a strategy may change** (design §9): a mask strategy leaves every tensor as it was, except that a
calibration strategy may zero the weights it prunes (the sequential protocol prunes block by block in place),
and a strategy that declares :attr:`~shrinkbench.StrategySpec.reconstructs` may also update the weights it
keeps. :func:`changed_weights` says what else changed; the run fails with it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from ..plugins import Registry
from .experiment import Experiment
from .tasking import load_data

__all__ = ["CALIBRATION_BATCH", "Calibration", "changed_weights", "draw_calibration", "snapshot"]

CALIBRATION_BATCH = 8
"""Calibration inputs per batch handed to the strategy (the sequential helper runs one batch at a time)."""


class Calibration(list):
    """The calibration batches (a list of input tensors on the run's device) and what rows record about them
    (``protocol``: ``calibration_samples``, ``calibration_source`` and, for text, ``calibration_length``)."""

    protocol: dict[str, Any]


def draw_calibration(registry: Registry, experiment: Experiment, seed: int, device: torch.device) -> Calibration:
    """``experiment.calibration_samples`` training inputs of the calibration source, in batches of
    :data:`CALIBRATION_BATCH`, drawn in an order seeded by ``seed`` (fewer when the split has fewer)."""
    source = experiment.calibration_source or experiment.dataset
    splits = load_data(registry, replace(experiment, dataset=source))
    train = splits.train
    count = min(experiment.calibration_samples, len(train))
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:count].tolist()
    inputs = [torch.as_tensor(train[i][0]) for i in order]
    batches = Calibration(torch.stack(inputs[i:i + CALIBRATION_BATCH]).to(device)
                          for i in range(0, count, CALIBRATION_BATCH))
    batches.protocol = {"calibration_samples": count, "calibration_source": source}
    if "eval_context" in splits.protocol:
        batches.protocol["calibration_length"] = splits.protocol["eval_context"]
    return batches


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of every parameter and buffer of ``model`` (what :func:`changed_weights` compares with)."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict(keep_vars=False).items()}


def changed_weights(before: dict[str, torch.Tensor], model: nn.Module, masks: dict[str, torch.Tensor],
                    may_zero: bool, reconstructs: bool) -> str | None:
    """What the strategy changed that it may not, in one line, or ``None``: any tensor that is not a prunable
    weight (``masks`` names those); a pruned entry set to anything but zero, or set to zero without
    ``may_zero`` (a ``reconstructs`` strategy may write pruned entries: the masks zero them next); a kept entry,
    unless ``reconstructs``."""
    canonical = {id(p): n for n, p in model.named_parameters()}  # a tied weight under each of its names
    alias = {n: canonical[id(p)] for n, p in model.named_parameters(remove_duplicate=False)}
    for name, now in model.state_dict().items():
        old = before[name]
        now = now.detach().to("cpu")
        name = alias.get(name, name)
        if now.shape != old.shape:
            return f"changed the shape of {name}"
        if name not in masks:
            if not torch.equal(now, old):
                return f"changed {name}, which is not a prunable weight (only prunable weights may change)"
            continue
        moved = now != old
        if not moved.any():
            continue
        keep = masks[name].to("cpu")
        if (moved & keep).any() and not reconstructs:
            count = int((moved & keep).sum())
            return (f"changed {count:,} weights it keeps in {name} without declaring reconstructs=True in its spec "
                    "(a strategy returns masks; only a reconstructing strategy may update kept weights)")
        pruned_moved = moved & ~keep  # a reconstructing strategy may write them: the masks zero them next
        if pruned_moved.any() and not reconstructs and (not may_zero or (now[pruned_moved] != 0).any()):
            return f"changed weights it prunes in {name} to values other than the zero the mask gives"
    return None
