"""shrinkbench-posttraining: Wanda's masks are the paper's formula; SparseGPT reconstructs better than
magnitude and Wanda; its lazy block updates equal a plain column-by-column OBS; N:M patterns hold; counts are
exact; only prunable weights change; runs on a tiny Llama and on CNNs; registration and refusals."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from shrinkbench.errors import CompressionError
from shrinkbench.plugins import load_registry
from shrinkbench.pruning import count_parameters, layer_keep_counts, make_context, weights_to_keep
from shrinkbench.testing import check_strategy, make_tiny_model
from shrinkbench.testing.tiny import make_n_m_models
from shrinkbench_posttraining import plugin, sparsegpt, wanda

sys.path.insert(0, str(Path(__file__).parent))
from shrinkbench.testing.calibration_check import check_calibration_strategy, run  # noqa: E402

CALIBRATION = ("wanda", "sparsegpt", "2:4-wanda", "4:8-wanda", "2:4-sparsegpt", "4:8-sparsegpt")


@pytest.fixture(scope="module")
def registry():
    return load_registry(inline=[("posttraining", plugin)], entry_points=False)


pytestmark = pytest.mark.usefixtures("one_thread")  # core's fixture: tiny models, one torch thread


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(12, 16), relu=nn.ReLU(), fc2=nn.Linear(16, 8), relu2=nn.ReLU(),
                                      classifier=nn.Linear(8, 3)))
    model.shrinkbench_classifier = "classifier"
    return model


def images(shape: tuple[int, ...], batches: int = 2, size: int = 4) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn((size, *shape), generator=gen) for _ in range(batches)]


def tiny_llama() -> nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(config).eval()


TOKENS = [torch.randint(0, 128, (4, 32), generator=torch.Generator().manual_seed(s)) for s in range(2)]


def test_wanda_masks_are_the_papers_formula_block_after_block(registry):
    model = mlp()
    calibration = images((12,))
    dense = {k: v.clone() for k, v in model.state_dict().items()}
    masks = run(registry.strategy("wanda"), model, calibration, 2.5)
    # independently: uniform per-layer counts, rows keep equal shares, |W| * ||X_j||_2 with fc1 already pruned
    ref = mlp()
    prunable = {"fc1.weight": ref.fc1.weight, "fc2.weight": ref.fc2.weight}
    counts = layer_keep_counts({k: v.numel() for k, v in prunable.items()}, weights_to_keep(ref, prunable, 2.5))
    x = torch.cat(calibration)
    for name, layer in (("fc1.weight", ref.fc1), ("fc2.weight", ref.fc2)):
        score = layer.weight.abs() * x.norm(dim=0)
        rows = layer.weight.shape[0]
        per_row = [counts[name] // rows + (r < counts[name] % rows) for r in range(rows)]
        want = torch.zeros_like(score, dtype=torch.bool)
        for r in range(rows):
            want[r, score[r].argsort(descending=True)[: per_row[r]]] = True
        assert torch.equal(masks[name], want), name
        with torch.no_grad():
            layer.weight[~want] = 0
            x = torch.relu(layer(x))
    assert torch.equal(model.fc2.weight, dense["fc2.weight"] * masks["fc2.weight"])


def reconstruction_setup():
    """One 64 -> 32 layer and inputs whose features differ in scale and are correlated (as LLM activations)."""
    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(64, 64, generator=gen) * 0.3 + torch.eye(64)
    scale = torch.logspace(-1, 1, 64)[torch.randperm(64, generator=gen)]
    calibration = [(torch.randn(256, 64, generator=gen) @ mix) * scale for _ in range(2)]

    def factory() -> nn.Module:
        torch.manual_seed(0)
        model = nn.Sequential(OrderedDict(fc=nn.Linear(64, 32, bias=False), classifier=nn.Linear(32, 2, bias=False)))
        model.shrinkbench_classifier = "classifier"
        return model

    return factory, calibration


def reconstruction_errors(registry) -> dict[str, float]:
    """‖WX - ŴX‖_F / ‖WX‖_F at 50% sparsity of the layer for each strategy."""
    factory, calibration = reconstruction_setup()
    x = torch.cat(calibration)
    dense = factory().fc.weight.detach()
    total = count_parameters(factory())
    compression = total / (total - 32 * 64 + 32 * 32)  # keeps half of fc
    errors = {}
    for name in ("row-magnitude", "wanda", "sparsegpt"):
        model = factory()
        masks = run(registry.strategy(name), model, calibration, compression)
        pruned = model.fc.weight.detach() * masks["fc.weight"]
        assert int(masks["fc.weight"].sum()) == 32 * 32
        errors[name] = float((x @ (dense - pruned).T).norm() / (x @ dense.T).norm())
    return errors


def test_sparsegpt_reconstructs_one_layer_better_than_magnitude_and_wanda(registry):
    errors = reconstruction_errors(registry)
    assert errors["sparsegpt"] < errors["wanda"] < errors["row-magnitude"], errors


def naive_obs(weight: torch.Tensor, hessian: torch.Tensor, n: int, m: int, damp: float = 0.01) -> torch.Tensor:
    """Column-by-column OBS with N:M masks chosen at each group's start, every update applied at once (no lazy
    blocks): SparseGPT's algorithm as the paper states it, for a linear layer."""
    h = hessian.double().clone()
    h.diagonal().add_(damp * h.diagonal().mean())
    u = torch.linalg.cholesky(torch.linalg.inv(h), upper=True)
    w = weight.double().clone()
    for j in range(w.shape[1]):
        if j % m == 0:
            s = w[:, j:j + m] ** 2 / u.diagonal()[j:j + m] ** 2
            prune = s.argsort(dim=1, stable=True)[:, : m - n] + j
        q = w[:, j].clone()
        q[(prune == j).any(1)] = 0
        err = (w[:, j] - q) / u[j, j]
        w[:, j:] -= err[:, None] * u[j, j:][None]
        w[:, j] = q
    return w


