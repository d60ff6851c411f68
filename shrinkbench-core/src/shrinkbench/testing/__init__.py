"""Conformance kit for ShrinkBench plugins: pytest fixtures and ``check_*`` functions.

Core registers this module as a pytest plugin (entry point ``pytest11: shrinkbench``), so wherever
``shrinkbench-core`` is installed the fixtures below are available without a ``conftest.py``::

    from shrinkbench.testing import check_model, check_strategy

    def test_my_strategy():
        check_strategy("my-strategy")         # looked up among the installed plugins

    def test_my_model():
        check_model("my-net", num_classes=10, input_shape=(3, 32, 32))

Every ``check_*`` raises ``AssertionError`` naming the plugin object, the parameter and what was wrong.
Fixtures: ``shrinkbench_registry`` (a fresh registry of the installed plugins, also returned by
``shrinkbench.plugins.get_registry()`` during the test), ``shrinkbench_plugin_manager`` (an empty pluggy
manager with ShrinkBench's hook specs), ``tiny_model``, ``tiny_batches``, ``tiny_dataset``, ``one_thread``, ``cli_runner``, ``fake_cuda`` (a stand-in
for a machine with N GPUs: :mod:`shrinkbench.testing.fake_cuda`).
This module is loaded by every pytest run in the environment, so it imports torch only inside functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .checks import check_dataset, check_metric, check_model, check_n_m, check_strategy
from .lazy_calibration import check_calibration_strategy
from .tiny import (
    DEFAULT_COMPRESSIONS,
    TINY_INPUT_SHAPE,
    TINY_NUM_CLASSES,
    Batches,
    make_tiny_batches,
    make_tiny_model,
)

if TYPE_CHECKING:
    from torch import nn

    from ..plugins import Registry

__all__ = [
    "DEFAULT_COMPRESSIONS",
    "TINY_INPUT_SHAPE",
    "TINY_NUM_CLASSES",
    "check_calibration_strategy",
    "check_dataset",
    "check_metric",
    "check_model",
    "check_n_m",
    "check_strategy",
    "make_tiny_batches",
    "make_tiny_model",
]

# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def shrinkbench_registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A registry freshly built from the installed plugins; ``get_registry()`` returns it during the test.
    (Plugins that are not installed: ``load_registry(inline=[("name", module)], entry_points=False)``.)"""
    from .. import plugins

    registry = plugins.load_registry()
    monkeypatch.setattr(plugins, "_default", registry)
    return registry


@pytest.fixture
def shrinkbench_plugin_manager():
    """An empty pluggy ``PluginManager`` that knows ShrinkBench's hook specifications."""
    from ..plugins import new_plugin_manager

    return new_plugin_manager()


@pytest.fixture
def tiny_model() -> nn.Module:
    """A fresh :func:`make_tiny_model` (seed 0, 10 classes, input (1, 12, 12)) in train mode."""
    return make_tiny_model()


@pytest.fixture
def tiny_batches() -> Batches:
    """A :func:`make_tiny_batches` callable: two seeded batches of 8 inputs (1, 12, 12), labels < 10."""
    return make_tiny_batches()


@pytest.fixture
def tiny_dataset():
    """A seeded ``TensorDataset`` of 32 ``(input (1, 12, 12), label < 10)`` examples."""
    import torch
    from torch.utils.data import TensorDataset

    xs, ys = zip(*make_tiny_batches(n_batches=4)(), strict=True)
    return TensorDataset(torch.cat(xs), torch.cat(ys))


@pytest.fixture
def one_thread():
    """Run the test with one torch thread (small models are faster, and results independent of the machine's
    core count); the previous setting is restored."""
    from ..threads import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch):
    """``fake_cuda(count=2, names=None, capability=(9, 0), memory=80 GiB)`` makes this test's ``torch.cuda`` a
    machine with ``count`` GPUs that enforces torch's argument contracts and records every call; returns the
    :class:`FakeCuda`."""
    from .fake_cuda import FakeCuda

    def install(count: int = 2, names=None, capability: tuple[int, int] = (9, 0), memory: int = 80 * 2**30) -> FakeCuda:
        return FakeCuda(count, names, capability, memory).install(monkeypatch)

    return install


@pytest.fixture
def cli_runner():
    """A ``click.testing.CliRunner`` (the test is skipped when click is not installed)."""
    return pytest.importorskip("click.testing").CliRunner()


