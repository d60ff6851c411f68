"""The report asks each experiment's task, on results written by the real engine: a grid of a text pair (core's
toy language model, perplexity: lower is better) and a vision pair (top-1), with a finetune-lr variant; a
language-model sweep run by ``shrinkbench bench`` itself; the same sweep with another evaluation window, which
``compare`` refuses to mix. Every expected number is computed here from results.csv."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOY_DIR
from html_tables import TablesParser

from shrinkbench import schema
from shrinkbench.engine import ResultsStore, SweepConfig, run_sweep
from shrinkbench.engine.config import Variant

TEXT, VISION = ("toy-text", "toy-lm"), ("toy-blobs", "toy-mlp")
STRATEGIES = ("toy-magnitude", "toy-random")


def lm_registry():  # noqa: ANN201 - a Registry
    """Core, the toy vision plugin and the toy language-model plugin, in this process."""
    sys.path.insert(0, str(TOY_DIR))
    import toy_plugin

    from shrinkbench.engine import plugin as core_engine
    from shrinkbench.metrics import plugin as core_metrics
    from shrinkbench.plugins import load_registry
    from shrinkbench.testing import tiny_lm as lm_toy_plugin

    return load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine), ("toy", toy_plugin),
                                 ("lm", lm_toy_plugin)], entry_points=False)


def cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    """``shrinkbench ARGS`` in a subprocess with the toy vision and language-model plugins."""
    env = {**os.environ, "SHRINKBENCH_CACHE": str(cache), "COLUMNS": "200",
           "SHRINKBENCH_PLUGINS": "toy_plugin,shrinkbench.testing.tiny_lm",
           "PYTHONPATH": os.pathsep.join([str(TOY_DIR), os.environ.get("PYTHONPATH", "")])}
    env.pop("SHRINKBENCH_DISABLE_PLUGINS", None)
    return subprocess.run([sys.executable, "-c", "from shrinkbench_cli.main import cli; cli()", *args],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[str, Path]:
    """``grid``: datasets (toy-text, toy-blobs) x models (toy-lm, toy-mlp) -- the two matching pairs run, the
    two others are refused -- under ``default`` and ``lr-low``; ``lm``: ``shrinkbench bench`` on the text pair
    (its stdout in ``lm.stdout``); ``lm16``: the same with --context-length 16."""
    root = tmp_path_factory.mktemp("tasks")
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHRINKBENCH_CACHE", str(cache))
        grid = SweepConfig(datasets=(TEXT[0], VISION[0]), models=(TEXT[1], VISION[1]), strategies=STRATEGIES,
                           compressions=(2.0,), seeds=(0,), jobs=1, threads=1, device="cpu",
                           variants=(Variant("default"), Variant("lr-low", (("finetune.lr", 0.0002),))))
        run_sweep(lm_registry(), grid, ResultsStore(root / "grid"))
    common = ("bench", "-d", TEXT[0], "-m", TEXT[1], "-s", "toy-magnitude", "-c", "1.5,2", "--threads", "1")
    lm = cli(*common, "-s", "toy-random", "--out", str(root / "lm"), cache=cache)
    assert lm.returncode == 0, lm.stderr
    (root / "lm.stdout").write_text(lm.stdout)
    lm16 = cli(*common, "--context-length", "16", "--out", str(root / "lm16"), "--no-report", cache=cache)
    assert lm16.returncode == 0, lm16.stderr
    return {"grid": root / "grid", "lm": root / "lm", "lm16": root / "lm16", "cache": cache,
            "lm_stdout": root / "lm.stdout"}


def rows_of(directory: Path, dataset: str, variant: str = "default") -> list[dict]:
    return [r for r in ResultsStore(directory).rows() if r[schema.DATASET] == dataset and r[schema.VARIANT] == variant
            and r[schema.STATUS] == schema.STATUS_OK]


def value(rows: list[dict], strategy: str, target: float, column: str) -> float:
    return statistics.fmean(r[column] for r in rows if (r[schema.STRATEGY], r[schema.TARGET]) == (strategy, target))


def test_the_grid_runs_the_matching_pairs_and_its_sweep_json_names_the_text_task(dirs):
    stored = json.loads((dirs["grid"] / "sweep.json").read_text())
    tasks = {slug: e["fixed"].get("task") for slug, e in stored["experiments"].items()}
    assert tasks == {"toy-text-toy-lm": "causal-lm", "toy-text-toy-lm-lr-low": "causal-lm",
                     "toy-blobs-toy-mlp": None, "toy-blobs-toy-mlp-lr-low": None}  # absent: classification
    assert sum("refused" in note for note in stored["last_sweep"]["notes"]) == 2


def test_the_grid_report_gives_each_pair_its_metric_and_direction(dirs, tmp_path):
    result = cli("report", str(dirs["grid"]), "--to", str(tmp_path), cache=dirs["cache"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    text, vision = rows_of(dirs["grid"], TEXT[0]), rows_of(dirs["grid"], VISION[0])
    dense_ppl, dense_top1 = text[0][schema.dense("perplexity")], vision[0][schema.DENSE_TOP1]
    assert (f"toy-text · toy-lm · variant default: perplexity after finetuning, lower is better (test split, "
            f"select: final); cells: mean ± std over seeds; dense perplexity {dense_ppl:.4f} (1 seed)") in out
    assert (f"toy-blobs · toy-mlp · variant default: accuracy after finetuning (test split, select: final); cells: "
            f"mean ± std over seeds; dense top-1 {dense_top1:.4f} (1 seed)") in out
    headers = [line for line in out.splitlines() if line.startswith("┃ strategy")]
    assert sorted([h.strip() for h in line.strip("┃").split("┃")][-4:] for line in headers) == [
        ["measured b1", "ppl pre-ft", "ppl", "token top1"]] * 2 + [["measured b64", "top1 pre-ft", "top1", "top5"]] * 2
    magnitude = value(text, "toy-magnitude", 2.0, "perplexity")
    assert f"{magnitude:.2f}" in next(line for line in out.splitlines() if line.startswith("│ toy-magnitude"))
    assert "dense model" in out and f"perplexity {dense_ppl:.4f} (1 seed)" in out and f"top-1 {dense_top1:.4f}" in out
    summary = (tmp_path / "summary.csv").read_text().splitlines()[0].split(",")
    assert {"perplexity_mean", "token_top1_mean", "perplexity_pre_mean", "top1_mean", "top5_mean"} <= set(summary)


def test_confounder_rankings_put_the_lowest_perplexity_first(dirs, tmp_path):
    text = {v: rows_of(dirs["grid"], TEXT[0], v) for v in ("default", "lr-low")}
    order = {v: sorted(STRATEGIES, key=lambda s: value(rows, s, 2.0, "perplexity")) for v, rows in text.items()}
    assert value(text["default"], order["default"][0], 2.0, "perplexity") < value(
        text["default"], order["default"][1], 2.0, "perplexity")
    result = cli("report", str(dirs["grid"]), "--to", str(tmp_path), cache=dirs["cache"])
    assert "rankings: best first by each pair's primary metric (perplexity (lower is better) / top-1)" in result.stdout
    assert "│ toy-text  │ toy-lm  │ 2      │ perplexity (lower   │" in result.stdout  # a cell folded in two
    parser = TablesParser()
    parser.feed((tmp_path / "report.html").read_text())
    ranking = next(t for t in parser.tables if "ranked by" in t[0])
    assert ranking[0][:6] == ["dataset", "model", "target", "ranked by", "ranking under default", "ranking under lr-low"]
    cells = next(row for row in ranking[1:] if row[0] == TEXT[0])
    means = {v: " < ".join(f"{s} {value(text[v], s, 2.0, 'perplexity'):.4f}" for s in order[v]) for v in order}
    assert cells[3:6] == ["perplexity (lower is better)", means["default"], means["lr-low"]]
    tau = 1.0 if order["default"] == order["lr-low"] else -1.0  # two methods: same order or reversed
    assert cells[6] == f"{tau:.2f}"
    assert next(row for row in ranking[1:] if row[0] == VISION[0])[3] == "top-1"
    document = json.loads(cli("report", str(dirs["grid"]), "--json", cache=dirs["cache"]).stdout)
    (axis,) = document["confounders"]["axes"]
    by_dataset = {r["dataset"]: r for r in axis["rankings"]}
    assert (by_dataset[TEXT[0]]["metric"], by_dataset[TEXT[0]]["higher_is_better"]) == ("perplexity", False)
    assert (by_dataset[VISION[0]]["metric"], by_dataset[VISION[0]]["higher_is_better"]) == ("top1", True)
    ranked = by_dataset[TEXT[0]]["by_variant"]["default"]
    assert [c["strategy"] for c in ranked] == order["default"] and ranked[0]["mean"] < ranked[1]["mean"]
    assert ranked[0]["rank"] == 1 and by_dataset[TEXT[0]]["tau"][0]["means"] == tau


def test_the_json_report_names_each_experiments_task(dirs):
    document = json.loads(cli("report", str(dirs["grid"]), "--json", cache=dirs["cache"]).stdout)
    experiments = {(e["dataset"], e["variant"]): e for e in document["experiments"]}
    lm, vision = experiments[TEXT[0], "default"], experiments[VISION[0], "default"]
    assert lm["task"]["name"] == "causal-lm" and lm["task"]["primary"] == "perplexity" and lm["task"]["note"] is None
    assert {m["column"]: m["higher_is_better"] for m in lm["task"]["metrics"]} == {"perplexity": False,
                                                                                  "token_top1": True}
    assert lm["dense_perplexity"]["mean"] == rows_of(dirs["grid"], TEXT[0])[0][schema.dense("perplexity")]
    assert vision["task"]["name"] == "classification" and "dense_top1" in vision
    point = next(p for p in document["summary"] if p["dataset"] == TEXT[0] and p["strategy"] == "toy-random")
    assert point["perplexity"]["mean"] == value(rows_of(dirs["grid"], TEXT[0]), "toy-random", 2.0, "perplexity")
    assert "top1" not in point and document["warnings"] == [w for w in document["warnings"] if "top-1" not in w]
    assert "perplexity (lower is better) / top-1 against compression" in document["figures"][0]["caption"]


def test_small_multiples_label_each_pairs_axis_with_its_metric(dirs, monkeypatch):
    from shrinkbench_cli.reporting import grid_plots
    from shrinkbench_cli.reporting.grid_report import grid_figures
    from shrinkbench_cli.reporting.results import load_directory

    figures = []
    monkeypatch.setattr(grid_plots, "png_bytes", lambda fig: figures.append(fig) or b"")
    directory = load_directory(dirs["grid"], registry=lm_registry())
    grid_figures(directory)
    axes = figures[0].axes  # 2 variants (rows) x 2 pairs (columns), row by row
    assert axes[0].get_ylabel() == "perplexity (test, after finetuning), lower is better"
    assert axes[1].get_ylabel() == "top-1 (test, after finetuning)"
    text = rows_of(dirs["grid"], TEXT[0])
    drawn = {line.get_label().split(" (")[0]: list(line.get_ydata()) for line in axes[0].get_lines()
             if line.get_label().startswith("toy-")}
    assert drawn == {s: [value(text, s, 2.0, "perplexity")] for s in STRATEGIES}
    assert "perplexity (lower is better) / top-1 after finetuning" in figures[0].get_suptitle()
    measured = figures[2].axes  # a language model's forward time is measured at batch 1 only
    assert measured[2].get_xlabel() == "measured speedup (dense / pruned forward time, batch 1)"
    assert measured[3].get_xlabel() == "measured speedup (dense / pruned forward time, batch 64)"
    speedups = {line.get_label().split(" (")[0]: list(line.get_xdata()) for line in measured[0].get_lines()
                if line.get_label().startswith("toy-")}
    assert speedups == {s: [value(text, s, 2.0, "latency_speedup")] for s in STRATEGIES}


def test_bench_on_a_language_model_prints_the_perplexity_table(dirs):
    out = dirs["lm_stdout"].read_text()
    rows = rows_of(dirs["lm"], TEXT[0])
    assert "perplexity after finetuning, lower is better (test split, select: final)" in out
    header = next(line for line in out.splitlines() if line.startswith("┃ strategy"))
    assert [h.strip() for h in header.strip("┃").split("┃")][-4:] == ["measured b1", "ppl pre-ft", "ppl", "token top1"]
    line = next(line for line in out.splitlines() if line.startswith("│ toy-random") and "│      2 │" in line)
    cells = [c.strip() for c in line.strip("│").split("│")]
    assert cells[-4:] == [f"{value(rows, 'toy-random', 2.0, 'latency_speedup'):.2f}",
                          f"{value(rows, 'toy-random', 2.0, 'perplexity_pre'):.2f}",
                          f"{value(rows, 'toy-random', 2.0, 'perplexity'):.2f}",
                          f"{value(rows, 'toy-random', 2.0, 'token_top1'):.4f}"]
    assert "top-1" not in out and "top1 " not in out.replace("token top1", "")


def test_single_lm_plot_says_perplexity_lower_is_better(dirs, monkeypatch):
    from shrinkbench_cli.reporting import plots
    from shrinkbench_cli.reporting.results import load_results

    figures = []
    monkeypatch.setattr(plots, "png_bytes", lambda fig: figures.append(fig) or b"")
    results = load_results(dirs["lm"], registry=lm_registry())
    plots.accuracy_plots([results], [results.title()])
    ax = figures[0].axes[0]
    assert ax.get_ylabel() == "perplexity (test, after finetuning), lower is better, mean over seeds"
    rows = rows_of(dirs["lm"], TEXT[0])
    line = next(line for line in ax.get_lines() if line.get_label().startswith("toy-random"))
    assert list(line.get_ydata()) == [value(rows, "toy-random", t, "perplexity") for t in (1.5, 2.0)]


def test_compare_refuses_perplexities_of_different_protocols_in_one_line(dirs, tmp_path):
    result = cli("compare", str(dirs["lm"]), str(dirs["lm16"]), "--out", str(tmp_path / "cmp"), cache=dirs["cache"])
    assert result.returncode == 2 and not (tmp_path / "cmp").exists()
    (line,) = result.stderr.strip().splitlines()
    windows = {d: rows_of(dirs[d], TEXT[0])[0][schema.EVAL_WINDOWS] for d in ("lm", "lm16")}
    assert line.startswith("error: the results were measured under different protocols: perplexity on toy-text (")
    assert f"lm: eval_context 32, eval_windows {windows['lm']}, tokenizer toy-chars-v1" in line
    assert f"lm16: eval_context 16, eval_windows {windows['lm16']}, tokenizer toy-chars-v1" in line
    assert line.endswith("pass --allow-different to compare them anyway")
    allowed = cli("compare", str(dirs["lm"]), str(dirs["lm16"]), "--out", str(tmp_path / "cmp"), "--allow-different",
                  cache=dirs["cache"])
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.startswith("warning: comparing results measured under different protocols")
    assert "differ in: context_length" in allowed.stdout and "ppl pre-ft" in allowed.stdout


def test_compare_of_one_protocol_ranks_by_perplexity(dirs, tmp_path):
    again = shutil.copytree(dirs["lm"], tmp_path / "again")
    result = cli("compare", str(dirs["lm"]), str(again), "--out", str(tmp_path / "cmp"), cache=dirs["cache"])
    assert result.returncode == 0, result.stderr
    assert "perplexity after finetuning, lower is better (test split, select: final)" in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.startswith("┃ results"))
    assert "ppl pre-ft" in header and "top1 pre-ft" not in header
    assert "perplexity_mean" in (tmp_path / "cmp" / "summary.csv").read_text().splitlines()[0]
