"""MACs of real models whose weights are transformed before use (timm's weight standardisation) and of
torchvision's deformable convolution: counted, charged to their parameters, no note."""

from __future__ import annotations

import warnings

import pytest
import timm
import torch
import torchvision
from timm.layers import ScaledStdConv2d, StdConv2d
from torch import nn
from torch.nn import functional as F

from shrinkbench import MetricNote
from shrinkbench.metrics import MetricContext, flops
from shrinkbench.metrics.macs import count_macs
from shrinkbench.pruning import prunable_parameters

X = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def prune_half_at_random(model: nn.Module) -> None:
    """Zero a random half of every prunable weight (standardised convolutions' included)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in prunable_parameters(model, include_classifier=True).values():
            flat = parameter.view(-1)
            flat[torch.randperm(flat.numel(), generator=generator)[: flat.numel() // 2]] = 0


def executed_weight(module: nn.Module) -> torch.Tensor:
    """The filter bank a (standardised) convolution actually runs with, as timm computes it."""
    if not isinstance(module, (StdConv2d, ScaledStdConv2d)):
        return module.weight
    gain = (module.gain * module.scale).view(-1) if isinstance(module, ScaledStdConv2d) else None
    flat = module.weight.reshape(1, module.out_channels, -1)
    return F.batch_norm(flat, None, None, weight=gain, training=True, momentum=0.0, eps=module.eps
                        ).reshape_as(module.weight)


def density(weight: torch.Tensor) -> float:
    return int(weight.count_nonzero()) / weight.numel()


@pytest.mark.parametrize(("name", "standardised"), [("resnetv2_50x1_bit", StdConv2d),
                                                    ("nf_regnet_b0", ScaledStdConv2d)])
def test_standardised_convolutions_are_charged_to_their_weight_at_the_density_they_run_with(name, standardised):
    model = timm.create_model(name, num_classes=10)
    prune_half_at_random(model)
    counted = count_macs(model, X)
    assert counted.notes() == []
    assert sum(op.macs for op in counted.ops) == flops.torch_flop_count(model, X) / 2
    by_weight = {f"{n}.weight": m for n, m in model.named_modules() if hasattr(m, "weight")}
    assert {op.weight for op in counted.ops} <= set(by_weight)  # every operation reads a parameter
    with torch.no_grad():
        executed = {op.weight: density(executed_weight(by_weight[op.weight])) for op in counted.ops}
    assert [op.density for op in counted.ops] == pytest.approx([executed[op.weight] for op in counted.ops])
    standardised_ops = [op for op in counted.ops if isinstance(by_weight[op.weight], standardised)]
    assert len(standardised_ops) > 10
    # standardisation re-centres every filter: the zeros of a 50%-pruned parameter do not survive it (a zero
    # gain -- nf_regnet's last convolution of each block starts at 0 -- zeroes the whole filter bank)
    assert {op.density for op in standardised_ops} <= {0.0, 1.0}
    assert sum(op.density == 1.0 for op in standardised_ops) > 10
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetricNote)
        values = flops.measure(MetricContext(model, X))
    assert values["nonzero_macs"] == pytest.approx(sum(op.macs * executed[op.weight] for op in counted.ops))


def test_deformable_convolution_is_counted_like_the_convolution_it_generalises():
    class Deformable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torchvision.ops.DeformConv2d(2, 4, 3)

        def forward(self, x):
            return self.conv(x, torch.zeros(x.shape[0], 2 * 3 * 3, x.shape[2] - 2, x.shape[3] - 2))

    model = Deformable()
    with torch.no_grad():
        model.conv.weight[:2] = 0
    x = torch.randn(1, 2, 6, 6)
    counted = count_macs(model, x)
    assert counted.notes() == []
    assert [(op.op, op.weight, op.density) for op in counted.ops] == [("torchvision.deform_conv2d", "conv.weight", 0.5)]
    assert counted.ops[0].macs == flops.count(nn.Conv2d(2, 4, 3), x)["macs"] == (4 * 4 * 4) * (2 * 3 * 3)
