"""A model family whose members fail ``check-models`` in known ways (registered with SHRINKBENCH_PLUGINS)."""

from __future__ import annotations

import os
import time

from shrinkbench import ModelFamilySpec, hookimpl
from shrinkbench.errors import IncompatibleError


@hookimpl
def shrinkbench_models() -> list[ModelFamilySpec]:
    """``broken:dies`` (exits at once), ``broken:diverges`` (trains to NaN), ``broken:greedy`` (1 GB per image), ``broken:hangs``, ``broken:hog``
    (8 GB), ``broken:refuses``, ``broken:slow`` (1 s per forward pass)."""
    return [ModelFamilySpec("broken", "a model that fails check-models", "broken_models_plugin:names",
                            "broken_models_plugin:build")]


def names() -> list[str]:
    """The members of the family."""
    return ["bad-alloc", "dies", "diverges", "greedy", "hangs", "hog", "no-primitive", "refuses", "slow"]


def build(name: str, num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None):
    """An MLP whose logits are scaled by 1e20 (one SGD step sends them to infinity), or the named failure.

    ``greedy`` and ``slow`` are the same MLP without the scaling, whose forward pass reserves 1 GB per image or
    sleeps for a second."""
    import torch
    from torch import nn

    if name == "refuses":
        raise IncompatibleError(f"model 'broken:refuses' takes no {input_shape} input")
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

    class Slow(nn.Sequential):
        def forward(self, x):
            time.sleep(1)
            return super().forward(x)

    kind = {"greedy": Greedy, "slow": Slow, "bad-alloc": Refused, "no-primitive": Refused}.get(name, Diverges)
    return kind(nn.Flatten(), nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], 16),
                nn.Linear(16, num_classes))
