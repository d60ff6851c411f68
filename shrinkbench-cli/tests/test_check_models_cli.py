"""``check-models`` with core's toy plugin only: selection, the per-model process and the output files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
from conftest import TOY_DIR

CHECK = "from shrinkbench_cli.commands.check_models import check_models; check_models()"


def check_models(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SHRINKBENCH_CACHE": str(tmp_path / "cache"), "COLUMNS": "200",
           "SHRINKBENCH_PLUGINS": "toy_plugin", "PYTHONPATH": os.pathsep.join([str(TOY_DIR), os.environ.get("PYTHONPATH", "")])}
    env.pop("SHRINKBENCH_DISABLE_PLUGINS", None)
    return subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)


def test_toy_models_pass_and_the_rows_are_written(tmp_path):
    result = check_models(tmp_path, "toy-mlp", "toy-rgb", "--strategy", "ToyMag", "--compression", "3", "--csv", "rows.csv")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = list(csv.DictReader(open(tmp_path / "rows.csv")))
    assert [(r["model"], r["status"], r["px"]) for r in rows] == [("toy-mlp", "passed", "32"), ("toy-rgb", "passed", "32")]
    flattened = 3 * 32 * 32  # the MLP's first layer reads every pixel: MACs by hand
    assert float(rows[0]["macs"]) == flattened * 32 + 32 * 16 + 16 * 10 == float(rows[0]["reference_macs"])
    assert float(rows[0]["compression"]) == 3.0
    assert "2 passed, 0 failed, 0 not checked; pass rate 100.0% (2 of 2 checked)" in result.stdout


def test_patterns_and_a_seeded_sample_select_models(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    import toy_plugin

    from shrinkbench.errors import ShrinkBenchError
    from shrinkbench.plugins import load_registry
    from shrinkbench_cli.commands.check_models import matching_models

    registry = load_registry(inline=[("toy", toy_plugin)], entry_points=False)
    every = sorted(e.name for e in registry.list("models"))
    assert len(every) >= 3 and matching_models(registry, (), None, 0) == every  # no pattern: every model
    assert matching_models(registry, ("toy-rg*", "toy-rgb"), None, 0) == ["toy-rgb"]  # each model once
    picks = {seed: matching_models(registry, ("toy-*",), 1, seed) for seed in range(16)}
    assert all(len(p) == 1 for p in picks.values()) and len({p[0] for p in picks.values()}) > 1
    assert picks[3] == matching_models(registry, ("toy-*",), 1, 3)
    with pytest.raises(ShrinkBenchError, match="no model matches nope-"):
        matching_models(registry, ("nope-*",), None, 0)
