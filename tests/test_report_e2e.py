"""``shrinkbench report``, ``compare`` and ``--version`` with every workspace package installed, on the bundled
MNIST subset: a real model's weights, two recipes compared, every plugin distribution listed."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from shrinkbench import schema
from shrinkbench.engine.store import ResultsStore

EXPERIMENT = "mnist-5k-lenet-300-100"
SMALL = ("bench", "-d", "mnist-5k", "-m", "lenet-300-100", "-s", "global-magnitude", "-s", "random", "-c", "1,16",
         "--pretrain-epochs", "2", "--finetune-epochs", "1", "--threads", "1", "--no-report")


def test_report_then_compare_two_recipes(shrinkbench, tmp_path):
    base, other = tmp_path / "lr-0.01", tmp_path / "lr-0.05"
    assert shrinkbench(*SMALL, "--seeds", "0,1", "--out", str(base)).returncode == 0
    assert shrinkbench(*SMALL, "--finetune-lr", "0.05", "--out", str(other)).returncode == 0

    report = shrinkbench("report", str(base))
    assert report.returncode == 0, report.stderr
    assert "dense top-1 " in report.stdout and " ± " in report.stdout and "(2 seeds)" in report.stdout
    # default sparsity run: the highest compression of the first strategy, lowest seed
    assert (base / f"sparsity_{EXPERIMENT}_global-magnitude_c16_s0.png").is_file() and (base / "report.html").is_file()

    from shrinkbench_cli.reporting.sparsity import layer_sparsity

    layers = layer_sparsity(base / "runs" / EXPERIMENT / "global-magnitude_c16_s0" / "weights.safetensors")
    assert [layer.name for layer in layers] == ["fc1.weight", "fc2.weight", "fc3.weight"]
    assert layers[-1].zeros == 0  # the classifier is not pruned by default
    row = next(r for r in ResultsStore(base).rows() if r[schema.RUN_ID] == f"{EXPERIMENT}/global-magnitude_c16_s0")
    params, nonzero_params, _ = schema.SIZE
    assert sum(layer.zeros for layer in layers) == row[params] - row[nonzero_params]

    compare = shrinkbench("compare", str(base), str(other), "--out", str(tmp_path / "cmp"))
    assert compare.returncode == 0, compare.stderr
    assert "finetune.lr (lr-0.01: 0.01, lr-0.05: 0.05)" in compare.stdout
    assert (tmp_path / "cmp" / "accuracy_vs_speedup.png").is_file()


def test_version_lists_every_installed_distribution_once(shrinkbench):
    result = shrinkbench("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    distributions = {ep.dist.name for ep in metadata.entry_points(group="shrinkbench")}
    assert {"shrinkbench-core", "shrinkbench-vision", "shrinkbench-magnitude"} <= distributions
    for name in distributions:
        assert sum(line.startswith(f"  {name} {metadata.version(name)}:") for line in lines) == 1, name


EXAMPLES = Path(__file__).parents[1] / "examples"


def test_example_grids_are_valid_configs():
    from shrinkbench.engine import build_sweep_config, resolve
    from shrinkbench.plugins import get_registry

    registry = get_registry()
    configs = {name: build_sweep_config(registry, EXAMPLES / f"grid-{name}.toml", {})
               for name in ("mnist", "cifar10", "imagenet")}
    for config in configs.values():
        assert [v.name for v in config.variants] == ["default", "lr-high"] and config.seeds
    sweep = resolve(registry, configs["mnist"])  # the bundled one resolves here: no data to fetch
    assert [(e.model, e.variant) for e in sweep.experiments] == [
        (m, v) for m in ("lenet-300-100", "lenet-5") for v in ("default", "lr-high")]
    assert len(sweep.runs()) == 72


def test_bundled_grid_example_reports_its_confounders(shrinkbench, tmp_path):
    """The MNIST example grid, shrunk (1 epoch each, 2 seeds, one compression), through the real CLI."""
    out = tmp_path / "grid"
    result = shrinkbench("bench", "--config", str(EXAMPLES / "grid-mnist.toml"), "--pretrain-epochs", "1",
                         "--finetune-epochs", "1", "--seeds", "0,1", "-c", "16", "-s", "global-magnitude", "-s",
                         "random", "--threads", "1", "--out", str(out), "--no-report")
    assert result.returncode == 0, result.stderr
    report = shrinkbench("report", str(out))
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("4 experiments: 2 (dataset, model) pairs x 2 variants")
    assert "axis finetune.lr: default (base) vs lr-high" in report.stdout
    document = json.loads(shrinkbench("report", str(out), "--json").stdout)
    assert document["grid"] and [e["changes"] for e in document["experiments"]] == [{}, {"finetune.lr": 0.05}] * 2
    (axis,) = document["confounders"]["axes"]
    assert {(r["model"], r["compression_target"]) for r in axis["rankings"]} == {("lenet-300-100", 16.0),
                                                                                  ("lenet-5", 16.0)}
    assert all(len(r["tau"]) == 1 for r in axis["rankings"])
