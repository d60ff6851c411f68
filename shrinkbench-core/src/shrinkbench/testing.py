"""Conformance kit for ShrinkBench plugins: pytest fixtures and ``check_*`` functions.

Core registers this module as a pytest plugin (entry point ``pytest11: shrinkbench``), so in any environment
with ``shrinkbench-core`` installed the fixtures below are available without a ``conftest.py``::

    from shrinkbench.testing import check_strategy

    def test_my_strategy():
        check_strategy("my-strategy")               # looked up among the installed plugins

    def test_my_model(tiny_batches):
        check_model("my-net", num_classes=10, input_shape=(3, 32, 32))

Every ``check_*`` raises ``AssertionError`` with a message naming the plugin object, the parameter and what
was wrong. This module is loaded in every pytest run of the environment: torch is imported only inside the
functions that need it.

Fixtures: ``shrinkbench_registry`` (a fresh registry of the installed plugins, also served by
``shrinkbench.plugins.get_registry()`` during the test), ``shrinkbench_plugin_manager`` (an empty pluggy
manager with ShrinkBench's hook specs), ``tiny_model``, ``tiny_batches``, ``tiny_dataset`` and ``cli_runner``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from .specs import DatasetSpec, MetricSpec, ModelSpec, StrategySpec

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .plugins import Registry

TINY_INPUT_SHAPE: tuple[int, int, int] = (1, 12, 12)
TINY_NUM_CLASSES = 10
DEFAULT_COMPRESSIONS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64)

# -- tiny model and data ---------------------------------------------------------------------------------


def make_tiny_model(seed: int = 0, num_classes: int = TINY_NUM_CLASSES, in_channels: int = 1) -> nn.Module:
    """A small CNN for (in_channels, 12, 12) inputs, initialised from ``seed`` (global RNG left untouched).

    conv 1->4 3x3, BatchNorm, conv 4->8 3x3 (both padded), linear 1152->16, dropout, linear classifier
    16->``num_classes`` (named by ``shrinkbench_classifier``). 18,962 parameters with 10 classes, of which
    18,756 are prunable, so compressions up to 64 are reachable; BatchNorm and dropout make strategies that
    run the model in train mode visible (changed running stats, non-deterministic masks).
    """
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential()
        model.add_module("conv1", nn.Conv2d(in_channels, 4, 3, padding=1))
        model.add_module("bn1", nn.BatchNorm2d(4))
        model.add_module("relu1", nn.ReLU())
        model.add_module("conv2", nn.Conv2d(4, 8, 3, padding=1))
        model.add_module("relu2", nn.ReLU())
        model.add_module("flatten", nn.Flatten())
        model.add_module("fc", nn.Linear(8 * 12 * 12, 16))
        model.add_module("relu3", nn.ReLU())
        model.add_module("dropout", nn.Dropout(0.25))
        model.add_module("classifier", nn.Linear(16, num_classes))
    model.shrinkbench_classifier = "classifier"
    return model


def make_tiny_batches(
    n_batches: int = 2,
    batch_size: int = 8,
    input_shape: Sequence[int] = TINY_INPUT_SHAPE,
    num_classes: int = TINY_NUM_CLASSES,
    seed: int = 0,
) -> Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """A ``batches()`` callable as :class:`shrinkbench.pruning.PruningContext` expects: every call returns a new
    iterator over the same ``n_batches`` seeded ``(inputs, int64 targets)`` batches (fresh copies each time)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    data = [
        (torch.randn((batch_size, *input_shape), generator=gen),
         torch.randint(0, num_classes, (batch_size,), generator=gen))
        for _ in range(n_batches)
    ]

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return ((x.clone(), y.clone()) for x, y in data)

    return batches


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def shrinkbench_registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A registry freshly built from the installed plugins; ``get_registry()`` returns it during the test.

    For plugins that are not installed use ``shrinkbench.plugins.load_registry(inline=[("name", module)],
    entry_points=False)``.
    """
    from . import plugins

    registry = plugins.load_registry()
    monkeypatch.setattr(plugins, "_default", registry)
    return registry


@pytest.fixture
def shrinkbench_plugin_manager():
    """An empty pluggy ``PluginManager`` that knows ShrinkBench's hook specifications."""
    from .plugins import new_plugin_manager

    return new_plugin_manager()


