"""Thresholds hit the target compression over the whole model, exactly (ties broken deterministically)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shrinkbench.errors import CompressionError
from shrinkbench.modules import find_classifier
from shrinkbench.pruning import (
    count_parameters,
    layer_keep_counts,
    make_context,
    masks_from_scores,
    prunable_parameters,
    weights_to_keep,
)


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 64, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        nn.Linear(1024, 512), nn.ReLU(), nn.Linear(512, 2),
    )


def achieved(model: nn.Module, masks: dict) -> float:
    prunable = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    return count_parameters(model) / (count_parameters(model) - prunable + kept)


def test_classifier_is_last_linear_and_excluded():
    model = conv_net()
    assert find_classifier(model) == "8"
    names = list(prunable_parameters(model))
    assert names == ["0.weight", "2.weight", "6.weight"]
    assert "8.weight" in prunable_parameters(model, include_classifier=True)


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("compression", [1, 2, 4, 10, 32, 100])
def test_masks_hit_target_compression_exactly(scope, compression):
    model = conv_net()
    ctx = make_context(model, compression)
    masks = masks_from_scores({n: p.abs() for n, p in ctx.prunable.items()}, model, compression, scope)
    total = count_parameters(model)
    kept_prunable = sum(int(m.sum()) for m in masks.values())
    assert kept_prunable == weights_to_keep(model, ctx.prunable, compression)
    # within one weight of total / compression
    assert abs((total - sum(m.numel() for m in masks.values()) + kept_prunable) - total / compression) <= 1
    assert achieved(model, masks) == pytest.approx(compression, rel=1e-3)


def test_global_keeps_largest_scores_and_layer_keeps_same_fraction():
    model = conv_net()
    scores = {n: p.detach().abs() for n, p in prunable_parameters(model).items()}
    masks = masks_from_scores(scores, model, 4, "global")
    kept = torch.cat([s[m] for s, m in zip(scores.values(), masks.values(), strict=True)])
    dropped = torch.cat([s[~m] for s, m in zip(scores.values(), masks.values(), strict=True)])
    assert kept.min() >= dropped.max()
    layer = masks_from_scores(scores, model, 4, "layer")
    fractions = [float(m.float().mean()) for m in layer.values()]
    assert max(fractions) - min(fractions) < 0.01


def test_ties_are_broken_by_index_and_count_is_exact():
    model = nn.Sequential(nn.Linear(10, 10, bias=False), nn.Linear(10, 2, bias=False))
    scores = {"0.weight": torch.ones(10, 10)}  # all tied
    masks = masks_from_scores(scores, model, 2, "global")
    keep = weights_to_keep(model, scores, 2)
    assert int(masks["0.weight"].sum()) == keep == 40
    assert masks["0.weight"].flatten()[:keep].all() and not masks["0.weight"].flatten()[keep:].any()


def test_layer_keep_counts_sum_exactly():
    counts = layer_keep_counts({"a": 7, "b": 13, "c": 101}, 50)
    assert sum(counts.values()) == 50
    assert all(0 <= counts[n] <= s for n, s in {"a": 7, "b": 13, "c": 101}.items())


@pytest.mark.parametrize("bad", [0.5, 0, -2, float("nan"), float("inf")])
def test_compression_below_one_is_refused(bad):
    with pytest.raises(CompressionError, match="compression"):
        make_context(conv_net(), bad)


def test_unreachable_compression_is_refused():
    model = conv_net()  # the classifier and biases stay dense: at most ~330x
    with pytest.raises(CompressionError, match="out of reach"):
        make_context(model, 10_000)


def test_sampled_selection_on_large_tensors_is_exact_with_ties():
    """Above ~1M scores the threshold is bracketed from a sample first; the kept set must not change."""
    from shrinkbench.pruning import global_masks

    g = torch.Generator().manual_seed(0)
    scores = {"a": torch.randint(0, 1000, (1_500_000,), generator=g).float(),  # many ties
              "b": torch.rand(700_000, generator=g) * 1000}
    keep = 654_321
    masks = global_masks(scores, keep)
    assert sum(int(m.sum()) for m in masks.values()) == keep
    flat = torch.cat([scores["a"], scores["b"]])
    threshold = torch.kthvalue(flat, flat.numel() - keep).values
    kept = torch.cat([masks["a"], masks["b"]])
    assert bool((flat[kept] >= threshold).all()) and bool((flat[~kept] <= threshold).all())
    tied = (flat == threshold).nonzero().flatten()
    kept_ties = kept[tied]
    assert bool(kept_ties[: int(kept_ties.sum())].all())  # ties kept lowest index first
