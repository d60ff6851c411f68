"""The surface plugin authors import: everything from ``shrinkbench``, lazily, without importing torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

import shrinkbench
from shrinkbench import masking, metrics, pruning

AUTHOR_NAMES = ("hookimpl", "StrategySpec", "ModelSpec", "ModelFamilySpec", "DatasetSpec", "MetricSpec",
                "PruningContext", "MetricContext", "Masks", "Batch", "eval_mode", "weight_gradients",
                "ShrinkBenchError", "CompressionError", "MaskError", "DataNotFoundError", "WeightsNotFoundError")


def test_import_shrinkbench_and_light_modules_do_not_import_torch():
    code = ("import sys, shrinkbench, shrinkbench.schema, shrinkbench.engine, shrinkbench.engine.store, "
            "shrinkbench.engine.assemble, shrinkbench.engine.events, shrinkbench.plugins; "
            "from shrinkbench import StrategySpec, hookimpl, ShrinkBenchError; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_public_name_resolves():
    for name in shrinkbench.__all__:
        assert getattr(shrinkbench, name) is not None, name
    assert set(AUTHOR_NAMES) <= set(shrinkbench.__all__)
    assert shrinkbench.PruningContext is pruning.PruningContext and shrinkbench.Masks is masking.Masks


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        shrinkbench.nope  # noqa: B018


@pytest.mark.parametrize("module", [pruning, masking, metrics])
def test_modules_declare_their_public_names(module):
    assert module.__all__ and all(hasattr(module, name) for name in module.__all__)


def test_every_spec_load_returns_the_callable():
    def fn(*args):
        return args

    specs = [shrinkbench.StrategySpec("s", "d", fn), shrinkbench.ModelSpec("m", "d", fn),
             shrinkbench.DatasetSpec("d", "d", fn, num_classes=2, input_shape=(1, 2, 2)),
             shrinkbench.MetricSpec("x", "d", fn, columns=("x",))]
    assert all(spec.load() is fn for spec in specs)