@pytest.fixture
def tiny_model() -> nn.Module:
    """A fresh :func:`make_tiny_model` (seed 0, 10 classes, input (1, 12, 12)) in train mode."""
    return make_tiny_model()


@pytest.fixture
def tiny_batches() -> Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """A :func:`make_tiny_batches` callable: two seeded batches of 8 inputs (1, 12, 12) with labels < 10."""
    return make_tiny_batches()


@pytest.fixture
def tiny_dataset():
    """A seeded ``TensorDataset`` of 32 ``(input (1, 12, 12), label < 10)`` examples."""
    import torch
    from torch.utils.data import TensorDataset

    xs, ys = zip(*make_tiny_batches(n_batches=4, batch_size=8)(), strict=True)
    return TensorDataset(torch.cat(xs), torch.cat(ys))


@pytest.fixture
def cli_runner():
    """A ``click.testing.CliRunner`` (the test is skipped when click is not installed)."""
    click_testing = pytest.importorskip("click.testing")
    return click_testing.CliRunner()


# -- helpers ---------------------------------------------------------------------------------------------


def _resolve(kind: str, spec_or_name: Any, spec_type: type, registry: Registry | None) -> Any:
    if isinstance(spec_or_name, spec_type):
        return spec_or_name
    if not isinstance(spec_or_name, str):
        raise TypeError(f"expected a {spec_type.__name__} or a name, got {type(spec_or_name).__name__}")
    from .plugins import get_registry

    return (registry or get_registry()).get(kind, spec_or_name)


def _hooks(obj: Any) -> dict[str, tuple]:
    """Handles of every hook dict on a module or the torch.nn.modules.module globals."""
    return {k: tuple(v) for k, v in vars(obj).items() if "hook" in k and isinstance(v, Mapping)}


def _tensor_hooks(tensor: torch.Tensor) -> tuple:
    """Handles of the hooks registered on a tensor (``register_hook``, post-accumulate-grad hooks)."""
    names = ("_backward_hooks", "_post_accumulate_grad_hooks")
    return tuple(tuple(getattr(tensor, n, None) or ()) for n in names)


class _Snapshot:
    """Everything a strategy or metric must leave as it found it on a model."""

    def __init__(self, model: nn.Module) -> None:
        import torch
        import torch.nn.modules.module as module_globals

        self._globals = module_globals
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.params = {
            n: (id(p), p.requires_grad, None if p.grad is None else p.grad.detach().clone(), _tensor_hooks(p))
            for n, p in model.named_parameters()
        }
        self.modes = {n: m.training for n, m in model.named_modules()}
        self.hooks = {n: _hooks(m) for n, m in model.named_modules()}
        self.global_hooks = _hooks(module_globals)
        self.grad_enabled = torch.is_grad_enabled()

    def problems(self, model: nn.Module) -> list[str]:
        import torch

        out: list[str] = []
        state = model.state_dict()
        if set(state) != set(self.state):
            added, gone = sorted(set(state) - set(self.state)), sorted(set(self.state) - set(state))
            out.append(f"changed the state_dict keys (added {added[:3]}, removed {gone[:3]})")
        for k, before in self.state.items():
            if k in state and not (state[k].shape == before.shape and torch.equal(state[k].detach(), before)):
                out.append(f"changed {'buffer' if k not in self.params else 'weights'} {k!r}")
        params = dict(model.named_parameters())
        for n, (ident, requires_grad, grad, hooks) in self.params.items():
            p = params.get(n)
            if p is None or id(p) != ident:
                out.append(f"replaced parameter {n!r}")
                continue
            if p.requires_grad != requires_grad:
                out.append(f"changed requires_grad of {n!r}")
            if grad is None and p.grad is not None:
                out.append(f"left a .grad on {n!r} (it was None)")
            elif grad is not None and (p.grad is None or not torch.equal(p.grad, grad)):
                out.append(f"changed the existing .grad of {n!r}")
            if _tensor_hooks(p) != hooks:
                out.append(f"left tensor hooks on parameter {n!r}")
        modules = dict(model.named_modules())
        for n, training in self.modes.items():
            if n in modules and modules[n].training != training:
                out.append(f"changed the mode of module {n or '<model>'!r} to {'train' if not training else 'eval'}")
            if n in modules and _hooks(modules[n]) != self.hooks[n]:
                out.append(f"changed the hooks of module {n or '<model>'!r}")
        if _hooks(self._globals) != self.global_hooks:
            out.append("changed the global module hooks (torch.nn.modules.module)")
        if torch.is_grad_enabled() != self.grad_enabled:
            out.append("changed torch's grad mode")
        return out

    def assert_unchanged(self, model: nn.Module, who: str) -> None:
        problems = self.problems(model)
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise AssertionError(f"{who} must leave the model as it found it, but it " + "; ".join(problems[:5]) + more)


