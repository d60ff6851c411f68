"""The conformance checks: ``check_strategy``, ``check_n_m``, ``check_model``, ``check_dataset``,
``check_metric``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from ..specs import DatasetSpec, MetricSpec, ModelSpec, StrategySpec

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..plugins import Registry

from .guards import _one_thread, _prepare, _resolve, _Snapshot
from .tiny import (
    DEFAULT_COMPRESSIONS,
    N_M_INPUT_SHAPE,
    Batches,
    make_n_m_models,
    make_tiny_batches,
    make_tiny_model,
)


def check_strategy(spec_or_name: StrategySpec | str, model_factory: Callable[[], nn.Module] | None = None,
                   compressions: Sequence[float] = DEFAULT_COMPRESSIONS, registry: Registry | None = None, *,
                   batches: Batches | None = None, seed: int = 0, tolerance: int = 5) -> dict[float, float]:
    """Assert that a strategy honours the strategy contract at every compression; return target -> achieved.

    For each compression, on a fresh ``model_factory()`` (default :func:`make_tiny_model`), the masks are
    boolean, shaped like their parameters and cover exactly the prunable parameters
    (:func:`shrinkbench.pruning.prunable_parameters`); they keep :func:`shrinkbench.pruning.weights_to_keep`
    weights ± ``tolerance`` (ties); the model's weights, buffers, ``.grad``, ``requires_grad``, module and
    tensor hooks and every module's train/eval mode are unchanged; a second computation with the same ``seed``
    gives equal masks. Strategies with ``needs_data`` get ``batches`` (default :func:`make_tiny_batches`,
    which fits only the default model), the others none. Names are looked up in ``registry`` (default: the
    installed plugins).
    """
    import torch

    from ..errors import CompressionError, MaskError
    from ..masking import validate_masks
    from ..pruning import count_parameters, make_context, weights_to_keep

    spec = _resolve("strategies", spec_or_name, StrategySpec, registry)
    compute, who = spec.load(), f"strategy {spec.name!r}"
    if spec.calibration:
        raise ValueError(f"{who} calibrates (it may zero and update weights in place): check it with "
                         "shrinkbench.testing.check_calibration_strategy(spec, model_factory, calibration, compressions)")
    if spec.needs_data and batches is None:
        if model_factory is not None:
            raise ValueError(f"{who} needs data: pass batches= that fit the model built by model_factory")
        batches = make_tiny_batches()
    data = batches if spec.needs_data else None
    achieved: dict[float, float] = {}
    for variant, compression in enumerate(compressions):
        where = f"{who} at compression {compression:g}"
        model = (model_factory or make_tiny_model)()
        undo = _prepare(model, variant)
        snapshot = _Snapshot(model)
        runs = []
        for attempt in ("first", "second"):
            try:
                ctx = make_context(model, compression, seed=seed, batches=data)
            except CompressionError as exc:
                raise AssertionError(f"compression {compression:g} is out of reach for this model ({exc}); "
                                     "pass smaller compressions= or a bigger model_factory=") from exc
            try:
                with _one_thread(model_factory is None):
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
        for name, mask in runs[0].items():
            if not torch.equal(mask.cpu(), runs[1][name].cpu()):
                raise AssertionError(f"{who} is not deterministic: with seed {seed} the mask of {name!r} differs "
                                     "between two computations (use ctx.generator for randomness)")
        kept = sum(int(m.count_nonzero()) for m in runs[0].values())
        want = weights_to_keep(model, ctx.prunable, compression)
        total = count_parameters(model)
        dense = total - sum(p.numel() for p in ctx.prunable.values())
        achieved[compression] = total / (kept + dense) if kept + dense else math.inf
        if abs(kept - want) > tolerance:
            raise AssertionError(f"{where} keeps {kept:,} prunable weights, expected {want:,} (± {tolerance}): "
                                 f"achieved compression {achieved[compression]:.5g}")
        undo()
    return achieved


def check_n_m(spec_or_name: StrategySpec | str, n: int = 2, m: int = 4,
              factors: Sequence[float] = (1, 1.25, 2, 4), registry: Registry | None = None, *, seed: int = 0,
              tolerance: int = 5) -> dict[str, dict[float, float]]:
    """Assert that an N:M strategy keeps at most ``n`` of every ``m`` weights along each layer's reduction
    dimension; return model name -> target -> achieved compression.

    The reduction dimension is the one sparse tensor cores (and NVIDIA's ASP) group along: a linear weight
    ``(out, in)`` along ``in``; a convolution ``(O, I/groups, *kernel)`` along its input channels at each
    ``(o, *kernel position)``; a transposed convolution ``(I, O/groups, *kernel)`` along dim 0 within each
    conv group (``I/groups`` channels) at each ``(o, *kernel position)``. A length that is not a multiple of
    ``m`` ends in a partial group, which may keep at most ``n`` too.

    The strategy runs on the models of :func:`make_n_m_models` (a linear, a conv, a grouped, a depthwise and a
    grouped transposed conv, 30% of their weights already exactly zero), on each at the pattern's own
    compression (every group keeping ``n``) times each of ``factors``. Every mask must be valid (boolean,
    shaped like its parameter), keep :func:`shrinkbench.pruning.weights_to_keep` weights ± ``tolerance``, and
    hold the pattern; ``AssertionError`` names the parameter and the weights of the offending group.
    Strategies with ``needs_data`` get :func:`make_tiny_batches` of (3, 8, 8) inputs.
    """
    from ..errors import CompressionError, MaskError
    from ..masking import validate_masks
    from ..modules import owner_module
    from ..pruning import count_parameters, make_context, prunable_parameters, weights_to_keep

    spec = _resolve("strategies", spec_or_name, StrategySpec, registry)
    compute, who = spec.load(), f"strategy {spec.name!r}"
    if spec.calibration:
        raise ValueError(f"{who} calibrates (it may zero and update weights in place): check it with "
                         "shrinkbench.testing.check_calibration_strategy(spec, model_factory, calibration, compressions)")
    data = make_tiny_batches(input_shape=N_M_INPUT_SHAPE) if spec.needs_data else None
    achieved: dict[str, dict[float, float]] = {}
    for model_name, probe in make_n_m_models(seed).items():
        total = count_parameters(probe)
        prunable = prunable_parameters(probe)
        dense = total - sum(p.numel() for p in prunable.values())
        most = sum(_n_m_capacity(p.shape, owner_module(probe, name), n, m) for name, p in prunable.items())
        achieved[model_name] = {}
        for factor in factors:
            model = make_n_m_models(seed)[model_name]
            compression = total / (dense + most) * factor
            where = (f"{who} at compression {compression:.4g} ({factor:g} x the {n}:{m} pattern's) on the "
                     f"{model_name} of make_n_m_models")
            try:
                ctx = make_context(model, compression, seed=seed, batches=data)
            except CompressionError as exc:
                raise AssertionError(f"compression {compression:.4g} is out of reach for the {model_name} of "
                                     f"make_n_m_models ({exc}); pass smaller factors=") from exc
            try:
                with _one_thread(True):
                    masks = compute(ctx)
            except Exception as exc:
                raise AssertionError(f"{where} raised {type(exc).__name__}: {exc}") from exc
            try:
                validate_masks(model, masks, expected=set(ctx.prunable), source=where)
            except MaskError as exc:
                raise AssertionError(str(exc)) from exc
            for name, mask in masks.items():
                _assert_n_m(mask, owner_module(model, name), n, m, f"{where}: the mask of {name!r}")
            kept = sum(int(mask.count_nonzero()) for mask in masks.values())
            want = weights_to_keep(model, ctx.prunable, compression)
            achieved[model_name][compression] = total / (dense + kept)
            if abs(kept - want) > tolerance:
                raise AssertionError(f"{where} keeps {kept:,} prunable weights, expected {want:,} "
                                     f"(± {tolerance})")
    return achieved


def _reduction_rows(tensor: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """``tensor``, shaped like ``module``'s weight, as rows (R, L) along the reduction dimension (see
    :func:`check_n_m`)."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        groups = module.groups
        # (I, O/g, *kernel) -> (g, I/g, O/g, *kernel)
        tensor = tensor.reshape(groups, tensor.shape[0] // groups, *tensor.shape[1:])
    moved = tensor.movedim(1, -1)  # (out, *kernel, in) or (g, O/g, *kernel, I/g); (out, in) stays
    return moved.reshape(-1, moved.shape[-1])


def _n_m_capacity(shape: torch.Size, module: nn.Module, n: int, m: int) -> int:
    """The most weights an N:M pattern keeps of a weight of ``shape`` (partial groups keep up to ``n``)."""
    import torch

    rows = _reduction_rows(torch.empty(shape, device="meta"), module)
    length = rows.shape[1]
    return rows.shape[0] * (n * (length // m) + min(n, length % m))


def _assert_n_m(mask: torch.Tensor, module: nn.Module, n: int, m: int, where: str) -> None:
    """Raise ``AssertionError`` naming the first group of ``m`` along the reduction dimension that keeps more
    than ``n``, by the weight indices of its kept entries."""
    import torch

    mask = mask.detach().cpu()
    rows = _reduction_rows(mask, module)
    index = _reduction_rows(torch.arange(mask.numel()).view(mask.shape), module)
    pad = (-rows.shape[1]) % m
    groups = torch.nn.functional.pad(rows.int(), (0, pad)).view(rows.shape[0], -1, m)
    bad = (groups.sum(-1) > n).nonzero()
    if bad.numel():
        row, group = bad[0].tolist()
        members = index[row, group * m:(group + 1) * m]
        kept = members[rows[row, group * m:(group + 1) * m]]
        places = ", ".join(str(tuple(int(i) for i in torch.unravel_index(k, mask.shape))) for k in kept)
        raise AssertionError(f"{where} ({type(module).__name__}, weight {tuple(mask.shape)}) keeps {kept.numel()} "
                             f"of a group of {members.numel()} along the reduction dimension (input channels), "
                             f"at most {n} allowed: the weights at {places}")


def check_model(spec: ModelSpec | str, num_classes: int = 10, input_shape: Sequence[int] | None = None,
                registry: Registry | None = None) -> nn.Module:
    """Assert that a model spec builds a working model; return it.

    It builds for ``num_classes`` and (C, H, W) ``input_shape`` (default: ``in_channels`` or 3 channels,
    32 px clipped to the spec's size bounds); a train-mode forward of 2 inputs gives finite
    ``(2, num_classes)`` logits and backward reaches every prunable weight; an eval-mode forward of 1 input
    works; the classifier (:func:`shrinkbench.modules.find_classifier`) is a linear/conv layer with
    ``num_classes`` outputs and is not prunable; the state_dict loads back with ``torch.load(weights_only=True)``.
    """
    import io

    import torch
    from torch import nn

    from ..modules import find_classifier
    from ..pruning import PRUNABLE_TYPES, prunable_parameters

    spec = _resolve("models", spec, ModelSpec, registry)
    who, build = f"model {spec.name!r}", spec.load()
    side = max(spec.min_size, 32) if spec.max_size is None else min(max(spec.min_size, 32), spec.max_size)
    shape = tuple(input_shape) if input_shape is not None else (spec.in_channels or 3, side, side)
    reason = spec.incompatibility(shape)
    assert reason is None, f"{who} rejects input shape {shape}: {reason}"
    model = build(num_classes, shape, None)
    assert isinstance(model, nn.Module), f"{who} built {type(model).__name__}, expected a torch.nn.Module"
    x = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0))
    out = model.train()(x)
    assert isinstance(out, torch.Tensor), f"{who} returned {type(out).__name__} in train mode, expected logits"
    assert tuple(out.shape) == (2, num_classes), f"{who} output shape {tuple(out.shape)}, expected (2, {num_classes})"
    assert torch.isfinite(out).all(), f"{who} returned non-finite logits"
    torch.nn.functional.cross_entropy(out, torch.tensor([0, num_classes - 1])).backward()
    prunable = prunable_parameters(model)
    assert prunable, f"{who} has no prunable (linear/conv) weights besides its classifier"
    for name, p in prunable.items():
        assert p.grad is not None, f"{who}: prunable parameter {name!r} gets no gradient (unused in forward?)"
    model.zero_grad(set_to_none=True)
    head, modules = find_classifier(model), dict(model.named_modules())
    assert head is not None and head in modules, f"{who}: classifier {head!r} is not a module of the model"
    assert isinstance(modules[head], PRUNABLE_TYPES), (f"{who}: classifier {head!r} is a {type(modules[head]).__name__}"
                                                       "; name the linear/conv layer itself in shrinkbench_classifier")
    outputs = getattr(modules[head], "out_features", getattr(modules[head], "out_channels", None))
    assert outputs == num_classes, f"{who}: classifier {head!r} has {outputs} outputs, expected {num_classes}"
    assert all(p is not modules[head].weight for p in prunable.values()), f"{who}: classifier {head!r} is prunable"
    with torch.no_grad():
        single = model.eval()(x[:1])
    assert tuple(single.shape) == (1, num_classes), f"{who} eval output shape {tuple(single.shape)}"
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    build(num_classes, shape, None).load_state_dict(torch.load(buffer, weights_only=True))
    return model


def check_dataset(spec: DatasetSpec | str, root: Any = None, max_items: int = 16, registry: Registry | None = None,
                  skip_missing: bool = True) -> dict[str, int]:
    """Assert that a dataset spec loads both splits correctly; return the number of examples per split.

    For ``train``, ``test`` and augmented ``train``, up to ``max_items`` items spread evenly over the dataset
    are ``(finite float tensor of spec.input_shape, integer label in [0, num_classes))``, and the sampled
    labels are not all equal. A non-bundled dataset whose files are missing
    (:class:`shrinkbench.errors.DataNotFoundError`) skips the calling test when ``skip_missing``.
    """
    import torch

    from ..errors import DataNotFoundError

    spec = _resolve("datasets", spec, DatasetSpec, registry)
    load, sizes = spec.load(), {}
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


def check_metric(spec: MetricSpec | str, registry: Registry | None = None, model: nn.Module | None = None,
                 example_input: torch.Tensor | None = None, loader: Any = None) -> dict[str, float]:
    """Assert that a metric returns exactly its declared columns as finite numbers; return the last values.

    Measures ``model`` (default :func:`make_tiny_model`) dense, then pruned to compression 4 by magnitude;
    ``example_input`` defaults to one tiny input, ``loader`` (given to ``needs_data`` metrics only) to the tiny
    batches. The metric must leave the model's weights, buffers, hooks and modes unchanged -- measured on a
    mixed-mode model (train mode with its first leaf module in eval mode), so restoring only the root's mode
    is caught.
    """
    from ..masking import apply_masks
    from ..metrics import MetricContext
    from ..pruning import masks_from_scores, prunable_parameters

    spec = _resolve("metrics", spec, MetricSpec, registry)
    compute, who, tiny = spec.load(), f"metric {spec.name!r}", model is None
    model = model if model is not None else make_tiny_model()
    if example_input is None:
        example_input = next(make_tiny_batches(n_batches=1, batch_size=1)())[0]
    if spec.needs_data and loader is None:
        loader = list(make_tiny_batches()())
    values: Any = {}
    for state in ("dense", "pruned"):
        if state == "pruned":
            scores = {n: p.detach().abs() for n, p in prunable_parameters(model).items()}
            apply_masks(model, masks_from_scores(scores, model, 4.0)).remove()
        undo = _prepare(model, variant=0)
        snapshot = _Snapshot(model)
        with _one_thread(tiny):
            values = compute(MetricContext(model, example_input, loader if spec.needs_data else None))
        assert isinstance(values, Mapping), f"{who} returned {type(values).__name__}, expected a dict"
        missing, extra = set(spec.columns) - set(values), set(values) - set(spec.columns)
        assert not missing and not extra, (
            f"{who} on the {state} model: missing columns {sorted(missing)}, undeclared columns {sorted(extra)}")
        for column, value in values.items():
            assert isinstance(value, numbers.Real) and not isinstance(value, bool), (
                f"{who}: column {column!r} is {type(value).__name__}, expected a float")
            assert math.isfinite(value), f"{who}: column {column!r} is {value} on the {state} model"
        snapshot.assert_unchanged(model, who)
        undo()
    return dict(values)

