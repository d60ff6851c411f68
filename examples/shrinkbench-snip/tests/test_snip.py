"""shrinkbench-snip: the conformance kit (``shrinkbench.testing``) plus known answers by construction.

Runs with only ``shrinkbench-core`` installed (no vision plugin, no CLI): the kit brings its own tiny model
and batches.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from importlib import metadata

import pytest
import torch
from shrinkbench.metrics import MetricContext
from shrinkbench.plugins import load_registry
from shrinkbench.pruning import make_context, prunable_parameters
from shrinkbench.testing import check_metric, check_strategy, make_tiny_batches, make_tiny_model
from torch import nn

from shrinkbench_snip import metrics, plugin, strategies

T, F = True, False


@pytest.fixture(scope="module")
def registry():
    """Only this plugin, registered inline: the tests pass whether or not it is installed."""
    return load_registry(inline=[("snip", plugin)], entry_points=False)


# -- the conformance kit ------------------------------------------------------------------------------------


def test_snip_conforms(registry):
    achieved = check_strategy("snip", registry=registry, tolerance=0)
    assert achieved[1] == 1 and achieved[64] == pytest.approx(64, rel=0.01)


def test_snip_alias_and_data_needs(registry):
    spec = registry.strategy("SNIP")
    assert spec.name == "snip" and spec.needs_data and spec.reference
    assert isinstance(spec.compute, str) and spec.load() is strategies.snip


def test_sparsity_metric_conforms(registry):
    values = check_metric("sparsity", registry=registry)  # measured last on the tiny model pruned to 4x
    model = make_tiny_model()
    n_prunable = sum(p.numel() for p in prunable_parameters(model).values())
    dense_rest = sum(p.numel() for p in model.parameters()) - n_prunable
    kept = round((n_prunable + dense_rest) / 4) - dense_rest
    assert values == {"sparsity": pytest.approx(1 - kept / n_prunable), "zero_layers": 0.0}


def test_plugin_module_does_not_import_torch():
    code = ("import sys, shrinkbench_snip.plugin as p; p.shrinkbench_strategies(); p.shrinkbench_metrics(); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_installed_entry_point_is_discovered():
    try:
        metadata.distribution("shrinkbench-snip")
    except metadata.PackageNotFoundError:
        pytest.skip("shrinkbench-snip is not installed (pip install examples/shrinkbench-snip)")
    installed = load_registry()
    assert installed.plugin_of("strategies", "snip") == "shrinkbench-snip"
    assert installed.plugin_of("metrics", "sparsity") == "shrinkbench-snip"
    assert any(p.name == "snip" and p.status == "ok" for p in installed.plugins)


# -- SNIP by construction ----------------------------------------------------------------------------------


def chain() -> nn.Module:
    """x (4) -> fc (2x4, prunable) -> classifier (1x2). With L = sum of outputs, dL/dfc[o, i] = c[o] x[i]."""
    model = nn.Sequential()
    model.add_module("fc", nn.Linear(4, 2, bias=False))
    model.add_module("classifier", nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[8.0, 1.0, 2.0, -3.0], [-7.0, 4.0, 0.5, 6.0]]))
        model.classifier.weight.copy_(torch.tensor([[1.0, -2.0]]))
    model.shrinkbench_classifier = "classifier"
    return model


def _context(model: nn.Module, compression: float, x: torch.Tensor):
    batches = lambda: iter([(x, torch.zeros(len(x)))])  # noqa: E731
    return make_context(model, compression, batches=batches, loss_fn=lambda out, _y: out.sum())


def test_snip_keeps_the_most_sensitive_connections_not_the_largest():
    # x = (0, 1, 4, 1): |g * w| = |c[o] x[i] w[o, i]| = [[0, 1, 8, 3], [0, 8, 4, 12]], total 36.
    x = torch.tensor([[0.0, 1.0, 4.0, 1.0]])
    scores = strategies.connection_sensitivity(_context(chain(), 1, x))
    expected = torch.tensor([[0, 1, 8, 3], [0, 8, 4, 12]]) / 36
    assert torch.allclose(scores["fc.weight"], expected)
    # 10 params, 2 dense: compression 2 keeps 5 - 2 = 3 of fc's 8 weights; |w| = 8 and 7 go (input 0).
    masks = strategies.snip(_context(chain(), 2, x))
    assert masks["fc.weight"].tolist() == [[F, F, T, F], [F, T, F, T]]
    # Compression 2.5 keeps 4 - 2 = 2: the 12, then of the tied 8s the one with the lowest flat index.
    masks = strategies.snip(_context(chain(), 2.5, x))
    assert masks["fc.weight"].tolist() == [[F, F, T, F], [F, F, F, T]]


def test_snip_matches_backward_on_the_tiny_model_and_leaves_no_trace():
    model, batches = make_tiny_model(), make_tiny_batches()
    reference = copy.deepcopy(model).eval()
    x, y = next(batches())
    nn.functional.cross_entropy(reference(x), y).backward()
    raw = {n: (p.detach() * p.grad).abs() for n, p in prunable_parameters(reference).items()}
    total = sum(s.sum() for s in raw.values())
    scores = strategies.connection_sensitivity(make_context(model, 4, batches=batches))
    assert scores.keys() == raw.keys()
    for name, score in scores.items():
        assert torch.allclose(score, raw[name] / total, atol=1e-9), name
    assert sum(float(s.sum()) for s in scores.values()) == pytest.approx(1.0)
    assert model.training and all(p.grad is None for p in model.parameters())


def test_snip_scores_frozen_weights_and_keeps_them_frozen():
    model = make_tiny_model()
    model.conv1.weight.requires_grad_(False)
    scores = strategies.connection_sensitivity(make_context(model, 4, batches=make_tiny_batches()))
    assert scores["conv1.weight"].sum() > 0 and not model.conv1.weight.requires_grad


# -- the sparsity metric by construction --------------------------------------------------------------------


def test_sparsity_counts_zero_weights_and_dead_layers():
    model = chain()
    with torch.no_grad():
        model.fc.weight[0].zero_()  # 4 of 8 prunable weights; the classifier does not count
    values = metrics.sparsity(MetricContext(model, torch.zeros(1, 4)))
    assert values == {"sparsity": 0.5, "zero_layers": 0.0}
    with torch.no_grad():
        model.fc.weight.zero_()
    assert metrics.sparsity(MetricContext(model, torch.zeros(1, 4))) == {"sparsity": 1.0, "zero_layers": 1.0}