def _prepare(model: nn.Module, variant: int) -> Callable[[], None]:
    """Put the model in a state a careless strategy would disturb; returns the undo function.

    Even variants: train mode with the first leaf module in eval mode (so restoring only the root's mode is
    caught) and a no-op forward hook. Odd variants: eval mode and a preexisting ``.grad`` on every parameter.
    """
    import torch

    if variant % 2 == 0:
        model.train()
        leaf = next((m for m in model.modules() if not any(True for _ in m.children())), model)
        leaf.eval()
        handle = model.register_forward_hook(lambda *_: None)
        return handle.remove
    model.eval()
    gen = torch.Generator().manual_seed(variant)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=gen).to(p)
    return lambda: None


# -- conformance checks ----------------------------------------------------------------------------------


def check_strategy(
    spec_or_name: StrategySpec | str,
    model_factory: Callable[[], nn.Module] | None = None,
    compressions: Sequence[float] = DEFAULT_COMPRESSIONS,
    registry: Registry | None = None,
    *,
    batches: Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]] | None = None,
    seed: int = 0,
    tolerance: int = 5,
) -> dict[float, float]:
    """Assert that a strategy honours the strategy contract at every compression; return target -> achieved.

    For each compression, on a fresh ``model_factory()`` (default :func:`make_tiny_model`): the masks are
    boolean, shaped like their parameters and cover exactly the prunable parameters
    (:func:`shrinkbench.pruning.prunable_parameters`); they keep :func:`shrinkbench.pruning.weights_to_keep`
    weights, ± ``tolerance`` (ties); the model's weights, buffers, parameters' ``.grad`` and
    ``requires_grad``, module and tensor hooks, and every module's train/eval mode are unchanged; a second
    computation with the same ``seed`` gives equal masks. ``batches`` is handed to strategies with
    ``needs_data`` (default :func:`make_tiny_batches`, which only fits the default model); strategies without
    it get none. A name is looked up in ``registry`` (default: the installed plugins).
    """
    import torch

    from .errors import CompressionError, MaskError
    from .masking import validate_masks
    from .pruning import count_parameters, make_context, weights_to_keep

    spec = _resolve("strategies", spec_or_name, StrategySpec, registry)
    compute = spec.load()
    who = f"strategy {spec.name!r}"
    if spec.needs_data and batches is None:
        if model_factory is not None:
            raise ValueError(f"{who} needs data: pass batches= that fit the model built by model_factory")
        batches = make_tiny_batches()
    data = batches if spec.needs_data else None
    factory = model_factory or make_tiny_model
    achieved: dict[float, float] = {}
    for variant, compression in enumerate(compressions):
        model = factory()
        undo = _prepare(model, variant)
        snapshot = _Snapshot(model)
        runs = []
        for attempt in ("first", "second"):
            try:
                ctx = make_context(model, compression, seed=seed, batches=data)
            except CompressionError as exc:
                raise AssertionError(f"compression {compression:g} is out of reach for this model ({exc}); "
                                     "pass smaller compressions= or a bigger model_factory=") from exc
            where = f"{who} at compression {compression:g}"
            try:
                masks = compute(ctx)
            except Exception as exc:
                hint = " (it calls ctx.batch(): declare needs_data=True)" if data is None and "batch" in str(exc) else ""
                raise AssertionError(f"{where} raised {type(exc).__name__}: {exc}{hint}") from exc
            try:
                validate_masks(model, masks, expected=set(ctx.prunable), source=where)
            except MaskError as exc:
                raise AssertionError(str(exc)) from exc
            snapshot.assert_unchanged(model, f"{where} ({attempt} computation)")
            runs.append(masks)
        first, second = runs
        for name in first:
            if not torch.equal(first[name].cpu(), second[name].cpu()):
                raise AssertionError(f"{who} is not deterministic: with seed {seed} the mask of {name!r} differs "
                                     "between two computations (use ctx.generator for randomness)")
        kept = sum(int(m.sum()) for m in first.values())
        want = weights_to_keep(model, ctx.prunable, compression)
        total = count_parameters(model)
        dense_rest = total - sum(p.numel() for p in ctx.prunable.values())
        achieved[compression] = total / (kept + dense_rest) if kept + dense_rest else math.inf
        if abs(kept - want) > tolerance:
            raise AssertionError(
                f"{who} at compression {compression:g} keeps {kept:,} prunable weights, expected {want:,} "
                f"(± {tolerance}): achieved compression {achieved[compression]:.4g}")
        undo()
    return achieved


