"""An inline plugin for the concurrency tests: ``toy-slow``, the toy MLP with a training step that takes 50 ms,
so that two sweeps started together are still training when the other one reaches the same work."""

from __future__ import annotations

import time

import toy_plugin

from shrinkbench import ModelSpec, hookimpl


class SlowMLP(toy_plugin.ToyMLP):
    """:class:`toy_plugin.ToyMLP` whose forward pass sleeps 50 ms in training mode."""

    def forward(self, x):
        if self.training:
            time.sleep(0.05)
        return super().forward(x)


def toy_slow(num_classes: int, input_shape, pretrained=None) -> SlowMLP:
    """Build :class:`SlowMLP` for the dataset's shape."""
    return SlowMLP(num_classes, input_shape[0] * input_shape[1] * input_shape[2])


@hookimpl
def shrinkbench_models():
    return [ModelSpec("toy-slow", "The toy MLP, 50 ms per training step", toy_slow)]
