"""A model's size limits are found by running it once, not declared."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shrinkbench.errors import IncompatibleError
from shrinkbench.modules import check_forward


def test_a_model_too_small_for_its_input_is_incompatible_in_one_line():
    model = nn.Sequential(nn.Conv2d(1, 2, 5), nn.MaxPool2d(2), nn.Conv2d(2, 2, 5))  # needs 14 px: 14 -> 10 -> 5 -> 1
    model.train()
    model[1].eval()
    check_forward(model, "toy:cnn", (1, 14, 14))
    with pytest.raises(IncompatibleError, match=r"^model 'toy:cnn' cannot take 1x13x13 inputs: ") as info:
        check_forward(model, "toy:cnn", (1, 13, 13))
    assert "\n" not in str(info.value)
    assert [m.training for m in model] == [True, False, True]  # every module's mode is restored


@pytest.mark.parametrize("error", [RuntimeError("DefaultCPUAllocator: can't allocate memory: 1 TB"),
                                   torch.OutOfMemoryError("CUDA out of memory")])
def test_running_out_of_memory_is_not_an_incompatible_shape(error):
    class Hungry(nn.Module):
        def forward(self, x):
            raise error

    with pytest.raises(RuntimeError) as info:
        check_forward(Hungry(), "toy:hungry", (1, 4, 4))
    assert info.value is error