def _default_input_shape(spec: ModelSpec) -> tuple[int, int, int]:
    side = max(spec.min_size, 32)
    if spec.max_size is not None:
        side = min(side, spec.max_size)
    return (spec.in_channels or 3, side, side)


def check_model(
    spec: ModelSpec | str,
    num_classes: int = 10,
    input_shape: Sequence[int] | None = None,
    registry: Registry | None = None,
) -> nn.Module:
    """Assert that a model spec builds a working model; return it.

    The model builds for ``num_classes`` and (C, H, W) ``input_shape`` (default: 32 px, clipped to the spec's
    size bounds, ``in_channels`` or 3 channels); a train-mode forward of 2 inputs gives finite
    ``(2, num_classes)`` logits and backward reaches every prunable weight; an eval-mode forward of one input
    works; the classifier (:func:`shrinkbench.pruning.classifier_name`) is a linear/conv layer with
    ``num_classes`` outputs and is not prunable; the state_dict survives ``torch.load(weights_only=True)``.
    """
    import io

    import torch
    from torch import nn

    from .pruning import PRUNABLE_TYPES, classifier_name, prunable_parameters

    spec = _resolve("models", spec, ModelSpec, registry)
    who = f"model {spec.name!r}"
    shape = tuple(input_shape) if input_shape is not None else _default_input_shape(spec)
    reason = spec.incompatibility(shape)
    assert reason is None, f"{who} rejects input shape {shape}: {reason}"
    build = spec.load()
    model = build(num_classes, shape, None)
    assert isinstance(model, nn.Module), f"{who} built {type(model).__name__}, expected a torch.nn.Module"
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((2, *shape), generator=gen)
    model.train()
    out = model(x)
    assert isinstance(out, torch.Tensor), f"{who} returned {type(out).__name__} in train mode, expected logits"
    assert tuple(out.shape) == (2, num_classes), f"{who} output shape {tuple(out.shape)}, expected (2, {num_classes})"
    assert torch.isfinite(out).all(), f"{who} returned non-finite logits"
    torch.nn.functional.cross_entropy(out, torch.tensor([0, num_classes - 1])).backward()
    prunable = prunable_parameters(model)
    assert prunable, f"{who} has no prunable (linear/conv) weights besides its classifier"
    for name, p in prunable.items():
        assert p.grad is not None, f"{who}: prunable parameter {name!r} gets no gradient (unused in forward?)"
    model.zero_grad(set_to_none=True)
    head = classifier_name(model)
    modules = dict(model.named_modules())
    assert head is not None and head in modules, f"{who}: classifier {head!r} is not a module of the model"
    assert isinstance(modules[head], PRUNABLE_TYPES), (
        f"{who}: classifier {head!r} is a {type(modules[head]).__name__}; name the linear/conv layer itself "
        "in shrinkbench_classifier")
    outputs = getattr(modules[head], "out_features", getattr(modules[head], "out_channels", None))
    assert outputs == num_classes, f"{who}: classifier {head!r} has {outputs} outputs, expected {num_classes}"
    assert all(p is not modules[head].weight for p in prunable.values()), f"{who}: classifier {head!r} is prunable"
    model.eval()
    with torch.no_grad():
        single = model(x[:1])
    assert tuple(single.shape) == (1, num_classes), f"{who} eval output shape {tuple(single.shape)}"
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    build(num_classes, shape, None).load_state_dict(torch.load(buffer, weights_only=True))
    return model


