"""Calibration in the engine: drawn from the training split, seeded, recorded in rows and the fingerprint; what
a strategy may change in the weights (zeroing pruned ones when calibrating, kept ones only when declared)."""

from __future__ import annotations

import csv

import pytest
import torch
import toy_plugin

from shrinkbench.engine import Experiment, Recipe, SweepConfig, resolve, run_sweep
from shrinkbench.engine import plugin as core_engine
from shrinkbench.engine.calibration import draw_calibration
from shrinkbench.errors import ShrinkBenchError
from shrinkbench.metrics import plugin as core_metrics
from shrinkbench.plugins import load_registry
from shrinkbench.testing import tiny_lm as lm_toy_plugin


@pytest.fixture
def lm_registry():
    return load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine), ("toy", toy_plugin),
                                 ("lm", lm_toy_plugin)], entry_points=False)


def rows_of(registry, tmp_path, strategies, **changes):
    out = tmp_path / "out"
    run_sweep(registry, SweepConfig(dataset="toy-text", model="toy-lm", strategies=strategies, compressions=(2.0,),
                                    out=str(out), jobs=1, **changes))
    return {r["strategy"]: r for r in csv.DictReader((out / "results.csv").open())}


def test_calibration_comes_from_the_training_split_seeded_by_the_run(lm_registry):
    recipe = Recipe(epochs=1, lr=0.01)
    experiment = Experiment("toy-text", "toy-lm", recipe, recipe, task="causal-lm", calibration_samples=10)
    from shrinkbench.engine.tasking import load_data

    splits = load_data(lm_registry, experiment)
    train = {tuple(splits.train[i][0].tolist()) for i in range(len(splits.train))}
    first = draw_calibration(lm_registry, experiment, 0, torch.device("cpu"))
    again = draw_calibration(lm_registry, experiment, 0, torch.device("cpu"))
    other = draw_calibration(lm_registry, experiment, 1, torch.device("cpu"))
    drawn = [tuple(x.tolist()) for batch in first for x in batch]
    assert len(drawn) == 10 and set(drawn) <= train  # never validation or test windows
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    assert first.protocol == {"calibration_samples": 10, "calibration_source": "toy-text", "calibration_length": 32}


def test_a_calibration_strategy_row_records_its_calibration_and_is_one_shot_without_finetuning(lm_registry, tmp_path):
    lm_toy_plugin.CALIBRATION_SEEN.clear()
    rows = rows_of(lm_registry, tmp_path, ("toy-calibrated", "toy-rescaling"), calibration_samples=12,
                   recipe_changes=(("finetune.epochs", 0),))
    row = rows["toy-calibrated"]
    assert row["status"] == "ok", row["error"]
    assert (row["calibration_samples"], row["calibration_source"], row["calibration_length"]) == ("12", "toy-text", "32")
    assert row["recipe"] == "one-shot" and row["finetune_epochs"] == "0"
    assert row["reconstructed"] == "" and rows["toy-rescaling"]["reconstructed"] == "true"
    assert rows["toy-rescaling"]["status"] == "ok", rows["toy-rescaling"]["error"]
    assert lm_toy_plugin.CALIBRATION_SEEN[:2] == [(8, 31), (4, 31)]  # 12 windows of 31 input tokens, in batches


@pytest.mark.parametrize(("strategy", "words"), [
    ("toy-sneaky", "weights it keeps in mix.weight without declaring reconstructs=True"),
    ("toy-bias", "changed mlp.bias, which is not a prunable weight"),
])
def test_a_strategy_that_changes_what_it_may_not_fails_its_run_saying_what(lm_registry, tmp_path, strategy, words):
    row = rows_of(lm_registry, tmp_path, (strategy,))[strategy]
    assert row["status"] == "failed" and words in row["error"], row["error"]


def test_calibration_size_and_source_are_experiment_keys(lm_registry, tmp_path):
    recipe = Recipe(epochs=1, lr=0.01)
    base = Experiment("toy-text", "toy-lm", recipe, recipe, task="causal-lm")
    assert base.fingerprint() != Experiment("toy-text", "toy-lm", recipe, recipe, task="causal-lm",
                                            calibration_samples=16).fingerprint()
    with pytest.raises(ShrinkBenchError, match="toy-blobs is a classification dataset, toy-text a causal-lm one"):
        resolve(lm_registry, SweepConfig(dataset="toy-text", model="toy-lm", strategies=("toy-calibrated",),
                                         calibration_source="toy-blobs", out=str(tmp_path)))
