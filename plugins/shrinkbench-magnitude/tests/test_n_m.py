"""2:4 magnitude pruning: the pattern holds in every group, targets from the pattern's compression up are hit
exactly, the kept weights are the largest, and targets the pattern cannot keep are refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shrinkbench.errors import CompressionError
from shrinkbench.pruning import make_context, weights_to_keep
from shrinkbench.testing import check_strategy
from shrinkbench_magnitude.n_m import is_n_m, nm_magnitude, nm_pattern


def test_pattern_keeps_the_two_largest_of_every_four_with_ties_to_the_lower_index():
    weight = torch.tensor([[1.0, -4.0, 3.0, 2.0, 5.0, 5.0, 5.0, 0.5, 9.0, -8.0]])  # a short last group of 2
    assert nm_pattern(weight).tolist() == [[False, True, True, False, True, True, False, False, True, True]]
    conv = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(0))  # groups across channels x kernel
    mask = nm_pattern(conv)
    assert mask.shape == conv.shape and is_n_m(mask) and int(mask.sum()) == 6 * (13 + 1)  # 27 = 6 groups of 4 + 3


def net() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    model.shrinkbench_classifier = "5"
    return model


@pytest.mark.parametrize("compression", [2.5, 4, 8, 20])
def test_targets_beyond_the_pattern_are_exact_and_keep_the_pattern(compression):
    model = net()
    ctx = make_context(model, compression)
    masks = nm_magnitude(ctx)
    assert all(is_n_m(mask) for mask in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == weights_to_keep(model, ctx.prunable, compression)
    kept = torch.cat([w.detach().abs()[masks[n]] for n, w in ctx.prunable.items()])
    dropped = torch.cat([w.detach().abs()[nm_pattern(w) & ~masks[n]] for n, w in ctx.prunable.items()])
    assert dropped.numel() == 0 or kept.min() >= dropped.max()  # the largest within the pattern


def test_compression_one_keeps_all_and_below_the_pattern_is_refused():
    model = net()
    assert all(m.all() for m in nm_magnitude(make_context(model, 1)).values())
    with pytest.raises(CompressionError, match=r"2:4 sparsity keeps at most .* compressions start at 1\.9"):
        nm_magnitude(make_context(model, 1.5))


def test_conforms_on_the_kit_model_from_the_pattern_up(shrinkbench_registry):
    achieved = check_strategy("2:4-magnitude", compressions=(1, 2, 4, 8, 16, 32, 64), tolerance=0)
    assert achieved[4] == pytest.approx(4, rel=1e-3)
