"""2:4 magnitude pruning: the pattern runs along each layer's reduction dimension (input channels at each
kernel position, as sparse tensor cores need it) for linear, conv, grouped, depthwise and transposed conv
weights; targets from the pattern's compression up are hit exactly, the kept weights are the largest, zeros
never break the pattern, targets the pattern cannot keep are refused, and semi-structured tensors accept the
result."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from shrinkbench.errors import CompressionError
from shrinkbench.masking import apply_masks
from shrinkbench.modules import owner_module
from shrinkbench.pruning import count_parameters, make_context, weights_to_keep
from shrinkbench.testing import check_n_m, check_strategy
from shrinkbench_magnitude.n_m import is_n_m, nm_magnitude, nm_pattern, reduction_layout


def reference_groups(module: nn.Module, m: int = 4) -> list[list[tuple[int, ...]]]:
    """Every group of ``m`` weight indices along the reduction dimension, enumerated loop by loop (the
    definition the strategy must follow, written without its reshapes)."""
    shape = tuple(module.weight.shape)
    kernel = list(itertools.product(*(range(k) for k in shape[2:])))
    rows: list[list[tuple[int, ...]]] = []
    if isinstance(module, nn.modules.conv._ConvTransposeNd):  # (I, O/g, *k): along each group's I/g
        per_group = shape[0] // module.groups
        for g, o, k in itertools.product(range(module.groups), range(shape[1]), kernel):
            rows.append([(g * per_group + i, o, *k) for i in range(per_group)])
    else:  # (O, I/g, *k) or (out, in): along dim 1
        for o, k in itertools.product(range(shape[0]), kernel):
            rows.append([(o, i, *k) for i in range(shape[1])])
    return [row[s:s + m] for row in rows for s in range(0, len(row), m)]


def reference_pattern(module: nn.Module, n: int = 2, m: int = 4) -> torch.Tensor:
    """The ``n`` largest |w| of every reference group (ties: the lower input channel)."""
    weight = module.weight.detach().abs()
    mask = torch.zeros_like(weight, dtype=torch.bool)
    for group in reference_groups(module, m):
        ranked = sorted(group, key=lambda idx: (-float(weight[idx]), idx))
        for idx in ranked[:n]:
            mask[idx] = True
    return mask


def kept_per_group(mask: torch.Tensor, module: nn.Module) -> list[int]:
    return [sum(bool(mask[idx]) for idx in group) for group in reference_groups(module)]


LAYERS = {
    "linear, partial group": lambda: nn.Linear(10, 3),
    "conv, 3 input channels": lambda: nn.Conv2d(3, 6, 3),
    "conv": lambda: nn.Conv2d(8, 4, (3, 2)),
    "grouped conv, 6 per group": lambda: nn.Conv2d(12, 4, 3, groups=2),
    "depthwise conv": lambda: nn.Conv2d(8, 8, 3, groups=8),
    "conv1d": lambda: nn.Conv1d(9, 4, 3),
    "transposed conv": lambda: nn.ConvTranspose2d(8, 3, 2),
    "grouped transposed conv, 10 per group": lambda: nn.ConvTranspose2d(20, 6, 2, stride=2, groups=2),
    "transposed conv1d, 3 groups": lambda: nn.ConvTranspose1d(15, 6, 3, groups=3),
}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_pattern_follows_the_reduction_dimension_of_every_layer_type(layer):
    torch.manual_seed(0)
    module = LAYERS[layer]()
    with torch.no_grad():
        module.weight.copy_(torch.randint(-3, 4, module.weight.shape).float())  # many ties and zeros
    layout = reduction_layout(module)
    mask = nm_pattern(module.weight, **layout)
    assert torch.equal(mask, reference_pattern(module))
    assert is_n_m(mask, **layout) and max(kept_per_group(mask, module)) <= 2
    longest = max(reference_groups(module), key=len)
    overfull = torch.zeros_like(mask)
    for idx in longest[:3]:  # 3 kept in one group (all of it if it is shorter)
        overfull[idx] = True
    assert is_n_m(overfull, **layout) == (len(longest) <= 2)


def test_pattern_keeps_the_two_largest_of_every_four_with_ties_to_the_lower_index():
    weight = torch.tensor([[1.0, -4.0, 3.0, 2.0, 5.0, 5.0, 5.0, 0.5, 9.0, -8.0]])  # a short last group of 2
    assert nm_pattern(weight).tolist() == [[False, True, True, False, True, True, False, False, True, True]]
    conv = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    mask = nm_pattern(conv)  # 3 input channels: one partial group at each of the 6 x 9 (output, position)
    assert mask.shape == conv.shape and is_n_m(mask) and int(mask.sum()) == 6 * 9 * 2


def test_conv_groups_run_along_input_channels_at_each_kernel_position():
    # weight (1, 4, 1, 2): flattened (kw innermost) the groups would be {c0, c1} x {kw0, kw1} and {c2, c3} x
    # {kw0, kw1}, keeping all four kw=1 weights -- 4 of 4 input channels at kernel position (0, 1)
    weight = torch.tensor([[1.0, 8.0], [2.0, 7.0], [3.0, 6.0], [4.0, 5.0]]).view(4, 1, 2).unsqueeze(0)
    mask = nm_pattern(weight)
    assert mask[0, :, 0, 0].tolist() == [False, False, True, True]  # the 2 largest of channels at kw = 0
    assert mask[0, :, 0, 1].tolist() == [True, True, False, False]  # and at kw = 1
    flattened = torch.zeros_like(mask)
    flattened[0, :, 0, 1] = True
    assert not is_n_m(flattened)

    model = nn.Sequential(nn.Conv2d(4, 1, (1, 2), bias=False), nn.Flatten(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(weight)
    model.shrinkbench_classifier = "2"
    ctx = make_context(model, _pattern_compression(model))
    assert weights_to_keep(model, ctx.prunable, ctx.compression) == 4
    assert torch.equal(nm_magnitude(ctx)["0.weight"], mask)


def test_transposed_conv_groups_along_dim_0_within_each_conv_group():
    torch.manual_seed(0)
    model = nn.Sequential(nn.ConvTranspose2d(10, 4, 2, stride=2, groups=2), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(1, 10, 2, 2))
    model.shrinkbench_classifier = "2"
    up = model[0]  # weight (10, 2, 2, 2): 5 input channels per group, groups {0-3}, {4}, {5-8}, {9}
    mask = nm_magnitude(make_context(model, _pattern_compression(model)))["0.weight"]  # keeps the pattern
    assert torch.equal(mask, reference_pattern(up))
    assert kept_per_group(mask, up) == [2, 1] * 16  # 2 x 2 outputs x 4 positions
    assert is_n_m(mask, transposed=True, groups=2)
    assert not is_n_m(mask, transposed=True)  # without the conv groups a group of 4 would span channels 4-7


def test_depthwise_and_grouped_convs_group_their_own_channels():
    model = nn.Sequential(nn.Conv2d(6, 6, 3, groups=6), nn.Conv2d(6, 4, 1, groups=2), nn.Flatten(),
                          nn.LazyLinear(2))
    model(torch.randn(1, 6, 5, 5))
    model.shrinkbench_classifier = "3"
    patterns = {name: nm_pattern(w, **reduction_layout(owner_module(model, name)))
                for name, w in make_context(model, 1).prunable.items()}
    assert patterns["0.weight"].all()  # one input channel per group: nothing to drop
    assert patterns["1.weight"].sum(1).eq(2).all()  # 3 channels per group: keeps 2
    masks = nm_magnitude(make_context(model, 1.2))
    assert is_n_m(masks["1.weight"]) and sum(int(m.sum()) for m in masks.values()) == weights_to_keep(
        model, make_context(model, 1).prunable, 1.2)


def net() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    model.shrinkbench_classifier = "5"
    return model


def _pattern_compression(model: nn.Module) -> float:
    ctx = make_context(model, 1)
    allowed = sum(int(nm_pattern(w, **reduction_layout(owner_module(model, name))).sum())
                  for name, w in ctx.prunable.items())
    total = count_parameters(model)
    return total / (total - sum(w.numel() for w in ctx.prunable.values()) + allowed)


@pytest.mark.parametrize("factor", [1, 1.02, 1.1])
def test_zero_ties_never_break_the_pattern(factor):
    model = net()
    with torch.no_grad():
        for w in make_context(model, 1).prunable.values():
            w[torch.rand(w.shape, generator=torch.Generator().manual_seed(1)) < 0.6] = 0  # an earlier round's
    compression = _pattern_compression(model) * factor
    ctx = make_context(model, compression)
    masks = nm_magnitude(ctx)
    keep = weights_to_keep(model, ctx.prunable, compression)
    assert sum(int(m.sum()) for m in masks.values()) == keep
    nonzero_in_pattern = 0
    for name, w in ctx.prunable.items():
        layout = reduction_layout(owner_module(model, name))
        assert is_n_m(masks[name], **layout), name
        live = nm_pattern(w, **layout) & (w != 0)
        nonzero_in_pattern += int(live.sum())
        assert masks[name][live].all(), f"{name}: a nonzero weight of the pattern dropped, zeros kept"
    assert keep > nonzero_in_pattern  # the target keeps zeros: the case that once reached out of the pattern


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


def test_passes_the_kits_n_m_check(shrinkbench_registry):
    achieved = check_n_m("2:4-magnitude", tolerance=0)
    assert set(achieved) == {"cnn", "mlp"} and all(len(by_target) == 4 for by_target in achieved.values())
    assert all(a == pytest.approx(t, rel=1e-3) for targets in achieved.values() for t, a in targets.items())


def test_the_kits_n_m_check_names_the_parameter_and_group(shrinkbench_registry):
    with pytest.raises(AssertionError, match=r"mask of 'conv\.weight' \(Conv2d.* keeps 3 of a group of 3"):
        check_n_m("global-magnitude")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_semi_structured_sparse_tensors_accept_the_pruned_linear_weights(dtype):
    convert = getattr(torch.sparse, "to_sparse_semi_structured", None)
    if convert is None:
        pytest.skip(f"torch {torch.__version__} has no torch.sparse.to_sparse_semi_structured")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    model.shrinkbench_classifier = "4"
    apply_masks(model, nm_magnitude(make_context(model, 2))).remove()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and torch.cuda.get_device_capability() < (8, 0):
        pytest.skip(f"semi-structured sparse kernels need compute capability 8.0+, {torch.cuda.get_device_name()} "
                    f"has {torch.cuda.get_device_capability()}")
    for layer in (model[0], model[2]):
        weight = layer.weight.detach().to(device, dtype)
        try:
            sparse = convert(weight)
        except (RuntimeError, NotImplementedError) as exc:
            pytest.skip(f"torch {torch.__version__} cannot build a {dtype} semi-structured tensor on "
                        f"{device}: {type(exc).__name__}: {exc}")
        assert torch.equal(sparse.to_dense(), weight)  # the compressed form lost no weight: 2 of 4 along `in`
        x = torch.randn(64, weight.shape[1], device=device, dtype=dtype)
        torch.testing.assert_close(nn.functional.linear(x, sparse), nn.functional.linear(x, weight),
                                   rtol=2e-2, atol=2e-2)
