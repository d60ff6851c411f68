"""Transformers are first-class: attention projections are pruned, counted and trained like any linear weight.

Small images (32 px) keep every model fast; MACs follow the real shapes, so the rule is the same at 224 px.
"""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision

from shrinkbench.masking import apply_masks
from shrinkbench.metrics import flops
from shrinkbench.metrics.macs import count_macs
from shrinkbench.pruning import make_context, masks_from_scores, prunable_parameters
from shrinkbench_cli.model_check import train

X = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def torchvision_model(name: str, **kwargs) -> torch.nn.Module:
    return torchvision.models.get_model(name, num_classes=10, **kwargs)


def vit_b_16() -> torch.nn.Module:
    return torchvision_model("vit_b_16", image_size=32)


def magnitude_masks(model: torch.nn.Module, compression: float) -> dict:
    scores = {name: weight.detach().abs() for name, weight in prunable_parameters(model).items()}
    return masks_from_scores(scores, model, compression)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("build", [
    lambda: torchvision_model("resnet50"),
    vit_b_16,
    lambda: torchvision_model("swin_t"),
    lambda: torchvision_model("convnext_tiny"),
    lambda: torchvision_model("mobilenet_v3_large"),
    lambda: timm.create_model("vit_small_patch16_224", num_classes=10, img_size=32),
], ids=["resnet50", "vit_b_16", "swin_t", "convnext_tiny", "mobilenet_v3_large", "timm-vit_small"])
def test_macs_agree_with_flop_counter_mode(build):
    model = build()
    counted = count_macs(model, X)
    assert counted.notes() == []  # nothing executed was left uncounted, nor charged dense
    assert sum(op.macs for op in counted.ops) == pytest.approx(flops.torch_flop_count(model, X) / 2, rel=0.01)


def density(weight: torch.Tensor) -> float:
    return int(weight.count_nonzero()) / weight.numel()


def vit_nonzero_macs_by_hand(model: torch.nn.Module, tokens: int) -> float:
    """Patch convolution, then per layer: in_proj, attention (dense), out_proj, MLP; the head reads one token."""
    width, conv = model.hidden_dim, model.conv_proj
    total = (tokens - 1) * width * conv.weight[0].numel() * density(conv.weight)
    for layer in model.encoder.layers:
        attention, fc1, fc2 = layer.self_attention, layer.mlp[0], layer.mlp[3]
        total += tokens * width * 3 * width * density(attention.in_proj_weight)
        total += 2 * tokens * tokens * width
        total += tokens * width * width * density(attention.out_proj.weight)
        total += tokens * width * fc1.out_features * density(fc1.weight)
        total += tokens * fc2.in_features * width * density(fc2.weight)
    return total + width * 10 * density(model.heads.head.weight)


def test_pruned_vit_nonzero_macs_match_a_hand_count_and_reach_16x():
    model = vit_b_16()
    assert "encoder.layers.encoder_layer_0.self_attention.in_proj_weight" in prunable_parameters(model)
    make_context(model, 16)  # out of reach (3.99x at most) while in_proj_weight was not prunable
    apply_masks(model, magnitude_masks(model, 8)).remove()
    counts = flops.count(model, X)
    assert counts["nonzero_macs"] == pytest.approx(vit_nonzero_macs_by_hand(model, tokens=2 * 2 + 1), rel=1e-9)
    assert counts["speedup"] > 4


def small_vit() -> torch.nn.Module:
    """torchvision's ViT architecture (the class of vit_b_16) at a width that trains in a second."""
    from torchvision.models.vision_transformer import VisionTransformer

    return VisionTransformer(32, 8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10)


def small_swin() -> torch.nn.Module:
    """torchvision's Swin architecture (the class of swin_t): shifted windows, two stages."""
    from torchvision.models.swin_transformer import SwinTransformer

    return SwinTransformer([4, 4], 32, [2, 2], [2, 4], [4, 4], num_classes=10)


@pytest.mark.parametrize("build", [small_vit, small_swin], ids=["vit", "swin"])
def test_pruned_transformers_train_20_masked_steps_with_pruned_entries_exactly_zero(build):
    model = build()
    masks = magnitude_masks(model, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    apply_masks(model, masks).enforce(optimizer)
    generator = torch.Generator().manual_seed(1)
    batches = [(torch.randn(2, 3, 32, 32, generator=generator), torch.randint(10, (2,), generator=generator))
               for _ in range(20)]
    assert train(model, optimizer, batches) == (None, 2)  # the loss stayed finite, every step on both images
    params = dict(model.named_parameters())
    assert any("in_proj_weight" in name or "qkv" in name for name in masks)
    for name, mask in masks.items():
        assert torch.count_nonzero(params[name].detach()[~mask]) == 0, name
