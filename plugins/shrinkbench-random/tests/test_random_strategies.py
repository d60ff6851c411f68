"""shrinkbench-random: conformance, seeding, exact counts and uniformity."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from shrinkbench.plugins import load_registry
from shrinkbench.pruning import layer_keep_counts, make_context, weights_to_keep
from shrinkbench.testing import check_strategy, make_tiny_model
from shrinkbench_random import plugin, strategies

STRATEGIES = {"random": strategies.global_random, "layer-random": strategies.layer_random}


@pytest.fixture(scope="module")
def registry():
    return load_registry(inline=[("random", plugin)], entry_points=False)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_conformance(registry, name):
    achieved = check_strategy(name, registry=registry, tolerance=0)
    assert achieved[64] == pytest.approx(64, rel=0.01)


def test_names_and_alias(registry):
    assert registry.strategy("RandomPruning").name == "random"
    for name in STRATEGIES:
        spec = registry.strategy(name)
        assert not spec.needs_data and isinstance(spec.compute, str) and spec.reference and spec.load().__doc__


def test_plugin_module_does_not_import_torch():
    code = "import sys, shrinkbench_random.plugin as p; p.shrinkbench_strategies(); sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("fn", list(STRATEGIES.values()))
def test_same_seed_same_mask_other_seed_other_mask(fn):
    model = make_tiny_model()
    first, again, other = (fn(make_context(model, 8, seed=s)) for s in (3, 3, 4))
    assert all(torch.equal(first[n], again[n]) for n in first)
    assert not all(torch.equal(first[n], other[n]) for n in first)


def test_global_random_ignores_the_global_rng():
    model = make_tiny_model()
    torch.manual_seed(1)
    first = strategies.global_random(make_context(model, 8))
    torch.manual_seed(2)
    assert all(torch.equal(m, strategies.global_random(make_context(model, 8))[n]) for n, m in first.items())


def test_layer_random_keeps_the_same_fraction_in_every_layer():
    model = make_tiny_model()
    ctx = make_context(model, 8)
    masks = strategies.layer_random(ctx)
    keep = weights_to_keep(model, ctx.prunable, 8)
    counts = layer_keep_counts({n: p.numel() for n, p in ctx.prunable.items()}, keep)
    assert {n: int(m.sum()) for n, m in masks.items()} == counts


def test_every_weight_is_equally_likely_to_be_kept():
    # 2 layers of 10 weights + a 5-weight classifier: compression 25/15 keeps 10 of 20 prunable weights.
    model = nn.Sequential(nn.Linear(5, 2, bias=False), nn.Linear(2, 5, bias=False), nn.Linear(5, 1, bias=False))
    kept = torch.zeros(20)
    for seed in range(400):
        masks = strategies.global_random(make_context(model, 25 / 15, seed=seed))
        assert sum(int(m.sum()) for m in masks.values()) == 10
        kept += torch.cat([m.flatten() for m in masks.values()]).float()
    # each weight is kept with probability 1/2: 200 +- 10 (one standard deviation) over 400 seeds
    assert kept.min() > 150 and kept.max() < 250, kept.tolist()
