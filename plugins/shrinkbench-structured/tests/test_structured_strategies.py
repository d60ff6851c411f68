"""shrinkbench-structured: the structured contract on residual CNNs, each criterion's ranking checked against
scores computed here, the model left undisturbed, reloading with load_shrunken, errors, and registration."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
from structured_models import (
    NUM_CLASSES,
    Attention,
    GroupNormTail,
    Plain,
    SmallResNet,
    batches,
    kept_channels,
    prune,
    randomize,
)
from torch import nn

from shrinkbench import ShrinkBenchError, find_classifier
from shrinkbench.checkpoints import load_shrunken, read_state_dict
from shrinkbench.engine.dense import save_weights
from shrinkbench.engine.rounds import STRUCTURED_TOLERANCE
from shrinkbench.plugins import load_registry
from shrinkbench.pruning import count_parameters
from shrinkbench_structured import plugin, strategies
from shrinkbench_structured.search import make_plan, search

STRATEGIES = {"l1-filter": strategies.l1_filter, "bn-scale": strategies.bn_scale,
              "taylor-channel": strategies.taylor_channel}


def _torchvision_resnet18():
    models = pytest.importorskip("torchvision.models")
    return lambda: models.resnet18(num_classes=NUM_CLASSES)


def _vision_resnet20():
    cifar = pytest.importorskip("shrinkbench_vision.models.cifar_resnet")
    return lambda: cifar.resnet20(NUM_CLASSES, (3, 32, 32))


MODELS = {"small-resnet": lambda: SmallResNet, "torchvision-resnet18": _torchvision_resnet18,
          "vision-resnet20": _vision_resnet20}


def _conv_widths(model: nn.Module) -> dict[str, tuple[int, int]]:
    return {n: (m.in_channels, m.out_channels) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


@pytest.mark.parametrize("compression", [2, 4])
@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_structured_contract(model_name, strategy, compression, tmp_path):
    build = MODELS[model_name]()
    torch.manual_seed(0)
    dense = randomize(build())
    model = copy.deepcopy(dense)
    data = batches()
    prune(STRATEGIES[strategy], model, compression, data)

    before, after = _conv_widths(dense), _conv_widths(model)
    assert any(after[n][1] < before[n][1] for n in before), "no convolution lost output channels"
    first = next(iter(before))
    assert after[first][0] == before[first][0] == 3, "the input channels changed"
    achieved = count_parameters(dense) / count_parameters(model)
    assert abs(achieved / compression - 1) <= STRUCTURED_TOLERANCE, achieved
    classifier = find_classifier(dense)
    assert model.get_submodule(classifier).out_features == NUM_CLASSES
    x = data[0][0]
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.shape == (len(x), NUM_CLASSES)

    save_weights(model, tmp_path / "weights.safetensors")  # as the engine saves a run's weights
    path = tmp_path / "weights.safetensors"
    reloaded = load_shrunken(build(), read_state_dict(path), str(path)).eval()
    assert _conv_widths(reloaded) == after
    with torch.no_grad():
        assert torch.equal(reloaded(x), out)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_same_seed_same_channels_and_model_undisturbed(strategy):
    dense = randomize(SmallResNet()).train()
    data = batches()
    runs = [prune(STRATEGIES[strategy], copy.deepcopy(dense), 3, data, seed=5) for _ in range(2)]
    first, second = runs[0].state_dict(), runs[1].state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    model = runs[0]
    assert all(p.grad is None for p in model.parameters()), ".grad left behind"
    assert all(m.training for m in model.modules()), "train/eval modes not restored"
    assert all(p.requires_grad for p in model.parameters())


def test_batchnorm_statistics_unchanged_by_taylor():
    dense = randomize(SmallResNet()).train()
    model = prune(strategies.taylor_channel, copy.deepcopy(dense), 4, batches(n=4))
    norms = [(n, m) for n, m in dense.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert any(model.get_submodule(n).num_features < m.num_features for n, m in norms)
    for name, before in norms:
        after = model.get_submodule(name)
        kept = kept_channels(before, after)
        assert kept == sorted(kept)
        assert torch.equal(after.running_mean, before.running_mean[kept]), name
        assert torch.equal(after.running_var, before.running_var[kept]), name
        assert int(after.num_batches_tracked) == 7


def _chain_norms(model: nn.Module) -> list[nn.BatchNorm2d]:
    return [layer[1] for layer in model.layers]


def _assert_one_threshold(dense: nn.Module, model: nn.Module, scores: list[torch.Tensor]) -> None:
    """Every removed channel of the chain scores at most every kept one, but for the best channel of each
    layer, which is always kept."""
    kept_scores, removed_scores = [], []
    for before, after, score in zip(_chain_norms(dense), _chain_norms(model), scores, strict=True):
        kept = kept_channels(before, after)
        kept_scores.append(score[kept].sort().values[:-1])
        removed_scores.append(score[sorted(set(range(len(score))) - set(kept))])
    removed, kept = torch.cat(removed_scores), torch.cat(kept_scores)
    assert removed.numel() and kept.numel()
    assert removed.max() <= kept.min() * (1 + 1e-5)


def test_l1_filter_removes_smallest_filters_same_fraction_per_layer():
    dense = randomize(Plain())
    model = prune(strategies.l1_filter, copy.deepcopy(dense), 2.5, batches())
    kept_counts = []
    for before, after, norm_before, norm_after in zip(dense.layers, model.layers, _chain_norms(dense),
                                                      _chain_norms(model), strict=True):
        norms = before[0].weight.detach().abs().sum((1, 2, 3))
        kept = kept_channels(norm_before, norm_after)
        removed = sorted(set(range(len(norms))) - set(kept))
        assert removed and norms[kept].min() >= norms[removed].max()
        kept_counts.append(len(kept) / len(norms))
        assert after[0].out_channels == len(kept)
    assert max(kept_counts) - min(kept_counts) <= 1 / 16  # the same fraction, up to whole channels


def test_bn_scale_uses_one_global_threshold_on_gamma():
    dense = randomize(Plain())
    model = prune(strategies.bn_scale, copy.deepcopy(dense), 3, batches())
    _assert_one_threshold(dense, model, [bn.weight.detach().abs() for bn in _chain_norms(dense)])


def test_taylor_channel_ranks_by_gate_taylor_scores_computed_here():
    dense = randomize(Plain())
    data = batches(n=1)
    reference = copy.deepcopy(dense).eval()
    inputs, targets = data[0]
    nn.functional.cross_entropy(reference(inputs), targets).backward()
    scores = [(bn.weight * bn.weight.grad + bn.bias * bn.bias.grad).detach().pow(2)
              for bn in _chain_norms(reference)]
    model = prune(strategies.taylor_channel, copy.deepcopy(dense), 3, data)
    _assert_one_threshold(dense, model, scores)


def test_pruning_again_stays_relative_to_the_dense_model():
    dense = randomize(SmallResNet())
    model = prune(strategies.l1_filter, copy.deepcopy(dense), 2, batches())
    prune(strategies.l1_filter, model, 4, batches(), dense_parameters=count_parameters(dense))
    assert abs(count_parameters(dense) / count_parameters(model) / 4 - 1) <= STRUCTURED_TOLERANCE


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_compression_one_changes_nothing(strategy):
    dense = randomize(SmallResNet())
    model = prune(STRATEGIES[strategy], copy.deepcopy(dense), 1, batches())
    assert _conv_widths(model) == _conv_widths(dense)


def test_plans_keep_the_best_channels_and_break_ties_by_index():
    scores = {"a": torch.tensor([1.0, 1.0, 1.0, 1.0]), "b": torch.tensor([0.5, 2.0, 0.5, 3.0])}
    assert make_plan(scores, 0.5, "layer") == {"a": [2, 3], "b": [0, 2]}
    # global: candidates are all but each group's best (a0, b3); 0.5 of those 6 go, lowest scores first
    assert make_plan(scores, 0.5, "global") == {"a": [3], "b": [0, 2]}
    assert make_plan(scores, 1.0, "global") == {"a": [1, 2, 3], "b": [0, 1, 2]}
    assert make_plan(scores, 1.0, "layer") == {"a": [1, 2, 3], "b": [0, 1, 2]}
    for scope in ("layer", "global"):
        plans = [make_plan(scores, f / 10, scope) for f in range(11)]
        for smaller, larger in zip(plans, plans[1:], strict=False):
            assert all(set(smaller[k]) <= set(larger[k]) for k in scores)


@pytest.mark.parametrize(("kept", "expected"), [((1200, 1040), {"a": [1, 2, 3]}), ((1040, 1040), {"a": []})])
def test_search_returns_the_closest_plan_when_the_bracket_cannot_narrow(kept, expected):
    # dense 2000 at 2x: the target is 1000 parameters. Removing nothing keeps kept[0], removing anything
    # kept[1]: above the target but within the tolerance (4%), so the best plan is the closer end. Both cases
    # once divided by sqrt(lo) - sqrt(hi) = 0 (at once when the ends count the same, else after one step).
    calls = []

    def count(plan: dict[str, list[int]]) -> int:
        calls.append(plan)
        return kept[1] if any(plan.values()) else kept[0]

    scores = {"a": torch.tensor([4.0, 3.0, 2.0, 1.0])}
    for scope in ("layer", "global"):
        calls.clear()
        assert search(count, scores, scope, 2000, 2, "Toy") == expected
        assert len(calls) == 2  # no plan removes more than the largest fraction: nothing to search


def test_search_still_refuses_a_target_nothing_comes_within_tolerance_of():
    scores = {"a": torch.tensor([4.0, 3.0, 2.0, 1.0])}
    with pytest.raises(ShrinkBenchError, match="Toy cannot reach 2x by removing channels"):
        search(lambda plan: 1100 if any(plan.values()) else 1200, scores, "global", 2000, 2, "Toy")


def _one_line_error(fn, model: nn.Module, compression: float = 2) -> str:
    with pytest.raises(ShrinkBenchError) as info:
        prune(fn, model, compression, batches())
    message = str(info.value)
    assert "\n" not in message and type(model).__name__ in message
    return message


def test_bn_scale_without_batchnorm_is_a_one_line_error():
    assert "no BatchNorm layer" in _one_line_error(strategies.bn_scale, Plain(batchnorm=False))


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_unsupported_model_is_a_one_line_error(strategy):
    message = _one_line_error(STRATEGIES[strategy], Attention())
    assert "MultiheadAttention" in message


def test_unreachable_target_is_a_one_line_error():
    message = _one_line_error(strategies.l1_filter, GroupNormTail(), compression=10)
    assert "cannot reach 10x by removing channels" in message


def test_registration():
    registry = load_registry(inline=[("structured", plugin)], entry_points=False)
    for name in STRATEGIES:
        spec = registry.strategy(name)
        assert spec.structured and spec.needs_data and spec.reference and isinstance(spec.compute, str)
        assert spec.load() is STRATEGIES[name] and spec.load().__doc__


def test_plugin_module_does_not_import_torch():
    code = ("import sys, shrinkbench_structured.plugin as p; p.shrinkbench_strategies(); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


class _SelfAttention(nn.Module):
    """Stands for a transformer's attention module (Hugging Face's LlamaAttention, timm's Attention): its own
    projections, found by its class name."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv, self.proj = nn.Linear(8, 24), nn.Linear(8, 8)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_models_with_attention_are_refused_before_any_work(strategy):
    from shrinkbench.pruning import make_context

    spec = load_registry(inline=[("structured", plugin)], entry_points=False).strategy(strategy)
    transformer = nn.Sequential(nn.Linear(8, 8), _SelfAttention(), nn.Linear(8, NUM_CLASSES))
    assert "attention ('1', _SelfAttention)" in spec.limit(make_context(transformer, 2.0))
    assert "attention ('attn', MultiheadAttention)" in spec.limit(make_context(Attention(), 2.0))
    assert spec.limit(make_context(SmallResNet(), 2.0)) is None  # a CNN goes on to the strategy
