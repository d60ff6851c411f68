"""MACs counted from the operations that execute, on tiny modules whose counts are known by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shrinkbench.metrics import flops
from shrinkbench.metrics.macs import count_ops
from shrinkbench.testing import check_metric

E, HEADS, L = 8, 2, 5  # embedding width, heads, tokens


class SelfAttention(nn.Module):
    def __init__(self, need_weights: bool = True) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(E, HEADS, batch_first=True)
        self.need_weights = need_weights

    def forward(self, x):
        return self.attn(x, x, x, need_weights=self.need_weights)[0]


class CrossAttention(nn.Module):
    """The first token queries the other four (packed in_proj_weight, read as query / key-value slices)."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(E, HEADS, batch_first=True)

    def forward(self, x):
        context = x[:, 1:]
        return self.attn(x[:, :1], context, context)[0]


def zero_first_rows(weight: torch.Tensor, rows: int) -> None:
    with torch.no_grad():
        weight[:rows] = 0


def attention_by_hand(queries: int, keys: int) -> int:
    return 2 * queries * keys * E  # scores q @ k^T and values p @ v over all heads: (L x S x E/heads) x heads


@pytest.mark.parametrize("need_weights", [True, False])  # bmm path, fused scaled-dot-product path
def test_self_attention_counts_projections_by_density_and_attention_dense(need_weights):
    model = SelfAttention(need_weights)
    zero_first_rows(model.attn.in_proj_weight, 6)  # 6 of 24 rows: density 3/4
    zero_first_rows(model.attn.out_proj.weight, 4)  # 4 of 8 rows: density 1/2
    in_proj, out_proj, attention = L * E * 3 * E, L * E * E, attention_by_hand(L, L)  # 960, 320, 400
    counts = flops.count(model, torch.randn(1, L, E))
    assert counts["macs"] == in_proj + out_proj + attention == 1680
    assert counts["nonzero_macs"] == pytest.approx(in_proj * 3 / 4 + out_proj / 2 + attention)
    assert counts["flops"] == 2 * counts["macs"]
    assert flops.torch_flop_count(model, torch.randn(1, L, E)) == 2 * 1680


def test_cross_attention_reads_each_slice_of_in_proj_at_its_own_density():
    model = CrossAttention()
    zero_first_rows(model.attn.in_proj_weight, 8)  # the whole query block, nothing of key/value
    ops = count_ops(model, torch.randn(1, L, E))
    weights = [(op.weight, op.macs, op.density) for op in ops if op.weight]
    assert weights == [("attn.in_proj_weight", 1 * E * E, 0.0), ("attn.in_proj_weight", 4 * E * 2 * E, 1.0),
                       ("attn.out_proj.weight", 1 * E * E, 1.0)]
    assert sum(op.macs for op in ops if op.weight is None) == attention_by_hand(1, 4)


def test_frozen_attention_under_no_grad_takes_the_counted_path():
    """Frozen weights under no_grad / inference_mode would take MHA's fused path: the count must not change."""
    model = SelfAttention().requires_grad_(False)
    x = torch.randn(1, L, E)
    with torch.no_grad():
        assert flops.count(model, x)["macs"] == 1680
        assert flops.torch_flop_count(model, x) == 2 * 1680
    with torch.inference_mode():
        assert flops.count(model, torch.randn(1, L, E))["macs"] == 1680
    assert not any(p.requires_grad for p in model.parameters())


def test_functional_linear_is_attributed_to_its_weight():
    class FunctionalLinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(6, 4))

        def forward(self, x):
            return nn.functional.linear(x, self.w)

    model = FunctionalLinear()
    with torch.no_grad():
        model.w[:, 0] = 0  # 6 of 24 entries
    counts = flops.count(model, torch.randn(3, 4))
    assert counts["macs"] == 3 * 4 * 6
    assert counts["nonzero_macs"] == pytest.approx(72 * 18 / 24)
    assert [op.weight for op in count_ops(model, torch.randn(3, 4))] == ["w"]


def test_transposed_convolution_counts_every_input_element_times_its_filter():
    model = nn.Sequential(nn.ConvTranspose2d(2, 3, 3, stride=2))
    with torch.no_grad():
        model[0].weight[0] = 0  # input channel 0's filters: half of the weight
    counts = flops.count(model, torch.randn(1, 2, 4, 4))
    assert counts["macs"] == (2 * 4 * 4) * 3 * 3 * 3  # 864: each input element meets 3 outputs x 3x3 taps
    assert counts["nonzero_macs"] == pytest.approx(864 / 2)
    assert flops.torch_flop_count(model, torch.randn(1, 2, 4, 4)) == 2 * 864


def test_norms_and_activations_are_not_macs():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.GELU(), nn.Flatten(), nn.LayerNorm(144),
                          nn.Linear(144, 2))
    assert flops.count(model, torch.randn(1, 1, 8, 8))["macs"] == 6 * 6 * 4 * 9 + 144 * 2


class AttentionClassifier(SelfAttention):
    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Linear(E, 3)

    def forward(self, x):
        return self.classifier(super().forward(x).mean(1))


def test_flops_metric_on_attention_leaves_a_mixed_mode_model_unchanged(toy_registry):
    values = check_metric(toy_registry.metric("flops"), registry=toy_registry, model=AttentionClassifier(),
                          example_input=torch.randn(1, L, E))
    assert values["macs"] == 1680 + E * 3
    assert values["speedup"] > 1  # pruned to compression 4, attention projections included
