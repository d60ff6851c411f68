"""Masks keep pruned weights exactly zero through training and fail loudly when they do not fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shrinkbench.errors import MaskError
from shrinkbench.masking import apply_masks, masks_from_zeros, validate_masks
from shrinkbench.pruning import make_context


def model_and_masks(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 32), nn.ReLU(), nn.Linear(32, 5))
    ctx = make_context(model, 4)
    return model, ctx.masks({n: p.abs() for n, p in ctx.prunable.items()})


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_pruned_weights_stay_zero_for_20_steps(optimizer):
    model, masks = model_and_masks()
    masked = apply_masks(model, masks)
    params = dict(model.named_parameters())
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    masked.enforce(opt)
    before = {n: params[n].detach().clone() for n in masks}
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        x, y = torch.randn(16, 3, 8, 8, generator=g), torch.randint(0, 5, (16,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for name, mask in masks.items():
        assert torch.count_nonzero(params[name][~mask]) == 0
        assert not torch.equal(params[name][mask], before[name][mask])  # kept weights did train
    plain = masked.remove()
    assert all(torch.count_nonzero(dict(plain.named_parameters())[n][~m]) == 0 for n, m in masks.items())


def test_kept_weights_match_gradient_masking_bit_for_bit():
    """The step post-hook gives the same kept weights as masking gradients (elementwise optimizers)."""
    runs = []
    for mode in ("post-hook", "grad-mask"):
        model, masks = model_and_masks()
        params = dict(model.named_parameters())
        with torch.no_grad():
            for n, m in masks.items():
                params[n].mul_(m)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        if mode == "post-hook":
            apply_masks(model, masks).enforce(opt)
        else:
            for n, m in masks.items():
                params[n].register_hook(lambda grad, m=m: grad * m)
        g = torch.Generator().manual_seed(1)
        for _ in range(10):
            x, y = torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 5, (8,), generator=g)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        runs.append({n: p.detach().clone() for n, p in model.named_parameters()})
    for name in runs[0]:
        assert torch.equal(runs[0][name], runs[1][name]), name


def test_multihead_attention_out_proj_stays_zero_over_many_steps():
    torch.manual_seed(0)
    attn = nn.MultiheadAttention(16, 2, batch_first=True)
    mask = torch.rand_like(attn.out_proj.weight) > 0.5
    masked = apply_masks(attn, {"out_proj.weight": mask})
    opt = torch.optim.SGD(attn.parameters(), lr=0.1, momentum=0.9)
    masked.enforce(opt)
    for _ in range(10):
        x = torch.randn(4, 5, 16)
        opt.zero_grad()
        attn(x, x, x)[0].pow(2).mean().backward()
        opt.step()
    assert torch.count_nonzero(attn.out_proj.weight[~mask]) == 0


def test_validate_masks_names_the_problem():
    model, masks = model_and_masks()
    name = next(iter(masks))
    with pytest.raises(MaskError, match="not a parameter"):
        validate_masks(model, {"nope.weight": masks[name]})
    with pytest.raises(MaskError, match=f"{name}.*dtype"):
        validate_masks(model, {name: masks[name].float()}, source="strategy 'x'")
    with pytest.raises(MaskError, match=f"strategy 'x'.*{name}.*shape"):
        validate_masks(model, {name: masks[name][:1]}, source="strategy 'x'")
    with pytest.raises(MaskError, match="no mask for prunable parameter"):
        validate_masks(model, {}, expected=set(masks))


def test_masks_from_zeros_round_trip():
    model, masks = model_and_masks()
    apply_masks(model, masks).remove()
    recovered = masks_from_zeros(model, list(masks))
    for name, mask in masks.items():
        assert torch.equal(recovered[name], mask)


def test_large_models_keep_one_byte_per_masked_weight_and_the_same_weights(monkeypatch):
    """Billion-parameter models run out of memory with a float multiplier per weight beside the masks: above
    the limit the multipliers are boolean, and training gives the same weights either way."""
    from shrinkbench import masking

    def trained(limit: int):
        monkeypatch.setattr(masking, "FLOAT_FACTORS_LIMIT", limit)
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
        masks = {"0.weight": torch.rand(16, 16) > 0.5, "2.weight": torch.rand(4, 16) > 0.5}
        masked = masking.apply_masks(model, masks)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        masked.enforce(optimizer)
        for _ in range(5):
            optimizer.zero_grad()
            model(torch.randn(8, 16)).sum().backward()
            optimizer.step()
        return masked, masks, model

    compact, masks, small = trained(10)
    wide, _, big = trained(10**9)
    assert {f.dtype for f in compact._factors} == {torch.bool} and {f.dtype for f in wide._factors} == {torch.float32}
    assert all(torch.equal(compact.masks[n], masks[n]) for n in masks)
    assert all(torch.equal(a, b) for a, b in zip(small.state_dict().values(), big.state_dict().values(), strict=True))
