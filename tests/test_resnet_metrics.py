"""Metrics on torchvision ResNet-18 at 224x224, where the counts are well known."""

from __future__ import annotations

import pytest
import torch
import torchvision

from shrinkbench.metrics import MetricContext, flops, size
from shrinkbench.pruning import prunable_parameters


@pytest.fixture(scope="module")
def resnet18():
    return torchvision.models.resnet18()


def test_dense_macs_and_params(resnet18):
    x = torch.zeros(1, 3, 224, 224)
    counts = flops.count(resnet18, x)
    # convolutions and the classifier only: thop's 1,824,033,792 also counted batch norm as 4 "MACs" an element
    assert counts["macs"] == 1_814_073_344
    assert counts["flops"] == 2 * counts["macs"]
    assert flops.torch_flop_count(resnet18, x) / 2 == counts["macs"]
    assert size.measure(MetricContext(resnet18, x))["params"] == 11_689_512


def test_nonzero_macs_halve_when_every_layer_is_half_pruned():
    model = torchvision.models.resnet18()
    with torch.no_grad():
        for weight in prunable_parameters(model, include_classifier=True).values():
            weight.view(-1)[: weight.numel() // 2] = 0
    counts = flops.count(model, torch.zeros(1, 3, 224, 224))
    # every multiply-accumulate reads a half-pruned weight (batch norm is not counted); the 1e-6 is the few
    # initial weights that are exactly zero in the kept half
    assert counts["nonzero_macs"] == pytest.approx(counts["macs"] / 2, rel=1e-6)
    assert counts["speedup"] == pytest.approx(2, rel=1e-6)
