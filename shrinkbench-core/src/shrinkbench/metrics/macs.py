"""Multiply-accumulates counted from the operations that execute, each attributed to the weight it reads.

One forward pass runs under a ``TorchDispatchMode`` that sees every aten operation below autograd.

**What is counted.** Every matrix product (``mm``, ``bmm``, ``mv``, ``dot``, ``vdot``, ``addmm``, ``addmv``,
``addr``, ``addbmm``, ``baddbmm``, ``_int_mm``, ``_scaled_mm``, ``_grouped_mm``, int8/int4 weight-only
kernels), convolution (``convolution`` and every backend kernel: mkldnn, cudnn, miopen, depthwise, slow,
transposed, ``conv_tbc``, torchvision's ``deform_conv2d``), fused attention (every ``_scaled_dot_product_*``
kernel, fused ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer``), fused recurrent kernel
(``mkldnn_rnn_layer`` -- ``nn.LSTM`` on the CPU --, ``_cudnn_rnn``, ``miopen_rnn``), ``nn.Bilinear``,
``cdist``/``pdist``: :data:`shrinkbench.metrics.mac_rules.RULES` lists them all with their rules; another
operation with a ``torch.utils.flop_counter`` formula (a library's custom op) counts as its FLOPs / 2,
weight-free. ``linear``, ``matmul``, ``einsum``, ``tensordot``, ``nn.GRU``/``nn.RNN`` and cells decompose into
these before the mode sees them. Normalisation, activations, additions, pooling, interpolation and elementwise products (``kron``,
``outer``) are not multiply-accumulates.

**What is flagged.** An executed operation that performs multiply-accumulates but has no rule -- the linear
algebra and compressed-sparse kernels of :data:`~shrinkbench.metrics.mac_rules.UNCOUNTED`, and any operation
(a custom or third-party op included) named like one (:func:`~shrinkbench.metrics.mac_rules.looks_like_macs`)
-- is not counted, and :attr:`MacCount.uncounted` names it; the flops metric turns that into a note of the row.

**Which weight an operation reads.** An operand is a parameter's when it shares the parameter's storage (the
parameter, or a view: ``weight.t()``, a slice of ``in_proj_weight``), or when it was computed during the
forward from parameters and constants only (no input data), by an operation whose output has as many
entries as a parameter-derived input: weight normalisation (both ``weight_norm`` APIs), weight
standardisation (timm's ``StdConv2d``), dtype casts, ``.contiguous()`` copies, masks multiplied in. An
operation reading such an operand is charged to that parameter, at the density of the operand actually
used: a standardised weight is dense however sparse its parameter is. Distances (``cdist``) and packed int4
weights are charged dense. An operand computed from parameters with no such input (``A @ B``,
``kron(A, B)``) cannot be attributed: the operation is charged dense and :attr:`MacCount.charged_dense`
says so. Buffers and tensors created in the forward are constants, never weights.

The forward runs in eval mode with autograd enabled and an input that requires grad, so
``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` take their ordinary path, as in training (under
``no_grad`` they would run the fused ``_native_multi_head_attention`` / ``_transformer_encoder_layer_fwd``
kernels, which are counted the same).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..modules import eval_mode
from .mac_rules import Rule, classify

__all__ = ["MacCount", "OpMacs", "count_macs", "count_ops", "forward_with_autograd", "total_macs"]


@dataclass(frozen=True)
class OpMacs:
    """One executed multiply-accumulate operation of a forward pass (whole batch), or one term of it.

    ``weight`` is the qualified name of the parameter read as an operand, directly or through a transformation
    (``None`` for weight-free operations such as attention scores, and for weights not attributable to one
    parameter); ``density`` is the fraction of nonzero entries of the operand the operation actually reads
    (1.0 when ``weight`` is ``None``). A fused kernel reading several weights (an LSTM layer) gives one per
    weight.
    """

    op: str
    weight: str | None
    macs: int
    density: float

    @property
    def nonzero_macs(self) -> float:
        """``macs`` scaled by the weight's density."""
        return self.macs * self.density


@dataclass
class MacCount:
    """What one forward executed: the counted operations, the multiply-accumulate operations not counted
    (``uncounted``: executions by operation name) and those charged dense because their weight is computed
    from parameters but not attributable to one (``charged_dense``: executions by ``(operation, parameters)``)."""

    ops: list[OpMacs] = field(default_factory=list)
    uncounted: Counter[str] = field(default_factory=Counter)
    charged_dense: Counter[tuple[str, tuple[str, ...]]] = field(default_factory=Counter)

    def notes(self) -> list[str]:
        """One sentence per problem, for the row's notes (empty when every MAC was counted and attributed)."""
        out = []
        if self.uncounted:
            names = ", ".join(f"{op} ({n})" for op, n in sorted(self.uncounted.items()))
            out.append(f"{_operations(self.uncounted.total())} not counted (no MAC rule): {names}")
        if self.charged_dense:
            what = ", ".join(f"{op} ({n}) from {', '.join(names)}"
                             for (op, names), n in sorted(self.charged_dense.items()))
            out.append(f"{_operations(self.charged_dense.total())} charged dense (weight mixed from several "
                       f"parameters): {what}")
        return out


