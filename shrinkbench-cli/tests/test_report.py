"""``shrinkbench report``, ``compare`` and ``--version`` on results directories written by the real engine
(toy plugin, a few seconds): the table, the plots, the sparsity plot, report.html, refusals and exit codes."""

from __future__ import annotations

import base64
import os
import shutil
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import TOY_DIR
from html_tables import TablesParser

from shrinkbench import DatasetSpec, StrategySpec, hookimpl, schema
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep

sys.path.insert(0, str(TOY_DIR))
import toy_plugin  # noqa: E402 - lives in core's tests folder

PNG = b"\x89PNG\r\n\x1a\n"
PRETRAIN = Recipe(epochs=3, lr=0.05)


@hookimpl
def shrinkbench_strategies():
    """A strategy whose runs fail (the loss diverges), beside the toy plugin's."""
    return [StrategySpec("toy-nan", "diverges", toy_plugin.toy_nan, reconstructs=True)]  # it writes its kept weights


@hookimpl
def shrinkbench_datasets():
    """A second dataset, so that directories of different datasets exist."""
    return [DatasetSpec("toy-blobs-b", "the toy blobs again, under another name", toy_plugin.blobs, num_classes=4,
                        input_shape=(1, 8, 8), bundled=True, augmented=False)]


def sweep(directory: Path, strategies: tuple[str, ...], seeds: tuple[int, ...], compressions=(1.0, 4.0, 16.0),
          dataset: str = "toy-blobs", finetune_lr: float = 0.01) -> Path:
    """Run a toy sweep into ``directory`` with the real engine (in this process, installed plugins plus the toy
    plugin and this module's hooks) and return it."""
    from shrinkbench.plugins import load_registry

    registry = load_registry(inline=[("toy", toy_plugin), ("extra", sys.modules[__name__])])
    config = SweepConfig(dataset=dataset, model="toy-mlp", strategies=strategies, compressions=compressions,
                         seeds=seeds, threads=1, device="cpu", pretrain=PRETRAIN,
                         finetune=Recipe(epochs=1, lr=finetune_lr, lr_schedule="constant"))
    run_sweep(registry, config, ResultsStore(directory))
    return directory


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[str, Path]:
    """``mixed``: toy-magnitude with 3 seeds, toy-random with 1, one failed toy-nan run; ``other_lr``: the same
    dataset finetuned with another lr; ``other_dataset``: another dataset; ``all_failed``: no successful run."""
    root = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHRINKBENCH_CACHE", str(root / "cache"))
        mixed = sweep(root / "mixed", ("toy-magnitude",), (0, 1, 2))
        sweep(mixed, ("toy-random",), (0,))
        sweep(mixed, ("toy-nan",), (0,), compressions=(4.0,))
        return {
            "mixed": mixed,
            "other_lr": sweep(root / "other_lr", ("toy-magnitude",), (0,), finetune_lr=0.05),
            "other_dataset": sweep(root / "other_dataset", ("toy-magnitude",), (0,), dataset="toy-blobs-b"),
            "all_failed": sweep(root / "all_failed", ("toy-nan",), (0,), compressions=(2.0,)),
        }


