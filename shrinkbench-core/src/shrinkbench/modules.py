"""Facts about a model's modules that every part of ShrinkBench agrees on: which module is the classifier,
which module owns a parameter, how to run a model in eval mode without disturbing it, and whether a model
takes an input shape at all.

One definition each, used by the pruning helpers, the metrics, the engine, the test kit and the zoo plugins.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from .errors import IncompatibleError, one_line

__all__ = ["CLASSIFIER_ATTR", "check_forward", "eval_mode", "find_classifier", "missing_requirement", "owner_module",
           "set_classifier"]

CLASSIFIER_ATTR = "shrinkbench_classifier"
"""The model attribute naming its classifier module (qualified name); strategies leave that layer dense."""

_HEAD_TYPES = (nn.Linear, nn.Conv2d)


def _outputs(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.Conv2d):
        return module.out_channels
    return None


def find_classifier(model: nn.Module, num_classes: int | None = None) -> str | None:
    """Qualified name of the layer that produces the logits, or ``None`` when there is none to find.

    In order: the model's ``shrinkbench_classifier`` attribute; timm's ``pretrained_cfg['classifier']``; the
    module returned by ``get_classifier()`` (or the last linear/conv layer inside it); the last linear/conv layer
    with ``num_classes`` outputs; and, when ``num_classes`` is not given, the last ``nn.Linear``. With
    ``num_classes``, a candidate from timm's metadata counts only when it has that many outputs.
    """
    declared = getattr(model, CLASSIFIER_ATTR, None)
    if declared is not None:
        return declared
    named = dict(model.named_modules())

    def is_head(module: nn.Module) -> bool:
        outputs = _outputs(module)
        return outputs is not None and (num_classes is None or outputs == num_classes)

    cfg_head = (getattr(model, "pretrained_cfg", None) or {}).get("classifier")
    for candidate in (cfg_head,) if isinstance(cfg_head, str) else tuple(cfg_head or ()):
        if candidate in named and is_head(named[candidate]):
            return candidate
    get_classifier = getattr(model, "get_classifier", None)
    head = get_classifier() if callable(get_classifier) else None
    head = head[0] if isinstance(head, tuple) else head
    if isinstance(head, nn.Module):
        for name, module in named.items():
            if module is head:
                if is_head(module):
                    return name
                inner = [f"{name}.{n}" if name else n for n, m in module.named_modules() if n and is_head(m)]
                if inner:
                    return inner[-1]
    if num_classes is not None:
        heads = [name for name, module in named.items() if is_head(module)]
        return heads[-1] if heads else None
    linears = [name for name, module in named.items() if isinstance(module, nn.Linear)]
    return linears[-1] if linears else None


def set_classifier(model: nn.Module, name: str) -> nn.Module:
    """Record ``name`` as the model's classifier (the ``shrinkbench_classifier`` attribute); return the model."""
    setattr(model, CLASSIFIER_ATTR, name)
    return model


def owner_module(model: nn.Module, parameter_name: str) -> nn.Module:
    """The module that holds the parameter called ``parameter_name`` (e.g. ``"layer1.0.conv1.weight"``)."""
    module_name = parameter_name.rpartition(".")[0]
    return model.get_submodule(module_name) if module_name else model


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module of ``model`` in eval mode for the block, then restore each module's own previous mode.

    Restoring module by module (not ``model.train(was_training)``) keeps a mixed-mode model mixed, e.g. a
    backbone frozen in eval mode under a head in train mode.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


_FORWARD_ERRORS = (AssertionError, ValueError, RuntimeError, IndexError, ZeroDivisionError)
"""What a model raises when an input is too small for its down-sampling or the wrong shape for its layers."""


def check_forward(model: nn.Module, name: str, input_shape: Sequence[int]) -> None:
    """Run one zero input of ``input_shape`` (no batch axis) through ``model`` in eval mode without autograd.

    Every module's mode is restored. Raises :class:`IncompatibleError` (``model NAME cannot take CxHxW
    inputs: ...``, one line) when the architecture cannot take that shape; other errors, running out of
    memory included, propagate.
    """
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else None
    try:
        with eval_mode(model), torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    except _FORWARD_ERRORS as exc:
        if isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in str(exc):
            raise
        shape = "x".join(str(s) for s in input_shape)
        raise IncompatibleError(f"model {name!r} cannot take {shape} inputs: "
                                f"{one_line(exc, 200, with_type=False)}") from None


_REQUIRED: dict[str, tuple[tuple[type[nn.Module], ...], str]] = {
    "batchnorm": ((nn.modules.batchnorm._BatchNorm,), "no BatchNorm layer"),
    "conv": ((nn.modules.conv._ConvNd,), "no convolution"),
    "linear": ((nn.Linear,), "no linear layer"),
}


def missing_requirement(model: nn.Module, requires: Sequence[str]) -> str | None:
    """What ``model`` lacks of ``requires`` (:data:`shrinkbench.specs.REQUIREMENTS`), e.g. ``"no BatchNorm
    layer"``; ``None`` when it has everything."""
    for requirement in requires:
        types, lack = _REQUIRED[requirement]
        if not any(isinstance(m, types) for m in model.modules()):
            return lack
    return None
