"""Multiply-accumulates (MACs), FLOPs and theoretical speedup.

Units: ``macs`` are multiply-accumulates as counted by thop; ``flops`` = 2 x ``macs``. Both follow each
layer's real output size. ``nonzero_macs`` scales every convolution / linear layer's MACs by the fraction of
its weights that are nonzero (as ShrinkBench does) and keeps all other layers' MACs dense; speedup =
``macs / nonzero_macs``. thop (unmaintained since 2022) sits behind :func:`layer_macs`, the one place to
replace it; :func:`torch_flop_count` is an independent count from ``torch.utils.flop_counter`` used to
cross-check it (it counts only matmul-like ops, so it is a lower bound for models with norms).
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings

import torch
from torch import nn

from ..modules import eval_mode
from ..pruning import PRUNABLE_TYPES
from . import MetricContext

__all__ = ["count", "layer_macs", "measure", "nonzero_fraction", "torch_flop_count"]


def _thop_rules() -> tuple[object, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # thop imports distutils
        import thop
        from thop.profile import register_hooks
    return thop, register_hooks


def layer_macs(model: nn.Module, example_input: torch.Tensor) -> dict[str, float]:
    """MACs of one forward of ``example_input`` per leaf module (qualified name), counted by thop.

    The model is not modified: thop profiles a deep copy (it leaves buffers behind on the modules it
    visits). Subclasses of the layer types thop knows are counted with their base type's rule.
    """
    thop, rules = _thop_rules()
    clone = copy.deepcopy(model)
    custom = {}
    for module in clone.modules():
        kind = type(module)
        if kind not in rules:
            base = next((b for b in kind.__mro__[1:] if b in rules), None)
            if base is not None:
                custom[kind] = rules[base]
    with contextlib.redirect_stdout(io.StringIO()):
        _, _, tree = thop.profile(clone, inputs=(example_input,), custom_ops=custom, verbose=False, ret_layer_info=True)
    out: dict[str, float] = {}

    def walk(node: dict, prefix: str) -> None:
        for name, (ops, _params, children) in node.items():
            full = f"{prefix}{name}"
            if children:
                walk(children, f"{full}.")
            elif ops:
                out[full] = float(ops)

    walk(tree, "")
    return out


def nonzero_fraction(module: nn.Module) -> float:
    """Fraction of a conv/linear module's weight entries that are nonzero (1.0 for other modules)."""
    if isinstance(module, PRUNABLE_TYPES) and isinstance(getattr(module, "weight", None), torch.Tensor):
        weight = module.weight.detach()
        return int(weight.count_nonzero()) / weight.numel()
    return 1.0


def count(model: nn.Module, example_input: torch.Tensor) -> dict[str, float]:
    """Dense and nonzero MACs and FLOPs of one forward of ``example_input`` (whole batch)."""
    modules = dict(model.named_modules())
    per_layer = layer_macs(model, example_input)
    macs = sum(per_layer.values())
    nonzero = sum(ops * nonzero_fraction(modules[name]) for name, ops in per_layer.items())
    return {
        "macs": macs,
        "nonzero_macs": nonzero,
        "flops": 2 * macs,
        "nonzero_flops": 2 * nonzero,
        "speedup": macs / nonzero if nonzero else float("inf"),
    }


def measure(ctx: MetricContext) -> dict[str, float]:
    """The flops metric: :func:`count` per example of ``ctx.example_input``."""
    batch = ctx.example_input.shape[0]
    totals = count(ctx.model, ctx.example_input)
    return {k: (v if k == "speedup" else v / batch) for k, v in totals.items()}


def torch_flop_count(model: nn.Module, example_input: torch.Tensor) -> int:
    """FLOPs of one forward counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmul/conv only)."""
    from torch.utils.flop_counter import FlopCounterMode

    with eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example_input)
    return counter.get_total_flops()