@pytest.mark.parametrize("blocksize", [4, 16, 128])
def test_sparsegpt_lazy_block_updates_equal_plain_obs(blocksize):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(200, 32, generator=gen) @ (torch.randn(32, 32, generator=gen) * 0.3 + torch.eye(32))
    hessian = 2 / 200 * x.T @ x
    weight = torch.randn(8, 32, generator=gen)
    got, kept = sparsegpt.sparsegpt_matrix(weight, hessian, 8 * 16, (2, 4), blocksize=blocksize)
    want = naive_obs(weight, hessian, 2, 4)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)
    assert torch.equal(kept, want != 0)


@pytest.mark.parametrize("name", CALIBRATION)
def test_contract_on_a_tiny_llama(registry, name):
    check_calibration_strategy(registry.strategy(name), tiny_llama, TOKENS, compressions=(2, 3))


@pytest.mark.parametrize("name", CALIBRATION)
def test_contract_on_a_small_cnn_with_batchnorm(registry, name):
    compressions = (4, 16) if name in ("wanda", "sparsegpt") else (2.5,)
    check_calibration_strategy(registry.strategy(name), make_tiny_model, images((1, 12, 12)), compressions)


@pytest.mark.parametrize("name", [n for n in CALIBRATION if ":" in n])
@pytest.mark.parametrize("model_name", ["cnn", "mlp"])
def test_n_m_on_every_layer_layout_with_zeros_and_beyond_the_pattern(registry, name, model_name):
    """Grouped, depthwise and grouped transposed convolutions, partial groups, 30% of weights already zero;
    at the pattern's own compression and beyond it."""
    spec = registry.strategy(name)
    n, m = spec.pattern
    probe = make_n_m_models()[model_name]
    ctx = make_context(probe, 1)
    from shrinkbench.patterns import n_m_capacity, reduction_layout

    allowed = sum(n_m_capacity(w.shape, n, m, **reduction_layout(probe.get_submodule(k.rpartition(".")[0])))
                  for k, w in ctx.prunable.items())
    total = count_parameters(probe)
    lowest = total / (total - sum(w.numel() for w in ctx.prunable.values()) + allowed)
    for factor in (1, 1.5):
        check_calibration_strategy(spec, lambda: make_n_m_models()[model_name], images((3, 8, 8)),
                                   [lowest * factor])


@pytest.mark.parametrize("name", ["2:4-wanda", "2:4-sparsegpt"])
def test_targets_the_pattern_cannot_keep_are_refused(registry, name):
    spec = registry.strategy(name)
    ctx = dataclasses.replace(make_context(mlp(), 1.2), calibration=images((12,)))
    assert "2:4 sparsity keeps at most" in spec.limit(ctx)
    with pytest.raises(CompressionError, match="compressions start at"):
        spec.load()(ctx)


def test_layers_without_statistics_are_refused_up_front(registry):
    model = nn.Sequential(nn.Linear(4, 4), nn.MultiheadAttention(4, 2), nn.Linear(4, 2))
    ctx = make_context(model, 2)
    for name in CALIBRATION:
        assert "in_proj_weight" in registry.strategy(name).limit(ctx)
    with pytest.raises(ValueError, match="calibration inputs"):
        wanda.wanda(make_context(mlp(), 2))


def test_row_magnitude_conformance_and_rows(registry):
    assert check_strategy("row-magnitude", registry=registry, tolerance=0)[64] == pytest.approx(64, rel=0.01)
    model = mlp()
    masks = wanda.row_magnitude(make_context(model, 2))
    assert masks["fc1.weight"].sum(1).max() - masks["fc1.weight"].sum(1).min() <= 1


def test_registration(registry):
    specs = {s.name: s for s in plugin.shrinkbench_strategies()}
    assert set(specs) == {*CALIBRATION, "row-magnitude"}
    for name, spec in specs.items():
        assert spec.calibration == (name != "row-magnitude") and spec.reconstructs == ("sparsegpt" in name)
        assert spec.pattern == ((2, 4) if "2:4" in name else (4, 8) if "4:8" in name else None)
        assert spec.reference and spec.load().__doc__ and registry.strategy(name) is not None
    assert sparsegpt.BLOCKSIZE == 128 and sparsegpt.DAMPENING == 0.01


def test_registration_does_not_import_torch():
    code = ("import sys, shrinkbench_posttraining.plugin as p; p.shrinkbench_strategies(); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_pruning_time_on_the_tiny_llama_is_small(registry):
    model = tiny_llama()
    start = time.perf_counter()
    run(registry.strategy("sparsegpt"), model, TOKENS, 2)
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("size", [40, 700])
def test_the_inverse_factor_is_the_references_cholesky_of_the_inverse(size):
    gen = torch.Generator().manual_seed(size)
    x = torch.randn(2 * size, size, generator=gen, dtype=torch.float64)
    x[:, 3] = 0  # a dead input
    hessian = x.T @ x
    factor, dead = sparsegpt._inverse_factor(hessian, 0.01)
    h = hessian.clone()
    h[3, 3] = 1
    h.diagonal().add_(0.01 * h.diagonal().mean())
    want = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    torch.testing.assert_close(factor, want, rtol=1e-9, atol=1e-12)
    assert dead.nonzero().flatten().tolist() == [3]