class Page(TablesParser):
    """The parts of report.html the tests read: image sources, tables (rows of cell texts), headings."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self._heading = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        super().handle_starttag(tag, attrs)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._heading = tag == "h2"

    def handle_data(self, data):
        super().handle_data(data)
        if self._heading:
            self.headings.append(data)
            self._heading = False


def dense_text(directory: Path) -> str:
    """The dense reference computed here from the rows: mean ± sample std of dense_top1 over seeds."""
    by_seed = {r[schema.SEED]: r[schema.DENSE_TOP1] for r in ResultsStore(directory).rows()}
    values = list(by_seed.values())
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f} ({len(values)} seeds)"


def one_line_error(result, code: int = 2) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_report_prints_mean_std_table_and_writes_every_file(run_cli, dirs, tmp_path):
    out = tmp_path / "report"
    result = run_cli("report", str(dirs["mixed"]), "--to", str(out))
    assert result.returncode == 0, result.stderr
    assert f"dense top-1 {dense_text(dirs['mixed'])}" in result.stdout.replace("\n", "")
    assert "cells: mean ± std over seeds" in result.stdout and "select: final" in result.stdout
    assert "toy-random" in result.stdout and "13 runs (1 failed)" in result.stdout
    names = {"summary.csv", "accuracy_vs_compression.png", "accuracy_vs_speedup.png",
             "accuracy_vs_measured_speedup.png", "sparsity_toy-blobs-toy-mlp_toy-magnitude_c16_s0.png", "report.html"}
    assert {p.name for p in out.iterdir()} == names
    for name in names - {"summary.csv", "report.html"}:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, name
    assert not (dirs["mixed"] / "report.html").exists()


def test_html_report_is_self_contained(run_cli, dirs, tmp_path):
    out = tmp_path / "report"
    assert run_cli("report", str(dirs["mixed"]), "--to", str(out)).returncode == 0
    page = Page((out / "report.html").read_text())
    assert "src=" not in (out / "report.html").read_text().replace('src="data:image/png;base64,', "")
    assert len(page.images) == 4  # three accuracy plots and the sparsity plot
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in page.images}
    assert embedded == {p.read_bytes() for p in out.glob("*.png")}
    counts, summary, failed, config = page.tables
    rows = ResultsStore(dirs["mixed"]).rows()
    expected = {(r[schema.STRATEGY], f"{r[schema.TARGET]:g}") for r in rows if r[schema.STATUS] == schema.STATUS_OK}
    assert summary[0][:3] == ["strategy", "target", "seeds"]
    assert sorted((row[0], row[1]) for row in summary[1:]) == sorted(expected)
    assert counts[1][:3] == ["13", "12", "1"]
    assert failed[1][0] == "toy-blobs-toy-mlp/toy-nan_c4_s0" and "loss became" in failed[1][1]
    settings = dict(row for row in config[1:])
    assert settings["dataset"] == "toy-blobs" and settings["finetune.lr"] == "0.01"
    assert settings["fingerprint"] == ResultsStore(dirs["mixed"]).experiments()["toy-blobs-toy-mlp"]["fingerprint"]
    assert page.headings == ["Runs", "Accuracy", "Failed runs", "Fixed configuration"]


def test_plots_are_titled_labelled_and_tell_seed_counts_apart(dirs, monkeypatch):
    from shrinkbench_cli.reporting import plots
    from shrinkbench_cli.reporting.results import load_results

    figures = []
    monkeypatch.setattr(plots, "png_bytes", lambda fig: figures.append(fig) or b"")
    results = load_results(dirs["mixed"])
    plots.accuracy_plots([results], [results.title(), results.recipe_line()])
    ax = figures[0].axes[0]
    fingerprint = ResultsStore(dirs["mixed"]).experiments()["toy-blobs-toy-mlp"]["fingerprint"]
    for text in ("toy-blobs", "toy-mlp", "select: final", fingerprint):
        assert text in figures[0].get_suptitle()
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:2] == ["toy-magnitude (3 seeds)", "toy-random (1 seed)"]
    assert labels[2].startswith("dense: ") and "± " in labels[2] and "(3 seeds)" in labels[2]
    assert "std over seeds" in legend.get_title().get_text()
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["toy-magnitude (3 seeds)"].get_linestyle() == "-"
    assert lines["toy-random (1 seed)"].get_linestyle() == "--"
    assert lines["toy-random (1 seed)"].get_markerfacecolor() == "white"
    (bars,) = ax.containers  # error bars for the 3-seed curve only, of one sample std
    rows = [r for r in ResultsStore(dirs["mixed"]).rows() if r[schema.STRATEGY] == "toy-magnitude"]
    stds = sorted(statistics.stdev(r[schema.TOP1] for r in rows if r[schema.TARGET] == t) for t in (1, 4, 16))
    (segments,) = bars.lines[2]
    heights = sorted((seg[1][1] - seg[0][1]) / 2 for seg in segments.get_segments())
    assert heights == pytest.approx(stds)


def test_measured_speedup_plot_has_horizontal_error_bars_of_the_measured_spread(dirs, monkeypatch):
    """Every point, one seed included, has an x bar: the runs' half-IQR (speedup x spread / 2) pooled in
    quadrature with the speedup's std over seeds; computed here from the rows."""
    import math

    from shrinkbench_cli.reporting import plots
    from shrinkbench_cli.reporting.results import load_results

    figures = []
    monkeypatch.setattr(plots, "png_bytes", lambda fig: figures.append(fig) or b"")
    results = load_results(dirs["mixed"])
    plots.accuracy_plots([results], [results.title(), results.recipe_line()])
    names = [name for _, _, name in plots.AXES]
    ax = figures[names.index("accuracy_vs_measured_speedup.png")].axes[0]
    assert "x bars" in ax.get_legend().get_title().get_text()
    x_bars = [c for c in ax.containers if c.has_xerr]
    assert len(x_bars) == 2  # one per strategy, toy-random's single seed included
    drawn = sorted((seg[1][0] - seg[0][0]) / 2 for bars in x_bars for seg in bars.lines[2][0].get_segments())
    rows = [r for r in ResultsStore(dirs["mixed"]).rows() if r[schema.STATUS] == schema.STATUS_OK]
    expected = []
    for strategy, target in sorted({(r[schema.STRATEGY], r[schema.TARGET]) for r in rows}):
        runs = [r for r in rows if (r[schema.STRATEGY], r[schema.TARGET]) == (strategy, target)]
        speedups = [r["latency_speedup_64"] for r in runs]
        halves = [r["latency_speedup_64"] * r["latency_speedup_64_spread"] / 2 for r in runs]
        std = statistics.stdev(speedups) if len(runs) > 1 else 0.0
        expected.append(math.sqrt(std**2 + statistics.fmean(h * h for h in halves)))
    assert drawn == pytest.approx(sorted(expected)) and all(h > 0 for h in drawn)
    compression = figures[names.index("accuracy_vs_compression.png")].axes[0]
    assert not any(c.has_xerr for c in compression.containers)


