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


def test_a_plugin_of_every_kind_needs_nothing_but_shrinkbench(tmp_path):
    """Strategy, model, dataset, metric, schedule and executor, each written with ``from shrinkbench import``
    alone, run together in one sweep."""
    import ast
    from pathlib import Path

    import every_kind_plugin

    from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
    from shrinkbench.engine import plugin as core_engine
    from shrinkbench.metrics import plugin as core_metrics
    from shrinkbench.plugins import load_registry

    tree = ast.parse(Path(every_kind_plugin.__file__).read_text())
    deeper = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
              and node.module and node.module.startswith("shrinkbench.")]
    assert deeper == []
    registry = load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine),
                                     ("kinds", every_kind_plugin)], entry_points=False)
    config = SweepConfig(dataset="kinds-stripes", model="kinds-mlp", pretrain=Recipe(2, 0.05), finetune=Recipe(1, 0.01),
                         strategies=("kinds-layer",), schedules=("kinds-halves",),
                         schedule_options=(("kinds-halves", (("split", "0.25"),)),), compressions=(4.0,),
                         executor="kinds-in-order")
    run_sweep(registry, config, ResultsStore(tmp_path))
    (row,) = ResultsStore(tmp_path).rows()
    assert row["status"] == "ok", row["error"]
    assert row["schedule"] == "kinds-halves" and row["finetune_epochs"] == 2
    assert row["zero_fraction"] > 0.7 and every_kind_plugin.InOrder.ran[-1] == row["run_id"]
