"""The structured strategies through the real ``shrinkbench bench`` command (a subprocess with a private
cache): failed rows for impossible runs, compression and measured latency for the others, and saved weights
that reload with ``load_shrunken``. Needs shrinkbench-vision (the datasets and models)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from shrinkbench import STRUCTURED_TOLERANCE
from shrinkbench.checkpoints import load_shrunken, read_state_dict
from shrinkbench.engine.store import ResultsStore
from shrinkbench.plugins import get_registry
from shrinkbench.pruning import count_parameters

CLI = "from shrinkbench_cli.main import cli; cli()"
QUICK = ("--pretrain-epochs", "1", "--finetune-epochs", "1", "--threads", "2", "--no-report")


def bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict[str, dict[str, str]]]:
    """Run ``shrinkbench bench ARGS --out tmp_path/out`` with a private cache; the process and the rows by
    run id."""
    env = {**os.environ, "SHRINKBENCH_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "COLUMNS": "200"}
    for name in ("SHRINKBENCH_DISABLE_PLUGINS", "SHRINKBENCH_PLUGINS", "SHRINKBENCH_STRICT_PLUGINS"):
        env.pop(name, None)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-c", CLI, "bench", *args, *QUICK, "--out", str(out)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    rows = {r["run_id"]: r for r in ResultsStore(out).raw_rows()} if (out / "results.csv").exists() else {}
    return result, rows


def assert_reloads(out: Path, row: dict[str, str], input_shape: tuple[int, int, int]) -> None:
    """The run's saved weights rebuild the shrunken model from the dense architecture, with the row's size."""
    path = out / "runs" / row["run_id"] / "weights.safetensors"
    build = get_registry().model(row["model"]).load()
    dense = build(10, input_shape, None)
    model = load_shrunken(build(10, input_shape, None), read_state_dict(path), str(path)).eval()
    assert count_parameters(model) == int(float(row["params"]))
    widths = [(a.out_channels, b.out_channels) for a, b in zip(dense.modules(), model.modules(), strict=True)
              if isinstance(a, nn.Conv2d)]
    assert any(after < before for before, after in widths)
    with torch.no_grad():
        assert model(torch.zeros(2, *input_shape)).shape == (2, 10)


def test_bench_lenet5_l1_filter_ok_and_bn_scale_refused_up_front(tmp_path):
    """bn-scale needs BatchNorm (its spec says so): named on LeNet-5 it is refused before any work (exit 2, one
    line, nothing written); by default it is left out with a note while the others run."""
    pytest.importorskip("shrinkbench_vision")
    refused, rows = bench(tmp_path, "-d", "mnist-5k", "-m", "lenet-5", "-s", "l1-filter", "-s", "bn-scale",
                          "-c", "2,4")
    assert refused.returncode == 2 and rows == {} and not (tmp_path / "out").exists()
    assert refused.stderr.strip() == ("error: strategy 'bn-scale' cannot prune model 'lenet-5': it needs batchnorm "
                                      "and the model has no BatchNorm layer")
    result, rows = bench(tmp_path, "-d", "mnist-5k", "-m", "lenet-5", "-s", "l1-filter", "-c", "2,4")
    assert result.returncode == 0, result.stderr
    assert len(rows) == 2
    for row in rows.values():
        target = float(row["compression_target"])
        assert row["status"] == "ok", row["error"]
        assert abs(float(row["compression"]) / target - 1) <= STRUCTURED_TOLERANCE
        assert float(row["latency_speedup_64"]) > 0
        assert_reloads(tmp_path / "out", row, (1, 28, 28))


def test_bench_resnet20_on_synthetic_cifar(tmp_path):
    synthetic = pytest.importorskip("shrinkbench_vision.datasets.synthetic")
    synthetic.write_cifar(tmp_path / "cifar", train_per_batch=20, test_size=20)
    result, rows = bench(tmp_path, "-d", "cifar10", "--data-root", str(tmp_path / "cifar"), "-m", "resnet20",
                         "-s", "bn-scale", "-s", "taylor-channel", "-c", "2")
    assert result.returncode == 0, result.stderr
    assert sorted(r["strategy"] for r in rows.values()) == ["bn-scale", "taylor-channel"]
    for row in rows.values():
        assert row["status"] == "ok", row["error"]
        assert abs(float(row["compression"]) / 2 - 1) <= STRUCTURED_TOLERANCE
        assert_reloads(tmp_path / "out", row, (3, 32, 32))