def test_sparsity_of_a_chosen_run_matches_the_weights(run_cli, dirs, tmp_path):
    from safetensors.torch import load_file

    from shrinkbench_cli.reporting.sparsity import layer_sparsity

    result = run_cli("report", str(dirs["mixed"]), "--to", str(tmp_path), "--run", "toy-random_c4_s0")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sparsity_toy-blobs-toy-mlp_toy-random_c4_s0.png").read_bytes().startswith(PNG)
    path = dirs["mixed"] / "runs" / "toy-blobs-toy-mlp" / "toy-random_c4_s0" / "weights.safetensors"
    tensors = {k: v for k, v in load_file(path).items() if v.dim() >= 2}
    layers = layer_sparsity(path)
    assert [layer.name for layer in layers] == list(tensors)
    assert [layer.zeros for layer in layers] == [int((t == 0).sum()) for t in tensors.values()]
    row = next(r for r in ResultsStore(dirs["mixed"]).rows() if r[schema.RUN_ID] == "toy-blobs-toy-mlp/toy-random_c4_s0")
    total = sum(t.numel() for t in load_file(path).values())
    assert total / (total - sum(layer.zeros for layer in layers)) == pytest.approx(row[schema.COMPRESSION])


def test_sparsity_counts_negative_zeros_in_any_dtype(tmp_path):
    import torch
    from safetensors.torch import save_file

    from shrinkbench_cli.reporting.sparsity import layer_sparsity

    weight = torch.tensor([[0.0, -0.0, 1.5], [2.0, 0.0, -3.0]])
    save_file({"b.weight": weight.to(torch.bfloat16), "a.bias": torch.zeros(3), "c.weight": weight.half()},
              tmp_path / "w.safetensors")
    layers = layer_sparsity(tmp_path / "w.safetensors")
    assert [(layer.name, layer.shape, layer.zeros, layer.size) for layer in layers] == [
        ("b.weight", (2, 3), 3, 6), ("c.weight", (2, 3), 3, 6)]


def test_unknown_run_is_one_line_error_before_anything_is_written(run_cli, dirs, tmp_path):
    result = run_cli("report", str(dirs["mixed"]), "--to", str(tmp_path / "out"), "--run", "toy-magnitude_c3_s0")
    line = one_line_error(result)
    assert "no run 'toy-magnitude_c3_s0'" in line and "did you mean toy-blobs-toy-mlp/toy-magnitude_c" in line
    assert result.stdout == "" and not (tmp_path / "out").exists()


