"""The strategies through the engine on core's tiny language model: one-shot at 50 % and 2:4, calibrated from the
training split, rows that say so, the engine's weight-change check passed (SparseGPT declares reconstruction)."""

from __future__ import annotations

import csv

import pytest

from shrinkbench.engine import SweepConfig, run_sweep
from shrinkbench.engine import plugin as core_engine
from shrinkbench.metrics import plugin as core_metrics
from shrinkbench.plugins import load_registry
from shrinkbench.testing import tiny_lm
from shrinkbench_posttraining import plugin as posttraining


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "cache"))


def test_one_shot_language_model_rows_at_half_sparsity_and_two_four(tmp_path):
    registry = load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine),
                                     ("tiny-lm", tiny_lm), ("posttraining", posttraining)], entry_points=False)
    strategies = ("row-magnitude", "wanda", "sparsegpt", "2:4-wanda", "2:4-sparsegpt")
    run_sweep(registry, SweepConfig(dataset="toy-text", model="toy-lm", strategies=strategies, sparsities=(0.5,),
                                    out=str(tmp_path / "out"), jobs=1, calibration_samples=16,
                                    recipe_changes=(("finetune.epochs", 0),)))
    rows = {r["strategy"]: r for r in csv.DictReader((tmp_path / "out" / "results.csv").open())
            if r["compression_target"] != "1"}
    assert sorted(rows) == sorted(strategies)
    for name, row in rows.items():
        assert row["status"] == "ok", (name, row["error"])
        assert float(row["prunable_sparsity"]) == pytest.approx(0.5, abs=2e-3) and row["recipe"] == "one-shot"
        assert float(row["perplexity"]) > float(row["dense_perplexity"]) > 1
        calibrated = name != "row-magnitude"
        assert (row["calibration_samples"] == "16") == calibrated and (row["calibration_source"] == "toy-text") == calibrated
        assert (row["reconstructed"] == "true") == ("sparsegpt" in name)