def _operations(n: int) -> str:
    return f"{n} operation" if n == 1 else f"{n} operations"


_ACTIVATION = object()
"""Source of a storage whose content depends on the input. A parameter name is a str, a weight mixed from
several parameters a tuple of their names; a storage with no entry holds a constant."""


class _Shared:
    """Parameters sharing one storage (flattened recurrent weights): the name by storage offset."""

    def __init__(self, ranges: list[tuple[int, int, str]]) -> None:
        self.ranges = ranges

    def at(self, offset: int) -> str | tuple[str, ...]:
        for start, end, name in self.ranges:
            if start <= offset < end:
                return name
        return tuple(name for *_, name in self.ranges)


def _storage(tensor: object) -> int | None:
    if not isinstance(tensor, Tensor):
        return None
    try:
        return tensor.untyped_storage().data_ptr()
    except (NotImplementedError, RuntimeError):  # sparse, nested or storage-less tensors
        return None


def _tensors(values: Sequence) -> Iterator[Tensor]:
    for value in values:
        if isinstance(value, Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, Tensor))


def _parameter_sources(model: nn.Module) -> dict[int, object]:
    by_storage: dict[int, list[tuple[int, int, str]]] = {}
    for name, parameter in model.named_parameters():
        key = _storage(parameter) if parameter.numel() else None
        if key is not None:
            start = parameter.storage_offset()
            by_storage.setdefault(key, []).append((start, start + parameter.numel(), name))
    return {key: ranges[0][2] if len(ranges) == 1 else _Shared(ranges) for key, ranges in by_storage.items()}


_FRESH = frozenset(("aten::lift_fresh", "aten::lift_fresh_copy", "aten::lift"))
"""Operations whose output is a new constant, whatever storage address it reuses."""


@dataclass(frozen=True)
class _Kind:
    """What the counter does with one operation overload, decided the first time it runs."""

    name: str
    rule: Rule | None
    flagged: bool
    written: tuple[int | str, ...]  # arguments it writes (positions, or names of keyword-only ones)
    view: bool  # returns a view of an input (whose storage keeps its source)
    fresh: bool  # turns a tensor created outside dispatch (torch.tensor) into a constant

    @classmethod
    def of(cls, func: object) -> _Kind:
        schema = getattr(func, "_schema", None)
        written: list[int | str] = []
        for position, argument in enumerate(schema.arguments if schema is not None else ()):
            if argument.alias_info is not None and argument.alias_info.is_write:
                written.append(argument.name if argument.kwarg_only else position)
        returns = schema.returns if schema is not None else ()
        view = any(r.alias_info is not None and not r.alias_info.is_write for r in returns)
        packet = getattr(func, "overloadpacket", func)
        rule, flagged = classify(schema.name if schema is not None else str(packet), packet)
        fresh = schema is not None and schema.name in _FRESH
        return cls(str(packet), rule, flagged, tuple(written), view and not fresh, fresh)