def test_no_successful_run_says_so_and_exits_1(run_cli, dirs, tmp_path):
    result = run_cli("report", str(dirs["all_failed"]), "--to", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "no successful run" in result.stdout and "loss became" in result.stdout
    assert "┃" not in result.stdout and not (tmp_path / "out").exists()


def test_read_only_directory_prints_the_table_and_names_the_fix(run_cli, dirs, tmp_path):
    directory = Path(shutil.copytree(dirs["mixed"], tmp_path / "readonly"))
    directory.chmod(0o555)
    if os.access(directory, os.W_OK):  # root ignores permission bits: block the first report file another way
        (directory / "summary.csv").mkdir()
    try:
        result = run_cli("report", str(directory))
    finally:
        directory.chmod(0o755)
    line = one_line_error(result)
    assert f"cannot write {directory / 'summary.csv'}" in line and "--to OTHER_DIR" in line
    assert "toy-magnitude" in result.stdout and "dense top-1" in result.stdout
    elsewhere = run_cli("report", str(directory), "--to", str(tmp_path / "elsewhere"))
    assert elsewhere.returncode == 0 and (tmp_path / "elsewhere" / "report.html").is_file()


def test_compare_same_dataset_labels_curves_by_directory(run_cli, dirs, tmp_path):
    result = run_cli("compare", str(dirs["mixed"]), str(dirs["other_lr"]))
    assert result.returncode == 0, result.stderr
    assert "differ in: finetune.lr (mixed: 0.01, other_lr: 0.05)" in result.stdout
    table = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert sum("mixed" in line for line in table) == 6 and sum("other_lr" in line for line in table) == 3
    out = tmp_path / "shrinkbench-compare"
    for name in ("accuracy_vs_compression.png", "accuracy_vs_speedup.png"):
        assert (out / name).read_bytes().startswith(PNG)
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("results,strategy,compression_target,seeds")


def test_compare_refuses_different_datasets_unless_allowed(run_cli, dirs, tmp_path):
    args = ("compare", str(dirs["mixed"]), str(dirs["other_dataset"]), "--out", str(tmp_path / "cmp"))
    line = one_line_error(run_cli(*args))
    assert "different datasets (mixed: toy-blobs, other_dataset: toy-blobs-b)" in line and "--allow-different" in line
    assert not (tmp_path / "cmp").exists()
    allowed = run_cli(*args, "--allow-different")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.startswith("warning: ") and "dataset (mixed: toy-blobs, other_dataset: toy-blobs-b)" in (
        allowed.stderr)
    assert (tmp_path / "cmp" / "accuracy_vs_compression.png").is_file()


@pytest.mark.parametrize("which", ["missing", "single"])
def test_compare_bad_directories_are_one_line_errors(run_cli, dirs, tmp_path, which):
    args = [str(dirs["mixed"]), str(tmp_path / "nowhere")] if which == "missing" else [str(dirs["mixed"])]
    line = one_line_error(run_cli("compare", *args))
    assert ("no results.csv in" if which == "missing" else "at least two") in line


VERSION_CHECK = """import sys
from shrinkbench_cli.main import cli
try:
    cli(["--version"])
finally:
    print("torch imported:", "torch" in sys.modules)
"""


def version_output() -> list[str]:
    """``shrinkbench --version`` in a fresh interpreter (installed plugins only), then whether torch got
    imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHRINKBENCH_")}
    result = subprocess.run([sys.executable, "-c", VERSION_CHECK], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_version_lists_the_cli_and_plugins_without_importing_torch():
    lines = version_output()
    assert lines[0] == f"shrinkbench-cli {metadata.version('shrinkbench-cli')}"
    core = sorted(ep.name for ep in metadata.entry_points(group="shrinkbench") if ep.dist.name == "shrinkbench-core")
    assert f"  shrinkbench-core {metadata.version('shrinkbench-core')}: {', '.join(core)}" in lines
    assert lines[-1] == "torch imported: False"


def test_a_lost_workers_row_does_not_hide_its_seeds_dense_top1(run_cli, dirs, tmp_path):
    """A lost run's row (written by the driver, no dense_top1) came last for its seed, and the report showed
    "dense top-1: unknown" although every other row of that seed had it."""
    import json

    from shrinkbench.engine.experiment import RunSpec
    from shrinkbench.engine.run import base_row
    from shrinkbench.engine.runtime import RunSettings

    expected = dense_text(dirs["mixed"])
    copy = shutil.copytree(dirs["mixed"], tmp_path / "mixed")
    experiment = type("E", (), {"dataset": "toy-blobs", "model": "toy-mlp", "variant": "default", "precision": "fp32"})
    settings = RunSettings(device="cpu", threads=1, device_reason="asked for cpu")
    lost = base_row(experiment(), RunSpec("toy-blobs-toy-mlp", "toy-random", 64.0, 0), settings, "lost: it died")
    ResultsStore(copy).append(lost)  # the driver's row for a lost run: identity and error, no dense_top1
    result = run_cli("report", str(copy), "--to", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    assert f"dense top-1 {expected}" in result.stdout.replace("\n", "")
    data = json.loads(run_cli("report", str(copy), "--json", "--to", str(tmp_path / "report2")).stdout)
    assert [e["dense_top1"]["seeds"] for e in data["experiments"]] == [3]
