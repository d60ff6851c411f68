"""Tests of the conformance kit itself: good plugin objects pass, each kind of faulty one is rejected."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from shrinkbench import DatasetSpec, MetricSpec, ModelSpec, StrategySpec, hookimpl
from shrinkbench.errors import DataNotFoundError
from shrinkbench.metrics.plugin import shrinkbench_metrics as core_metrics
from shrinkbench.plugins import get_registry, load_registry
from shrinkbench.pruning import prunable_parameters, weights_to_keep
from shrinkbench.testing import (
    check_dataset,
    check_metric,
    check_model,
    check_strategy,
    make_tiny_batches,
    make_tiny_model,
)

# -- strategies ------------------------------------------------------------------------------------------


def magnitude(ctx):
    return ctx.masks({n: w.detach().abs() for n, w in ctx.prunable.items()})


def good_spec(compute=magnitude, **kw) -> StrategySpec:
    return StrategySpec("kit-magnitude", "Test strategy", compute, **kw)


def test_good_strategy_passes_and_reports_achieved_compression():
    achieved = check_strategy(good_spec(), tolerance=0)
    assert set(achieved) == {1, 2, 4, 8, 16, 32, 64}
    for target, value in achieved.items():
        assert value == pytest.approx(target, rel=0.01)


def test_strategy_looked_up_by_name_and_alias_in_a_registry():
    plugin = types.ModuleType("kit_plugin")
    plugin.shrinkbench_strategies = hookimpl(lambda: [good_spec(aliases=("KitMag",))])
    registry = load_registry(inline=[("kit", plugin)], entry_points=False)
    check_strategy("kit-magnitude", registry=registry, compressions=(2,))
    check_strategy("KitMag", registry=registry, compressions=(2,))


def _bad(fn):
    def compute(ctx):
        masks = magnitude(ctx)
        return fn(ctx, masks) or masks

    return compute


def _forward_in_train_mode(ctx, masks):
    ctx.model.train()
    ctx.model(ctx.batch()[0])


def _backward(ctx, masks):
    x, y = ctx.batch()
    ctx.model.eval()
    ctx.loss_fn(ctx.model(x), y).backward()
    ctx.model.train()


FAULTY = {
    "wrong shape": (_bad(lambda ctx, m: {n: v.reshape(-1) for n, v in m.items()}), "has shape"),
    "not boolean": (_bad(lambda ctx, m: {n: v.float() for n, v in m.items()}), "dtype torch.float32"),
    "missing mask": (_bad(lambda ctx, m: dict(list(m.items())[1:])), "no mask for prunable parameter 'conv1.weight'"),
    "classifier mask": (_bad(lambda ctx, m: {**m, "classifier.weight": torch.ones(10, 16, dtype=torch.bool)}),
                        "'classifier.weight', which is not a prunable parameter"),
    "unknown name": (_bad(lambda ctx, m: {**m, "nope.weight": torch.ones(1, dtype=torch.bool)}),
                     "'nope.weight', which is not a parameter"),
    "not a dict": (_bad(lambda ctx, m: list(m.values())), "expected a dict"),
    "keeps everything": (_bad(lambda ctx, m: {n: torch.ones_like(v) for n, v in m.items()}), "keeps 18,756"),
    "one layer left dense": (_bad(lambda ctx, m: {n: v.clone().fill_(True) if n == "fc.weight" else v
                                                   for n, v in m.items()}), "expected"),
    "zeroes weights": (_bad(lambda ctx, m: [ctx.prunable[n].data.mul_(v) for n, v in m.items()] and None),
                       "changed weights 'conv1.weight'"),
    "replaces a weight": (_bad(lambda ctx, m: setattr(ctx.model.fc, "weight", nn.Parameter(ctx.model.fc.weight * 1))),
                          "replaced parameter 'fc.weight'"),
    "train-mode forward": (_bad(_forward_in_train_mode), "buffer 'bn1.running_mean'"),
    "leaves .grad": (_bad(_backward), "left a .grad"),
    "eval at the end": (_bad(lambda ctx, m: [ctx.model.eval()] and None), "changed the mode of module"),
    "restores only the root": (_bad(lambda ctx, m: [ctx.model.train(ctx.model.training)] and None),
                               "changed the mode of module 'conv1'"),
    "forward hook": (_bad(lambda ctx, m: ctx.model.fc.register_forward_hook(lambda *a: None) and None),
                     "changed the hooks of module 'fc'"),
    "tensor hook": (_bad(lambda ctx, m: ctx.prunable["fc.weight"].register_hook(lambda g: g) and None),
                    "tensor hooks on parameter 'fc.weight'"),
    "global hook": (_bad(lambda ctx, m: nn.modules.module.register_module_forward_hook(lambda *a: None) and None),
                    "global module hooks"),
    "requires_grad": (_bad(lambda ctx, m: [ctx.prunable["fc.weight"].requires_grad_(False)] and None), "requires_grad"),
    "unseeded randomness": (lambda ctx: ctx.masks({n: torch.rand(w.shape) for n, w in ctx.prunable.items()}),
                            "not deterministic"),
    "uses data undeclared": (_bad(lambda ctx, m: ctx.batch() and None), "declare needs_data=True"),
}


@pytest.mark.parametrize("fault", list(FAULTY))
def test_faulty_strategy_is_rejected_with_a_clear_message(fault):
    compute, message = FAULTY[fault]
    spec = StrategySpec("kit-bad", "Faulty", compute, needs_data=fault != "uses data undeclared")
    with pytest.raises(AssertionError, match="strategy 'kit-bad'") as info:
        check_strategy(spec, compressions=(1, 4, 8))
    assert message in str(info.value)
    nn.modules.module._global_forward_hooks.clear()  # the "global hook" fault leaves one behind


def test_existing_grad_must_be_kept():
    def clears_grads(ctx):
        ctx.model.zero_grad()
        return magnitude(ctx)

    check_strategy(StrategySpec("kit-bad", "Faulty", clears_grads), compressions=(2,))  # grads were None
    with pytest.raises(AssertionError, match="changed the existing .grad"):
        check_strategy(StrategySpec("kit-bad", "Faulty", clears_grads), compressions=(2, 4))


def test_tolerance_allows_a_few_tie_weights():
    def one_extra(ctx):
        masks = magnitude(ctx)
        flat = masks["fc.weight"].view(-1)
        flat[(~flat).nonzero()[0]] = True
        return masks

    check_strategy(StrategySpec("kit-ties", "Ties", one_extra), compressions=(4,), tolerance=1)
    with pytest.raises(AssertionError, match="keeps 4,535 prunable weights, expected 4,534"):
        check_strategy(StrategySpec("kit-ties", "Ties", one_extra), compressions=(4,), tolerance=0)


def test_unreachable_compression_and_missing_batches_are_reported():
    small = lambda: make_tiny_model(num_classes=1000)  # noqa: E731 - the classifier dominates
    with pytest.raises(AssertionError, match="out of reach"):
        check_strategy(good_spec(), model_factory=small, compressions=(64,))
    with pytest.raises(ValueError, match="pass batches="):
        check_strategy(good_spec(needs_data=True), model_factory=make_tiny_model)


def test_data_strategy_gets_the_tiny_batches():
    seen = []

    def uses_data(ctx):
        seen.append(ctx.batch()[0].shape)
        return magnitude(ctx)

    check_strategy(good_spec(needs_data=True, compute=uses_data), compressions=(2,))
    assert seen == [torch.Size([8, 1, 12, 12])] * 2


# -- fixtures and tiny model -----------------------------------------------------------------------------


def test_tiny_model_fixture(tiny_model, tiny_batches):
    x, y = next(tiny_batches())
    assert tiny_model(x).shape == (8, 10) and y.dtype == torch.int64 and int(y.max()) < 10
    assert list(prunable_parameters(tiny_model)) == ["conv1.weight", "conv2.weight", "fc.weight"]
    assert weights_to_keep(tiny_model, prunable_parameters(tiny_model), 64) > 0
    state = torch.get_rng_state()
    assert torch.equal(make_tiny_model().fc.weight, tiny_model.fc.weight)
    assert torch.equal(torch.get_rng_state(), state)


def test_tiny_batches_repeat_identically(tiny_batches, tiny_dataset):
    first, second = list(tiny_batches()), list(tiny_batches())
    assert len(first) == 2 and all(torch.equal(a[0], b[0]) for a, b in zip(first, second, strict=True))
    first[0][0].zero_()  # callers get copies
    assert not torch.equal(next(tiny_batches())[0], first[0][0])
    assert len(tiny_dataset) == 32 and tiny_dataset[0][0].shape == (1, 12, 12)


def test_registry_fixture_is_fresh_and_served_by_get_registry(shrinkbench_registry):
    assert get_registry() is shrinkbench_registry
    assert all(p.status in {"ok", "failed", "disabled", "conflict"} for p in shrinkbench_registry.plugins)


def test_plugin_manager_fixture(shrinkbench_plugin_manager):
    assert hasattr(shrinkbench_plugin_manager.hook, "shrinkbench_strategies")
    assert shrinkbench_plugin_manager.get_plugins() == set()


def test_cli_runner_fixture(cli_runner):
    assert type(cli_runner).__name__ == "CliRunner"


def test_kit_module_imports_no_torch():
    import subprocess

    code = "import sys, shrinkbench.testing; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- models ----------------------------------------------------------------------------------------------


def _tiny_build(num_classes, input_shape, pretrained=None):
    return make_tiny_model(num_classes=num_classes, in_channels=input_shape[0])


def test_good_model_passes():
    model = check_model(ModelSpec("kit-net", "Tiny", _tiny_build, max_size=12), num_classes=7)
    assert model.classifier.out_features == 7


def test_model_input_shape_must_be_compatible():
    with pytest.raises(AssertionError, match="at most 12px"):
        check_model(ModelSpec("kit-net", "Tiny", _tiny_build, max_size=12), input_shape=(1, 32, 32))


def _broken_model(kind):
    def build(num_classes, input_shape, pretrained=None):
        model = make_tiny_model(num_classes=num_classes)
        if kind == "outputs":
            model.classifier = nn.Linear(16, num_classes + 1)
        elif kind == "head":
            model.shrinkbench_classifier = "flatten"
        elif kind == "unused":
            model.fc.spare = nn.Linear(3, 3)  # never called
        return model

    return ModelSpec(f"kit-{kind}", "Broken", build, max_size=12)


@pytest.mark.parametrize(("kind", "message"), [
    ("outputs", "output shape (2, 11), expected (2, 10)"),
    ("head", "classifier 'flatten' is a Flatten"),
    ("unused", "'fc.spare.weight' gets no gradient"),
])
def test_faulty_model_is_rejected(kind, message):
    with pytest.raises(AssertionError, match=f"model 'kit-{kind}'") as info:
        check_model(_broken_model(kind), input_shape=(1, 12, 12))
    assert message in str(info.value)


# -- datasets --------------------------------------------------------------------------------------------


def _dataset_spec(fault=None, bundled=True):
    def load(split, root, augment):
        if fault == "missing":
            raise DataNotFoundError(f"no files in {root}")
        xs, ys = zip(*make_tiny_batches(n_batches=2, seed=int(split == "test"))(), strict=True)
        x, y = torch.cat(xs), torch.cat(ys)
        if fault == "shape":
            x = x[:, :, :10]
        if fault == "label":
            y = y + 10
        if fault == "constant":
            y = torch.zeros_like(y)
        return torch.utils.data.TensorDataset(x, y)

    return DatasetSpec("kit-data", "Tiny", load, num_classes=10, input_shape=(1, 12, 12), bundled=bundled)


def test_good_dataset_passes():
    assert check_dataset(_dataset_spec()) == {"train": 16, "test": 16}


@pytest.mark.parametrize(("fault", "message"), [
    ("shape", "input shape (1, 10, 12), declared (1, 12, 12)"),
    ("label", "is outside [0, 10)"),
    ("constant", "every sampled item has label 0"),
    ("missing", "no files in"),
])
def test_faulty_dataset_is_rejected(fault, message):
    with pytest.raises(AssertionError, match="dataset 'kit-data'") as info:
        check_dataset(_dataset_spec(fault))
    assert message in str(info.value)


def test_missing_files_of_a_downloadable_dataset_skip():
    with pytest.raises(pytest.skip.Exception, match="not available here"):
        check_dataset(_dataset_spec("missing", bundled=False))


# -- metrics ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", core_metrics(), ids=lambda s: s.name)
def test_core_metrics_pass(spec):
    values = check_metric(spec)
    assert set(values) == set(spec.columns)


def _metric(fn, columns=("a", "b")):
    return MetricSpec("kit-metric", "Test metric", fn, columns=columns)


def _adds_buffer(ctx):
    ctx.model.register_buffer("total_ops", torch.zeros(1))
    return {"a": 1.0, "b": 2.0}


def _root_mode_only(ctx):
    """Restores only the root's mode, as the built-in metrics once did: flattens a mixed-mode model."""
    was_training = ctx.model.training
    ctx.model.eval()
    ctx.model.train(was_training)
    return {"a": 1.0, "b": 2.0}


@pytest.mark.parametrize(("fn", "message"), [
    pytest.param(_root_mode_only, "changed the mode of module", id="flattens-modes"),
    pytest.param(lambda ctx: {"a": 1.0}, "missing columns ['b']", id="missing"),
    pytest.param(lambda ctx: {"a": 1.0, "b": 2.0, "c": 3.0}, "undeclared columns ['c']", id="undeclared"),
    pytest.param(lambda ctx: {"a": 1.0, "b": float("nan")}, "column 'b' is nan", id="nan"),
    pytest.param(lambda ctx: {"a": 1.0, "b": torch.tensor(2.0)}, "column 'b' is Tensor", id="tensor"),
    pytest.param(_adds_buffer, "changed the state_dict keys", id="adds-buffer"),
])
def test_faulty_metric_is_rejected(fn, message):
    with pytest.raises(AssertionError, match="metric 'kit-metric'") as info:
        check_metric(_metric(fn))
    assert message in str(info.value)