def check_dataset(
    spec: DatasetSpec | str,
    root: Any = None,
    max_items: int = 16,
    registry: Registry | None = None,
    skip_missing: bool = True,
) -> dict[str, int]:
    """Assert that a dataset spec loads both splits correctly; return the number of examples per split.

    For ``train`` and ``test`` (and ``train`` with augmentation), up to ``max_items`` items spread evenly over
    the dataset are ``(float tensor of spec.input_shape, integer label in [0, num_classes))`` with finite
    values, and the sampled labels are not all equal. A non-bundled dataset whose files are missing
    (:class:`shrinkbench.errors.DataNotFoundError`) skips the test when ``skip_missing``.
    """
    import torch

    from .errors import DataNotFoundError

    spec = _resolve("datasets", spec, DatasetSpec, registry)
    load = spec.loader()
    sizes: dict[str, int] = {}
    for split, augment in (("train", False), ("test", False), ("train", True)):
        who = f"dataset {spec.name!r} ({split}{', augmented' if augment else ''})"
        try:
            dataset = load(split, root, augment)
        except DataNotFoundError as exc:
            if skip_missing and not spec.bundled:
                pytest.skip(f"dataset {spec.name!r} is not available here: {exc}")
            raise AssertionError(f"{who}: {exc}") from exc
        n = len(dataset)
        assert n > 0, f"{who} is empty"
        sizes.setdefault(split, n)
        labels = []
        for i in sorted({round(k * (n - 1) / max(1, max_items - 1)) for k in range(min(n, max_items))}):
            item = dataset[i]
            assert isinstance(item, (tuple, list)) and len(item) == 2, f"{who}[{i}] is not an (input, label) pair"
            x, y = item
            assert isinstance(x, torch.Tensor), f"{who}[{i}] input is {type(x).__name__}, expected a tensor"
            assert tuple(x.shape) == tuple(spec.input_shape), (
                f"{who}[{i}] input shape {tuple(x.shape)}, declared {tuple(spec.input_shape)}")
            assert x.is_floating_point() and torch.isfinite(x).all(), f"{who}[{i}] input is not finite floats"
            if isinstance(y, torch.Tensor) and y.dim() == 0 and not y.is_floating_point() and y.dtype != torch.bool:
                y = int(y)
            assert isinstance(y, numbers.Integral) and not isinstance(y, bool), (
                f"{who}[{i}] label is {type(y).__name__}, expected an int")
            assert 0 <= y < spec.num_classes, f"{who}[{i}] label {y} is outside [0, {spec.num_classes})"
            labels.append(int(y))
        assert len(labels) < 2 or spec.num_classes < 2 or len(set(labels)) > 1, (
            f"{who}: every sampled item has label {labels[0]}")
    return sizes


def check_metric(
    spec: MetricSpec | str,
    registry: Registry | None = None,
    model: nn.Module | None = None,
    example_input: torch.Tensor | None = None,
    loader: Any = None,
) -> dict[str, float]:
    """Assert that a metric returns exactly its declared columns as finite numbers; return the last values.

    Measures ``model`` (default :func:`make_tiny_model`) dense and then pruned to compression 4 by magnitude;
    ``example_input`` defaults to one tiny input and ``loader`` (given to ``needs_data`` metrics only) to the
    tiny batches. The metric must leave the model, its buffers, hooks and modes unchanged.
    """
    from .masking import apply_masks
    from .metrics import MetricContext
    from .pruning import masks_from_scores, prunable_parameters

    spec = _resolve("metrics", spec, MetricSpec, registry)
    who = f"metric {spec.name!r}"
    compute = spec.load()
    model = model if model is not None else make_tiny_model()
    if example_input is None:
        example_input = next(make_tiny_batches(n_batches=1, batch_size=1)())[0]
    if spec.needs_data and loader is None:
        loader = list(make_tiny_batches()())
    values: dict[str, float] = {}
    for state in ("dense", "pruned"):
        if state == "pruned":
            scores = {n: p.detach().abs() for n, p in prunable_parameters(model).items()}
            apply_masks(model, masks_from_scores(scores, model, 4.0)).remove()
        snapshot = _Snapshot(model)
        values = compute(MetricContext(model, example_input, loader if spec.needs_data else None))
        assert isinstance(values, Mapping), f"{who} returned {type(values).__name__}, expected a dict"
        missing, extra = set(spec.columns) - set(values), set(values) - set(spec.columns)
        assert not missing and not extra, (
            f"{who} on the {state} model: missing columns {sorted(missing)}, undeclared columns {sorted(extra)}")
        for column, value in values.items():
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            assert ok, f"{who}: column {column!r} is {type(value).__name__}, expected a float"
            assert math.isfinite(value), f"{who}: column {column!r} is {value} on the {state} model"
        snapshot.assert_unchanged(model, who)
    return dict(values)