class _Counter(TorchDispatchMode):
    """Counts the operations that run under it into :attr:`count`, tracking which storages hold parameters,
    weights derived from them, constants and activations."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.sources = _parameter_sources(model)
        self.parameter_keys = frozenset(self.sources)
        self.kinds: dict[object, _Kind] = {}
        self.densities: dict[tuple, float] = {}
        self.count = MacCount()

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """Nothing is compiled under the counter, so torch need not wrap :meth:`__torch_dispatch__` to disable
        Dynamo -- a wrapper whose first call imports ``torch._dynamo`` (over 1 s, in every process)."""
        return False

    def track_input(self, x: Tensor) -> None:
        """Mark the model's input as data (an activation), not a constant."""
        key = _storage(x)
        if key is not None:
            self.sources[key] = _ACTIVATION

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        kind = self.kinds.get(func)
        if kind is None:
            kind = self.kinds[func] = _Kind.of(func)
        if kind.rule is not None:
            self._count(kind, args, kwargs, out)
        elif kind.flagged:
            self.count.uncounted[kind.name] += 1
        self._track(kind, args, kwargs, out)
        return out

    def _source(self, tensor: Tensor) -> object:
        key = _storage(tensor)
        if key is None:
            return _ACTIVATION
        source = self.sources.get(key)
        return source.at(tensor.storage_offset()) if type(source) is _Shared else source

    def _count(self, kind: _Kind, args: Sequence, kwargs: dict, out: object) -> None:
        try:
            terms = kind.rule(args, kwargs, out)
        except Exception:  # noqa: BLE001 - a call the rule cannot read is flagged, not fatal
            terms = None
        if terms is None:
            self.count.uncounted[kind.name] += 1
            return
        for macs, operands in terms:
            self.count.ops.append(self._attribute(kind.name, int(macs), operands))

    def _attribute(self, op: str, macs: int, operands: tuple) -> OpMacs:
        mixed: tuple[str, ...] = ()
        for operand in operands:
            source = self._source(operand)
            if type(source) is str:
                return OpMacs(op, source, macs, self._density(operand))
            if type(source) is tuple and not mixed:
                mixed = source
        if mixed:
            self.count.charged_dense[(op, mixed)] += 1
        return OpMacs(op, None, macs, 1.0)

    def _density(self, operand: Tensor) -> float:
        """Nonzero fraction of ``operand``, cached for views of parameters (a derived weight's storage may be
        freed and its address reused by the next one)."""
        key = _storage(operand)
        if key not in self.parameter_keys:
            return _nonzero_fraction(operand)
        key = (key, operand.storage_offset(), tuple(operand.shape), operand.stride())
        density = self.densities.get(key)
        if density is None:
            density = self.densities[key] = _nonzero_fraction(operand)
        return density

    def _track(self, kind: _Kind, args: Sequence, kwargs: dict, out: object) -> None:
        """Record the source of every storage the operation wrote: an activation when any input is one, else
        the parameter it derives from, the parameters it mixes, or nothing (a constant)."""
        if kind.view:
            return
        if kind.fresh:
            for tensor in self._outputs(kind, args, kwargs, out):
                self.sources.pop(_storage(tensor), None)
            return
        inputs: list[tuple[Tensor, object]] = []
        activation = False
        for tensor in _tensors((*args, *kwargs.values())):
            source = self._source(tensor)
            if source is _ACTIVATION:
                activation = True
                break
            inputs.append((tensor, source))
        if kind.written:
            self.densities.clear()
        for tensor in self._outputs(kind, args, kwargs, out):
            key = _storage(tensor)
            if key is None or not tensor.numel():
                continue
            source = _ACTIVATION if activation else _derived(tensor.numel(), inputs)
            if source is None:
                self.sources.pop(key, None)
            else:
                self.sources[key] = source

    @staticmethod
    def _outputs(kind: _Kind, args: Sequence, kwargs: dict, out: object) -> list[Tensor]:
        outputs = list(_tensors((out,)))
        for where in kind.written:
            value = kwargs.get(where) if isinstance(where, str) else (args[where] if where < len(args) else None)
            outputs.extend(_tensors((value,)))
        return outputs


def _nonzero_fraction(tensor: Tensor) -> float:
    """Fraction of nonzero entries (of its float32 copy where ``count_nonzero`` lacks the dtype: float8)."""
    if not tensor.numel():
        return 1.0
    try:
        nonzero = tensor.count_nonzero()
    except (NotImplementedError, RuntimeError):
        nonzero = tensor.to(torch.float32).count_nonzero()
    return int(nonzero) / tensor.numel()


def _derived(numel: int, inputs: list[tuple[Tensor, object]]) -> object:
    """Source of an output of ``numel`` entries computed from parameters and constants ``inputs``: the first
    parameter-derived input of the same size, else the parameters mixed (a tuple), else ``None`` (constant)."""
    mixed: list[str] = []
    for tensor, source in inputs:
        if type(source) is str:
            if tensor.numel() == numel:
                return source
            mixed.append(source)
        elif type(source) is tuple:
            mixed.extend(source)
    return tuple(dict.fromkeys(mixed)) if mixed else None


def forward_with_autograd(model: nn.Module, example_input: Tensor, mode: AbstractContextManager,
                          on_input: Callable[[Tensor], None] | None = None) -> None:
    """Run ``model(example_input)`` under the dispatch (or flop counter) ``mode``: eval mode, autograd on.

    The input is a copy that requires grad (when floating point), handed to ``on_input`` first when given,
    so attention modules whose own weights are frozen still take their ordinary path; the graph is dropped,
    no gradient is computed, and every module's train/eval mode is restored.
    """
    with torch.inference_mode(False):
        x = example_input.clone()
        if x.is_floating_point():
            x.requires_grad_(True)
        if on_input is not None:
            on_input(x)
        with eval_mode(model), torch.enable_grad(), mode:
            model(x)


def count_macs(model: nn.Module, example_input: Tensor) -> MacCount:
    """The multiply-accumulate operations of one forward of ``example_input`` (whole batch), in order, with
    the operations not counted and those charged dense (see the module's documentation).

    The model's weights, buffers, gradients, hooks and modes are left as they were.
    """
    counter = _Counter(model)
    forward_with_autograd(model, example_input, counter, counter.track_input)
    return counter.count


def count_ops(model: nn.Module, example_input: Tensor) -> list[OpMacs]:
    """The counted operations of :func:`count_macs` (without what was not counted: use it for that)."""
    return count_macs(model, example_input).ops


def total_macs(ops: Sequence[OpMacs]) -> tuple[int, float]:
    """``(dense MACs, nonzero MACs)`` of ``ops``."""
    return sum(op.macs for op in ops), math.fsum(op.nonzero_macs for op in ops)
