"""A model family whose members fail ``check-models`` in known ways (registered with SHRINKBENCH_PLUGINS)."""

from __future__ import annotations

import os
import time

from shrinkbench import ModelFamilySpec, hookimpl
from shrinkbench.errors import IncompatibleError, WeightsNotFoundError


@hookimpl
def shrinkbench_models() -> list[ModelFamilySpec]:
    """``broken:dies`` (exits at once), ``broken:diverges`` (trains to NaN), ``broken:greedy`` (1 GB per image),
    ``broken:hangs``, ``broken:hog`` (8 GB), ``broken:refuses``, ``broken:slow`` (1 s per forward pass),
    ``broken:miscounted`` (MACs 0.5% above FlopCounterMode's), ``broken:needs-weights``, and ``broken:only-240``,
    which works, but only on 240x240 images (its declared default input)."""
    return [ModelFamilySpec("broken", "a model that fails check-models", "broken_models_plugin:names",
                            "broken_models_plugin:build", default_shape="broken_models_plugin:default_shape")]


def names() -> list[str]:
    """The members of the family."""
    return ["bad-alloc", "dies", "diverges", "greedy", "hangs", "hog", "miscounted", "needs-weights", "no-primitive",
            "only-240", "refuses", "slow"]


def default_shape(name: str) -> tuple[int, int, int] | None:
    """The input a member is made for: 3x240x240 for ``only-240``; the others declare none."""
    return (3, 240, 240) if name == "only-240" else None


def build(name: str, num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None):
    """An MLP whose logits are scaled by 1e20 (one SGD step sends them to infinity), or the named failure.

    ``greedy``, ``slow``, ``bad-alloc``/``no-primitive``, ``miscounted`` and ``only-240`` are the same MLP
    without the scaling (``miscounted``: 100 hidden units), whose forward pass reserves 1 GB per image, sleeps
    for a second, fails to allocate above 2 images, adds a product FlopCounterMode does not count, or nothing."""
    import torch
    from torch import nn

    if name == "refuses" or (name == "only-240" and input_shape[1:] != (240, 240)):
        raise IncompatibleError(f"model 'broken:{name}' takes no {input_shape} input")
    if name == "needs-weights":
        raise WeightsNotFoundError("weights 'broken.pt' are not in the local cache")
    if name == "dies":
        os._exit(3)
    if name == "hangs":
        time.sleep(600)
    if name == "hog":
        torch.ones(2 * 2**30)  # 8 GB: more than the address-space limit the test sets

    class Diverges(nn.Sequential):
        def forward(self, x):
            return super().forward(x) * 1e20

    class Greedy(nn.Sequential):
        def forward(self, x):
            torch.empty(len(x), 2**28)  # 1 GB per image of address space, as activations would take
            return super().forward(x)

    class Refused(nn.Sequential):
        """Above 2 images, fails as oneDNN or BLAS do under an address-space limit."""

        def forward(self, x):
            if len(x) > 2:
                raise RuntimeError("std::bad_alloc" if name == "bad-alloc" else
                                   "could not create a primitive descriptor for a matmul primitive")
            return super().forward(x)

    class Miscounted(nn.Sequential):
        """A matrix-vector product FlopCounterMode does not count (aten.mv): 23 x 67 = 1,541 MACs, 0.5% of
        the 308,200 of its two linear layers on 3x32x32 images."""

        def forward(self, x):
            probe = torch.mv(torch.ones(23, 67), x.flatten(1)[0, :67])
            return super().forward(x) + 0 * probe.sum()

    class Slow(nn.Sequential):
        def forward(self, x):
            time.sleep(1)
            return super().forward(x)

    kind = {"greedy": Greedy, "slow": Slow, "bad-alloc": Refused, "no-primitive": Refused, "miscounted": Miscounted,
            "only-240": nn.Sequential}.get(name, Diverges)
    hidden = 100 if name == "miscounted" else 16
    return kind(nn.Flatten(), nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], hidden),
                nn.Linear(hidden, num_classes))
