"""shrinkbench-gradient: conformance, known answers by construction, and side effects on the model."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
from torch import nn

from shrinkbench.plugins import load_registry
from shrinkbench.pruning import PruningContext, make_context, prunable_parameters
from shrinkbench.testing import check_strategy, make_tiny_batches, make_tiny_model
from shrinkbench_gradient import plugin, strategies

NAMES = {"global-gradient": "GlobalMagGrad", "layer-gradient": "LayerMagGrad"}
T, F = True, False


@pytest.fixture(scope="module")
def registry():
    return load_registry(inline=[("gradient", plugin)], entry_points=False)


@pytest.mark.parametrize("name", list(NAMES))
def test_conformance(registry, name):
    achieved = check_strategy(name, registry=registry, tolerance=0)
    assert achieved[64] == pytest.approx(64, rel=0.01)


def test_names_aliases_and_data_needs(registry):
    for name, alias in NAMES.items():
        spec = registry.strategy(alias)
        assert spec.name == name and spec.needs_data
        assert isinstance(spec.compute, str) and spec.reference and spec.load().__doc__


def test_plugin_module_does_not_import_torch():
    code = "import sys, shrinkbench_gradient.plugin as p; p.shrinkbench_strategies(); sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- known answer: a linear chain with L = sum of the outputs, so every dL/dw follows by hand -------------
#
# x = (1, 2, 3); W1 = [[1, 2, 3], [4, 5, 6]] -> h = W1 x = (14, 32); W2 = [[1, -1], [2, 3]]; classifier = (1, 1).
# dL/dW2[j, k] = h[k]                 -> [[14, 32], [14, 32]],  |W2 * g| = [[14, 32], [28, 96]]
# dL/dW1[k, i] = (sum_j W2[j, k]) x[i] -> [[3, 6, 9], [2, 4, 6]], |W1 * g| = [[3, 12, 27], [8, 20, 36]]


def chain() -> nn.Module:
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(3, 2, bias=False))
    model.add_module("fc2", nn.Linear(2, 2, bias=False))
    model.add_module("classifier", nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model.fc1.weight.copy_(torch.tensor([[1.0, 2, 3], [4, 5, 6]]))
        model.fc2.weight.copy_(torch.tensor([[1.0, -1], [2, 3]]))
        model.classifier.weight.fill_(1)
    model.shrinkbench_classifier = "classifier"
    return model


def sum_context(model: nn.Module, compression: float) -> PruningContext:
    batch = (torch.tensor([[1.0, 2, 3]]), torch.zeros(1, dtype=torch.long))
    return PruningContext(model, prunable_parameters(model), compression, batches=lambda: iter([batch]),
                          loss_fn=lambda logits, _targets: logits.sum())


def test_scores_follow_the_chain_rule():
    scores = strategies.gradient_scores(sum_context(chain(), 2))
    assert scores["fc1.weight"].tolist() == [[3, 12, 27], [8, 20, 36]]
    assert scores["fc2.weight"].tolist() == [[14, 32], [28, 96]]


@pytest.mark.parametrize(("fn", "expected"), [
    # 12 params, 2 dense: compression 2 keeps 4. Global: 96, 36, 32, 28.
    (strategies.global_gradient, {"fc1.weight": [[F, F, F], [F, F, T]], "fc2.weight": [[F, T], [T, T]]}),
    # Layer: 4 = 2 (of 6) + 2 (of 4): fc1 36, 27 (magnitude alone would keep 6, 5); fc2 96, 32.
    (strategies.layer_gradient, {"fc1.weight": [[F, F, T], [F, F, T]], "fc2.weight": [[F, T], [F, T]]}),
])
def test_gradient_known_answer(fn, expected):
    masks = fn(sum_context(chain(), 2))
    assert {n: m.tolist() for n, m in masks.items()} == expected


def test_scores_match_a_plain_backward_with_cross_entropy():
    model = make_tiny_model()
    batches = make_tiny_batches()
    reference = copy.deepcopy(model).eval()
    x, y = next(batches())
    nn.functional.cross_entropy(reference(x), y).backward()
    scores = strategies.gradient_scores(make_context(model, 4, batches=batches))
    for name, param in prunable_parameters(reference).items():
        torch.testing.assert_close(scores[name], (param.detach() * param.grad).abs())


def test_existing_grads_frozen_weights_modes_and_batchnorm_are_left_alone():
    model = make_tiny_model()
    model.train()
    model.dropout.eval()
    model.conv1.weight.requires_grad_(False)
    model.fc.weight.grad = torch.full_like(model.fc.weight, 7.0)
    stats = model.bn1.running_mean.clone()
    scores = strategies.gradient_scores(make_context(model, 4, batches=make_tiny_batches()))
    assert scores["conv1.weight"].abs().sum() > 0  # frozen weights are scored too
    assert not model.conv1.weight.requires_grad and model.conv1.weight.grad is None
    assert torch.equal(model.fc.weight.grad, torch.full_like(model.fc.weight, 7.0))
    assert model.conv2.weight.grad is None
    assert torch.equal(model.bn1.running_mean, stats)
    assert model.training and not model.dropout.training and model.bn1.training


def test_works_inside_no_grad_and_for_unused_layers():
    model = make_tiny_model()
    model.fc.spare = nn.Linear(3, 3)  # never called: the loss does not depend on it
    with torch.no_grad():
        masks = strategies.global_gradient(make_context(model, 2, batches=make_tiny_batches()))
        assert not torch.is_grad_enabled()
    assert masks["fc.spare.weight"].sum() == 0  # score 0, pruned first
