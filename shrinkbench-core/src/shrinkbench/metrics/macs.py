"""Multiply-accumulates counted from the operations that execute, each attributed to the weight it reads.

One forward pass runs under a ``TorchDispatchMode`` that sees every aten operation below autograd. Each
matrix multiplication (``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``mv``, ``addmv``, ``_scaled_mm``), convolution
(``convolution``, ``_convolution``, transposed included) and fused attention (``_scaled_dot_product_*``) becomes
one :class:`OpMacs`; ``linear``, ``matmul``, ``einsum`` and friends decompose into these before the mode sees
them. An operand whose storage is a parameter's (the parameter itself or a view such as ``weight.t()`` or a
slice of ``in_proj_weight``) is the weight the operation reads, whoever owns it and however it is called.
Nothing else counts: normalisation, activations, additions and pooling are not multiply-accumulates.

The forward runs in eval mode with autograd enabled and an input that requires grad, so
``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` take their ordinary path: under ``no_grad`` (or
with frozen weights) they run fused kernels that hide their projections from any dispatch-level counter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..modules import eval_mode

__all__ = ["OpMacs", "count_ops", "forward_with_autograd", "total_macs"]

aten = torch.ops.aten


@dataclass(frozen=True)
class OpMacs:
    """One executed multiply-accumulate operation of a forward pass (whole batch).

    ``weight`` is the qualified name of the parameter read as an operand (``None`` for weight-free
    operations such as attention scores); ``density`` is the fraction of nonzero entries of the part of that
    parameter the operation reads (1.0 when weight-free).
    """

    op: str
    weight: str | None
    macs: int
    density: float

    @property
    def nonzero_macs(self) -> float:
        """``macs`` scaled by the weight's density."""
        return self.macs * self.density


def _matmul(a: Tensor, b: Tensor) -> int:
    """MACs of ``a @ b`` for (batched) matrices and matrix-vector products."""
    return a.numel() * (b.shape[-1] if b.dim() > 1 else 1)


def _product(first: int) -> Callable[[Sequence, object], tuple[int, tuple]]:
    """Rule of a product whose two factors are positional arguments ``first`` and ``first + 1``."""

    def rule(args: Sequence, _out: object) -> tuple[int, tuple]:
        a, b = args[first], args[first + 1]
        return _matmul(a, b), (b, a)

    return rule


def _convolution(args: Sequence, out: Tensor) -> tuple[int, tuple]:
    """Every output element (input element, when transposed) meets one weight slice ``w[0]``."""
    x, w, transposed = args[0], args[1], bool(args[6])
    return (x if transposed else out).numel() * w[0].numel(), (w, x)


def _attention(args: Sequence, _out: object) -> tuple[int, tuple]:
    """Scores ``q @ k^T`` and values ``p @ v`` of query (..., L, E), key (..., S, E), value (..., S, Ev)."""
    q, k, v = args[0], args[1], args[2]
    return q.numel() // q.shape[-1] * k.shape[-2] * (q.shape[-1] + v.shape[-1]), ()


_RULES: dict[object, Callable[[Sequence, object], tuple[int, tuple]]] = {
    aten.mm: _product(0),
    aten.bmm: _product(0),
    aten.mv: _product(0),
    aten._scaled_mm: _product(0),
    aten.addmm: _product(1),
    aten.baddbmm: _product(1),
    aten.addmv: _product(1),
    aten.convolution: _convolution,
    aten._convolution: _convolution,
    aten._scaled_dot_product_flash_attention: _attention,
    aten._scaled_dot_product_flash_attention_for_cpu: _attention,
    aten._scaled_dot_product_efficient_attention: _attention,
    aten._scaled_dot_product_cudnn_attention: _attention,
    aten._scaled_dot_product_fused_attention_overrideable: _attention,
}
"""Per aten operation: ``(args, output) -> (MACs, operands that may be the weight, most likely first)``."""


def _storage(tensor: object) -> int | None:
    if not isinstance(tensor, Tensor):
        return None
    try:
        return tensor.untyped_storage().data_ptr()
    except (NotImplementedError, RuntimeError):  # sparse, nested or storage-less tensors
        return None


class _Counter(TorchDispatchMode):
    """Records an :class:`OpMacs` for every operation of :data:`_RULES` that runs under it."""

    def __init__(self, weights: dict[int, str]) -> None:
        super().__init__()
        self.weights = weights
        self.ops: list[OpMacs] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        out = func(*args, **(kwargs or {}))
        rule = _RULES.get(func.overloadpacket)
        if rule is not None:
            macs, operands = rule(args, out)
            self.ops.append(self._attribute(str(func.overloadpacket), int(macs), operands))
        return out

    def _attribute(self, op: str, macs: int, operands: tuple) -> OpMacs:
        for operand in operands:
            name = self.weights.get(_storage(operand))
            if name is not None:
                density = int(operand.count_nonzero()) / operand.numel() if operand.numel() else 1.0
                return OpMacs(op, name, macs, density)
        return OpMacs(op, None, macs, 1.0)


def forward_with_autograd(model: nn.Module, example_input: Tensor, mode: AbstractContextManager) -> None:
    """Run ``model(example_input)`` under the dispatch (or flop counter) ``mode``: eval mode, autograd on.

    The input is a copy that requires grad (when floating point), so attention modules whose own weights
    are frozen still take their ordinary path; the graph is dropped, no gradient is computed, and every
    module's train/eval mode is restored.
    """
    with torch.inference_mode(False):
        x = example_input.clone()
        if x.is_floating_point():
            x.requires_grad_(True)
        with eval_mode(model), torch.enable_grad(), mode:
            model(x)


def count_ops(model: nn.Module, example_input: Tensor) -> list[OpMacs]:
    """The multiply-accumulate operations of one forward of ``example_input`` (whole batch), in order.

    The model's weights, buffers, gradients, hooks and modes are left as they were.
    """
    weights: dict[int, str] = {}
    for name, parameter in model.named_parameters():
        key = _storage(parameter) if parameter.numel() else None
        if key is not None:
            weights.setdefault(key, name)
    counter = _Counter(weights)
    forward_with_autograd(model, example_input, counter)
    return counter.ops


def total_macs(ops: Sequence[OpMacs]) -> tuple[int, float]:
    """``(dense MACs, nonzero MACs)`` of ``ops``."""
    return sum(op.macs for op in ops), math.fsum(op.nonzero_macs for op in ops)
