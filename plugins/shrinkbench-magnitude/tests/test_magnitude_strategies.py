"""shrinkbench-magnitude: conformance, known answers by construction, and registration."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from shrinkbench.plugins import load_registry
from shrinkbench.pruning import make_context
from shrinkbench.testing import check_strategy
from shrinkbench_magnitude import plugin, strategies

NAMES = {"global-magnitude": "GlobalMagWeight", "layer-magnitude": "LayerMagWeight",
         "global-activation": "GlobalMagAct", "layer-activation": "LayerMagAct"}
T, F = True, False


@pytest.fixture(scope="module")
def registry():
    return load_registry(inline=[("magnitude", plugin)], entry_points=False)


@pytest.mark.parametrize("name", list(NAMES))
def test_conformance(registry, name):
    achieved = check_strategy(name, registry=registry, tolerance=0)
    assert achieved[64] == pytest.approx(64, rel=0.01)


def test_names_aliases_and_data_needs(registry):
    for name, alias in NAMES.items():
        spec = registry.strategy(alias)
        assert spec.name == name and spec.needs_data == ("activation" in name)
        assert isinstance(spec.compute, str) and spec.reference and spec.load().__doc__


def test_plugin_module_does_not_import_torch():
    code = "import sys, shrinkbench_magnitude.plugin as p; p.shrinkbench_strategies(); sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _with_weights(model: nn.Module, **weights: list) -> nn.Module:
    with torch.no_grad():
        for name, value in weights.items():
            model.get_submodule(name).weight.copy_(torch.tensor(value, dtype=torch.float32))
    model.shrinkbench_classifier = "classifier"
    return model


def _masks(fn, model, compression, batch=None):
    batches = None if batch is None else (lambda: iter([(batch, torch.zeros(len(batch), dtype=torch.long))]))
    return fn(make_context(model, compression, batches=batches))


def _assert_masks(masks, expected):
    assert set(masks) == set(expected)
    for name, mask in expected.items():
        assert masks[name].tolist() == mask, name


# -- magnitude: fc1 holds |w| = 1..8, fc2 |w| = 9..16 (signs alternate), the classifier 4 dense weights ----


def signed_chain() -> nn.Module:
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(4, 2, bias=False))
    model.add_module("fc2", nn.Linear(2, 4, bias=False))
    model.add_module("classifier", nn.Linear(4, 1, bias=False))
    return _with_weights(model, fc1=[[1, -2, 3, -4], [5, -6, 7, -8]],
                         fc2=[[9, -10], [11, -12], [13, -14], [15, -16]], classifier=[[1, 1, 1, 1]])


@pytest.mark.parametrize(("fn", "compression", "expected"), [
    # 20 params, 4 dense: compression 2 keeps 10 - 4 = 6 weights, 2.5 keeps 8 - 4 = 4.
    (strategies.global_magnitude, 2, {"fc1.weight": [[F, F, F, F], [F, F, F, F]],       # |w| >= 11
                                      "fc2.weight": [[F, F], [T, T], [T, T], [T, T]]}),
    (strategies.layer_magnitude, 2, {"fc1.weight": [[F, F, F, F], [F, T, T, T]],        # top 3 per layer
                                     "fc2.weight": [[F, F], [F, F], [F, T], [T, T]]}),
    (strategies.global_magnitude, 2.5, {"fc1.weight": [[F, F, F, F], [F, F, F, F]],     # |w| >= 13
                                        "fc2.weight": [[F, F], [F, F], [T, T], [T, T]]}),
    (strategies.layer_magnitude, 2.5, {"fc1.weight": [[F, F, F, F], [F, F, T, T]],      # top 2 per layer
                                       "fc2.weight": [[F, F], [F, F], [F, F], [T, T]]}),
    (strategies.global_magnitude, 1, {"fc1.weight": [[T] * 4] * 2, "fc2.weight": [[T, T]] * 4}),
    (strategies.layer_magnitude, 1, {"fc1.weight": [[T] * 4] * 2, "fc2.weight": [[T, T]] * 4}),
])
def test_magnitude_known_answer(fn, compression, expected):
    _assert_masks(_masks(fn, signed_chain(), compression), expected)


# -- activation: mean |x| per input is known, so every score |w| * mean|x_i| is known --------------------


def linear_chain() -> nn.Module:
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(4, 2, bias=False))
    model.add_module("fc2", nn.Linear(2, 2, bias=False))
    model.add_module("classifier", nn.Linear(2, 1, bias=False))
    return _with_weights(model, fc1=[[1, 2, 3, 4], [5, 6, 7, 8]], fc2=[[1, 2], [3, 4]], classifier=[[1, 1]])


# mean |x| = (1, 10, 100, 1000); fc1's outputs are -+(3719, 7355), so fc2's mean |input| = (3719, 7355).
# fc1 scores [[1, 20, 300, 4000], [5, 60, 700, 8000]]; fc2 scores [[3719, 14710], [11157, 29420]].
SIGNED_BATCH = torch.tensor([[1.0, -10, 100, -1000], [-1, 10, -100, 1000]])


@pytest.mark.parametrize(("fn", "expected"), [
    # 14 params, 2 dense: compression 2 keeps 5. Global: 29420, 14710, 11157, 8000, 4000 (not 3719).
    (strategies.global_activation, {"fc1.weight": [[F, F, F, T], [F, F, F, T]],
                                    "fc2.weight": [[F, T], [T, T]]}),
    # Layer: 5 = 3 (of 8) + 2 (of 4). fc1: 8000, 4000, 700 (magnitude alone would keep 8, 7, 6).
    (strategies.layer_activation, {"fc1.weight": [[F, F, F, T], [F, F, T, T]],
                                   "fc2.weight": [[F, T], [F, T]]}),
])
def test_linear_activation_known_answer(fn, expected):
    model = linear_chain()
    means = strategies.input_activation_means(make_context(model, 2, batches=lambda: iter([(SIGNED_BATCH, None)])))
    assert means["fc1.weight"].tolist() == [1, 10, 100, 1000]
    assert means["fc2.weight"].tolist() == [3719, 7355]
    _assert_masks(_masks(fn, model, 2, SIGNED_BATCH), expected)


def conv_net(groups: int = 1) -> nn.Module:
    model = nn.Sequential()
    if groups == 1:
        model.add_module("conv", nn.Conv2d(2, 3, 2, bias=False))
        model.add_module("flatten", nn.Flatten())
        model.add_module("classifier", nn.Linear(12, 2, bias=False))
        return _with_weights(model, conv=torch.arange(1.0, 25).view(3, 2, 2, 2).tolist())
    model.add_module("conv", nn.Conv2d(2, 2, 1, groups=2, bias=False))  # depthwise: output o reads channel o
    model.add_module("flatten", nn.Flatten())
    model.add_module("classifier", nn.Linear(18, 1, bias=False))
    return _with_weights(model, conv=[[[[5.0]]], [[[1.0]]]])


def channel_batch() -> torch.Tensor:
    """Two 3x3 images: channel 0 is -+1 everywhere, channel 1 -+100: mean |x| = (1, 100) per channel."""
    x = torch.ones(2, 2, 3, 3)
    x[:, 1] *= 100
    x[1] *= -1
    return x


@pytest.mark.parametrize("fn", [strategies.global_activation, strategies.layer_activation])
def test_conv_activation_known_answer(fn):
    # conv w = 1..24 as [3, 2, 2, 2]; channel 1 scores 100 * (5..8, 13..16, 21..24) beat every channel-0
    # score (at most 20). Keeping 14 of 24 keeps channel 1 and the two largest channel-0 weights (19, 20).
    model = conv_net()
    keep, dense = 14, 24
    masks = _masks(fn, model, 48 / (keep + dense), channel_batch())
    expected = torch.zeros(3, 2, 2, 2, dtype=torch.bool)
    expected[:, 1] = True
    expected[2, 0, 1] = True
    assert torch.equal(masks["conv.weight"], expected)


@pytest.mark.parametrize("fn", [strategies.global_activation, strategies.layer_activation])
def test_grouped_conv_reads_the_right_channel(fn):
    # depthwise w = (5, 1) read channels with mean |x| = (1, 100): scores (5, 100), keep 1 -> the second.
    model = conv_net(groups=2)
    masks = _masks(fn, model, 20 / (1 + 18), channel_batch())
    assert masks["conv.weight"].flatten().tolist() == [F, T]
    assert strategies.global_magnitude(make_context(model, 20 / 19))["conv.weight"].flatten().tolist() == [T, F]


def test_activation_of_a_layer_called_twice_averages_over_calls():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2, bias=False)
            self.classifier = nn.Linear(2, 1)

        def forward(self, x):
            return self.classifier(self.fc(x) + self.fc(3 * x))

    model = Twice()
    ctx = make_context(model, 1, batches=lambda: iter([(torch.tensor([[1.0, -2.0]]), None)]))
    assert strategies.input_activation_means(ctx)["fc.weight"].tolist() == [2.0, 4.0]


def test_layer_never_called_gets_the_mean_activation_with_a_warning():
    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(4, 1, batch_first=True)  # out_proj is read functionally
            self.classifier = nn.Linear(4, 3)

        def forward(self, x):
            return self.classifier(self.attn(x, x, x, need_weights=False)[0].mean(1))

    model = Attention()
    batches = lambda: iter([(torch.randn(2, 5, 4), torch.zeros(2, dtype=torch.long))])  # noqa: E731
    with pytest.warns(UserWarning, match="out_proj.weight"):
        masks = strategies.global_activation(make_context(model, 1.2, batches=batches))
    assert masks["attn.out_proj.weight"].shape == (4, 4)


def test_activation_leaves_mixed_modes_and_batchnorm_alone():
    model = nn.Sequential(nn.Conv2d(2, 4, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(36, 8), nn.Linear(8, 2))
    model.train()
    model[1].eval()
    stats = model[1].running_mean.clone()
    strategies.global_activation(make_context(model, 2, batches=lambda: iter([(channel_batch(), None)])))
    assert [m.training for m in model] == [T, F, T, T, T]
    assert torch.equal(model[1].running_mean, stats)
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_attention_in_proj_rows_read_query_key_and_value_inputs():
    """Cross-attention: token 0 queries tokens 1-2. mean |query| = (1, 2), mean |key| = mean |value| = (10, 20)."""

    class Cross(nn.Sequential):  # [attention, classifier]; the value goes by keyword
        def forward(self, x):
            context = x[:, 1:]
            return self[1](self[0](x[:, :1], context, key_padding_mask=None, value=context)[0][:, 0])

    model = Cross(nn.MultiheadAttention(2, 1, batch_first=True), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].in_proj_weight.fill_(-1.0)
    batch = torch.tensor([[[1.0, -2.0], [10.0, 20.0], [-10.0, -20.0]]])
    ctx = make_context(model, 1, batches=lambda: iter([(batch, None)]))
    with pytest.warns(UserWarning, match="out_proj"):  # read functionally: its input is never seen
        means = strategies.input_activation_means(ctx)
        scores = strategies.activation_scores(ctx)["0.in_proj_weight"]
    assert means["0.in_proj_weight"].tolist() == [[1, 2], [10, 20], [10, 20]]
    assert scores.tolist() == [[1, 2], [1, 2], [10, 20], [10, 20], [10, 20], [10, 20]]


@pytest.mark.parametrize("fn", [strategies.global_activation, strategies.layer_activation])
def test_transposed_conv_reads_its_input_channel_on_axis_0(fn):
    model = nn.Sequential()
    model.add_module("up", nn.ConvTranspose2d(2, 1, 1, bias=False))  # weight [in 2, out 1, 1, 1]
    model.add_module("flatten", nn.Flatten())
    model.add_module("classifier", nn.Linear(9, 1, bias=False))
    model = _with_weights(model, up=[[[[5.0]]], [[[1.0]]]])
    masks = _masks(fn, model, 11 / (1 + 9), channel_batch())  # scores (5 * 1, 1 * 100): keep channel 1's
    assert masks["up.weight"].flatten().tolist() == [F, T]
