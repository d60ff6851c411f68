"""Grids with the real engine (toy plugin, in this process, a few seconds): a grid's rows equal the separate
single-pair sweeps' rows, an impossible pair is refused while the others run, variant columns and dense-model
cache keys; then the grid's report (terminal, HTML with a panel per pair and the confounders section, JSON),
the dense-reference warning, and ``compare`` of grids made apart."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import TOY_DIR
from html_tables import TablesParser
from test_grid_stats import T1, write_grid

from shrinkbench import ModelSpec, Reference, hookimpl, schema
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
from shrinkbench.engine.config import Variant

sys.path.insert(0, str(TOY_DIR))
import toy_plugin  # noqa: E402 - lives in core's tests folder

VARIANTS = (Variant("default"), Variant("lr-high", (("finetune.lr", 0.05),)),
            Variant("other-dense", (("dense_seed_offset", 100),)))
GRID = dict(datasets=("toy-blobs",), models=("toy-mlp", "toy-conv"), strategies=("toy-magnitude", "toy-random", "toy-layer"),
            compressions=(2.0, 4.0), seeds=(0, 1), threads=1, jobs=1, device="cpu",
            pretrain=Recipe(epochs=3, lr=0.05), finetune=Recipe(epochs=1, lr=0.01, lr_schedule="constant"))
REFERENCE = Reference("toy-blobs", 0.999, "a made-up paper, 2019", 0.001)


@hookimpl
def shrinkbench_models():
    """A toy MLP with a published top-1 it cannot reach: its rows say ``below_reference``."""
    return [ModelSpec("toy-ref", "toy MLP with an unreachable published top-1", toy_plugin.toy_mlp,
                      references=(REFERENCE,))]


def registry():
    from shrinkbench.plugins import load_registry

    return load_registry(inline=[("toy", toy_plugin), ("grid", sys.modules[__name__])])


def sweep(directory: Path, **settings) -> Path:
    run_sweep(registry(), SweepConfig(**{**GRID, **settings}), ResultsStore(directory))
    return directory


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> dict[str, Path]:
    """``grid``: 2 models x 3 variants (default, finetune-only lr-high, other-dense); ``cache``: its dense models;
    ``singles``: each experiment of it run alone (own directory, own cache); ``ref``: toy-mlp and toy-ref."""
    root = tmp_path_factory.mktemp("grids")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHRINKBENCH_CACHE", str(root / "cache"))
        out = {"grid": sweep(root / "grid", variants=VARIANTS), "cache": root / "cache"}
        out["ref"] = sweep(root / "ref", models=("toy-mlp", "toy-ref"), strategies=("toy-magnitude", "toy-random"),
                           seeds=(0, 1))
        mp.setenv("SHRINKBENCH_CACHE", str(root / "single-cache"))
        out["singles"] = [sweep(root / f"single-{model}-{variant.name}", models=(model,), variants=(variant,))
                          for model in GRID["models"] for variant in VARIANTS]
    return out


def without_timings(rows: list[dict]) -> dict[str, dict]:
    """Rows by run id without the clock readings, NaN spelled out (so that equal rows compare equal)."""
    return {r[schema.RUN_ID]: {k: "nan" if v != v else v for k, v in r.items() if k not in schema.TIMINGS}
            for r in rows}


def test_grid_rows_equal_the_single_pair_sweeps_rows(grid):
    store = ResultsStore(grid["grid"])
    rows = without_timings(store.rows())
    assert len(rows) == 2 * 3 * 3 * 2 * 2 and all(r[schema.STATUS] == schema.STATUS_OK for r in rows.values())
    singles = {}
    for directory in grid["singles"]:
        single = ResultsStore(directory)
        for slug, stored in single.experiments().items():  # the variant, and the default run beside it
            assert stored == store.experiments()[slug]  # same fixed part, same fingerprint
        singles.update(without_timings(single.rows()))
    assert singles.keys() == rows.keys()
    for run_id, row in rows.items():
        assert singles[run_id] == row, run_id


def test_impossible_pair_is_refused_while_the_others_run(tmp_path, monkeypatch):
    """``-d toy-blobs -m toy-mlp -m toy-rgb`` as the command line builds it (in this process: the toy plugin
    inline, so no plugin probe can time out on a busy machine)."""
    from shrinkbench.engine import build_sweep_config, resolve

    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "cache"))
    flags = {"dataset": ["toy-blobs"], "model": ["toy-mlp", "toy-rgb"], "strategy": ["toy-magnitude"],
             "compression": (2.0,), "pretrain_epochs": 1, "finetune_epochs": 1, "jobs": 1, "threads": 1, "device": "cpu"}
    resolved = resolve(registry(), build_sweep_config(registry(), None, flags))
    assert "pair toy-blobs x toy-rgb refused: model 'toy-rgb' takes 3-channel input, the dataset has 1" in resolved.notes
    out = tmp_path / "out"
    outcome = run_sweep(registry(), resolved, ResultsStore(out))
    assert len(outcome.new_rows) == 1 and not outcome.failed
    assert {r[schema.MODEL] for r in ResultsStore(out).rows()} == {"toy-mlp"}
    assert list(ResultsStore(out).experiments()) == ["toy-blobs-toy-mlp"]
    from shrinkbench_cli.reporting.results import load_directory

    assert not load_directory(out).is_grid  # what is left is one experiment: reported as always


def test_variant_columns_and_dense_cache_keys(grid):
    from shrinkbench.engine.resolution import resolve

    rows = ResultsStore(grid["grid"]).rows()
    for row in rows:
        slug = row[schema.RUN_ID].partition("/")[0]
        assert slug == f"toy-blobs-{row[schema.MODEL]}" + ("" if row[schema.VARIANT] == "default"
                                                         else f"-{row[schema.VARIANT]}")
    dense = {(r[schema.MODEL], r[schema.VARIANT], r[schema.SEED]): r[schema.DENSE_TOP1] for r in rows}
    assert {v for _, v, _ in dense} == {"default", "lr-high", "other-dense"}
    experiments = {(e.model, e.variant): e for e in resolve(registry(), SweepConfig(**GRID, variants=VARIANTS)).experiments}
    digests = set()
    for model in GRID["models"]:
        for seed in GRID["seeds"]:
            default, high, other = (experiments[model, v.name].dense_key(seed).digest() for v in VARIANTS)
            assert default == high != other  # a finetune-only variant shares the dense model; an offset does not
            assert dense[model, "default", seed] == dense[model, "lr-high", seed]
            digests |= {default, other}
    assert {p.name for p in (grid["cache"] / "dense").iterdir()} >= digests and len(digests) == 2 * 2 * 2


class Page(TablesParser):
    """Headings (h2, h3), tables (rows of cell texts), figures' panels, warnings and paragraphs of report.html."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.axes: list[str] = []
        self.panels: list[list[dict]] = []
        self.warnings: list[str] = []
        self.flips: list[str] = []
        self._tag: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        super().handle_starttag(tag, attrs)
        attrs = dict(attrs)
        if tag == "figure":
            self.panels.append(json.loads(attrs.get("data-panels", "[]")))
        self._tag = {"h2": "h2", "h3": "h3"}.get(tag) or (attrs.get("class") if tag == "p" else None)

    def handle_endtag(self, tag):
        super().handle_endtag(tag)
        self._tag = None

    def handle_data(self, data):
        super().handle_data(data)
        target = {"h2": self.headings, "h3": self.axes, "warning": self.warnings, "flips": self.flips}.get(self._tag)
        if target is not None:
            target.append(data)


def test_grid_report_has_a_panel_per_pair_and_the_confounders(run_cli, grid, tmp_path):
    out = tmp_path / "report"
    result = run_cli("report", str(grid["grid"]), "--to", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("6 experiments: 2 (dataset, model) pairs x 3 variants")
    assert "axis finetune.lr: default (base) vs lr-high" in result.stdout
    assert "axis dense_seed_offset: default (base) vs other-dense" in result.stdout
    assert "72 runs (0 failed)" in result.stdout
    header = (out / "summary.csv").read_text().splitlines()[0]
    assert header.startswith("dataset,model,variant,strategy,compression_target,seeds")
    page = Page((out / "report.html").read_text())
    assert page.headings == ["Experiments", "Accuracy", "Confounders", "Failed runs", "Fixed configuration"]
    accuracy = [p for p in page.panels if p]
    assert len(accuracy) == 3 and len(page.panels) == 4  # three small multiples and the sparsity plot
    for panels in accuracy:
        assert {(p["model"], p["variant"]) for p in panels} == {(m, v.name) for m in GRID["models"] for v in VARIANTS}
    assert page.axes == ["finetune.lr: default (base) vs lr-high", "dense_seed_offset: default (base) vs other-dense"]
    experiments, _, lr, *_ = page.tables
    assert experiments[0][:4] == ["dataset", "model", "variant", "changes"]
    assert [row[3] for row in experiments[1:]] == ["-", "finetune.lr=0.05", "dense_seed_offset=100"] * 2
    assert lr[0][-2:] == ["tau lr-high (means)", "tau lr-high (per seed)"]
    assert {(row[1], row[2]) for row in lr[1:]} == {(m, t) for m in GRID["models"] for t in ("2", "4")}


def test_html_confounders_of_a_hand_checked_grid(run_cli, tmp_path):
    directory = write_grid(tmp_path / "hand", {("toy-m", 4.0): T1})
    result = run_cli("report", str(directory), "--to", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert ("flip: toy-d · toy-m at 4x: a-strategy beats b-strategy under default by 0.0500 (se 0.0082) but loses "
            "under lr-high by 0.0500 (se 0.0082)") in result.stdout
    page = Page((tmp_path / "out" / "report.html").read_text())
    _, _, ranking, flips, *_ = page.tables
    assert ranking[0] == ["dataset", "model", "target", "ranking under default", "ranking under lr-high",
                          "ranking under lr-low", "tau lr-high (means)", "tau lr-high (per seed)", "tau lr-low (means)",
                          "tau lr-low (per seed)"]
    row = ranking[1]
    assert row[3] == "a-strategy 0.9100 > b-strategy 0.8600 > c-strategy 0.8000"
    assert row[6:] == ["0.33", "-0.11 ± 0.38 (3 seeds)", "0.33", "0.33 ± 0.00 (3 seeds)"]
    assert flips[1] == ["toy-d", "toy-m", "4", "a-strategy", "b-strategy", "default", "+0.0500 ± 0.0082", "lr-high",
                        "-0.0500 ± 0.0082"]
    assert "1 rank flip exceeds the seeds' noise; 1 sign change within noise" in result.stdout


def strict_json(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_report_json_schema(run_cli, grid, tmp_path):
    from shrinkbench_cli.reporting.json_report import REPORT_KEYS

    result = run_cli("report", str(grid["grid"]), "--json", "--to", str(tmp_path / "never"))
    assert result.returncode == 0, result.stderr
    document = strict_json(result.stdout)
    assert list(document) == list(REPORT_KEYS) and document["schema"] == "shrinkbench-report/1"
    assert document["grid"] is True and not (tmp_path / "never").exists()
    assert [(e["model"], e["variant"]) for e in document["experiments"]] == [
        (m, v.name) for m in GRID["models"] for v in VARIANTS]
    for e in document["experiments"]:
        assert set(e) >= {"slug", "dataset", "changes", "runs", "succeeded", "dense_top1", "reference", "comparable"}
        assert e["runs"] == 12 and e["reference"] is None and e["comparable"] is None
    assert len(document["summary"]) == 6 * 3 * 2
    point = document["summary"][0]
    assert set(point["top1"]) == {"mean", "std"} and "xerr" in point["latency_speedup_64"]
    assert [len(f["panels"]) for f in document["figures"]] == [6, 6, 6, 0]
    axes = document["confounders"]["axes"]
    assert [a["keys"] for a in axes] == [["finetune.lr"], ["dense_seed_offset"]]
    ranking = axes[0]["rankings"][0]
    assert set(ranking["by_variant"]) == {"default", "lr-high"} and ranking["tau"][0]["variant"] == "lr-high"
    assert [c["rank"] for c in ranking["by_variant"]["default"]][0] == 1
    assert document["sparsity"]["layers"] and document["failed_runs"] == []
    single = strict_json(run_cli("report", str(grid["singles"][0]), "--json").stdout)
    assert single["grid"] is False and single["confounders"]["axes"] == [] and len(single["experiments"]) == 1


def test_below_reference_pairs_are_named_not_comparable(run_cli, grid, tmp_path):
    result = run_cli("report", str(grid["ref"]), "--to", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING: toy-blobs · toy-ref: dense top-1 ")
    assert warnings[0].endswith("is below the published 0.9990 (a made-up paper, 2019); results from this pair are "
                                "not comparable (dense model under-trained)")
    page = Page((tmp_path / "out" / "report.html").read_text())
    assert page.warnings == [warnings[0]]
    experiments = page.tables[0]
    assert [row[-1] for row in experiments[1:]] == ["unknown", "NO: dense below published"]
    document = strict_json(run_cli("report", str(grid["ref"]), "--json").stdout)
    assert document["warnings"] == warnings
    assert [e["comparable"] for e in document["experiments"]] == [None, False]
    assert document["experiments"][1]["reference"] == {"top1": 0.999, "source": "a made-up paper, 2019", "below": True}


def test_single_experiment_below_reference_warns_too(run_cli, grid, tmp_path):
    directory = tmp_path / "alone"
    shutil.copytree(grid["ref"], directory)
    rows = list(csv.DictReader((directory / "results.csv").open()))
    kept = [r for r in rows if r[schema.MODEL] == "toy-ref"]
    with (directory / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    result = run_cli("report", str(directory))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("WARNING: toy-blobs · toy-ref: dense top-1")
    assert '<p class="warning">WARNING: toy-blobs · toy-ref' in (directory / "report.html").read_text()


def test_runs_outside_the_mask_band_are_counted_in_a_note_line(run_cli, grid, tmp_path):
    from shrinkbench.engine.run import mask_band_notes

    directory = tmp_path / "band"
    shutil.copytree(grid["ref"], directory)
    rows = list(csv.DictReader((directory / "results.csv").open()))
    assert not any(r[schema.LATENCY_NOTE] for r in rows)  # toy models: a notable measurement would be noise
    disturbed = {"latency_speedup": 2.91, "latency_speedup_spread": 0.09}  # the seed-0 figure
    rows[1][schema.LATENCY_NOTE] = "; ".join(mask_band_notes(disturbed))
    with (directory / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    document = strict_json(run_cli("report", str(directory), "--json").stdout)
    ok = sum(r[schema.STATUS] == schema.STATUS_OK for r in rows)
    assert document["warnings"][-1] == (f"NOTE: 1 of {ok} runs have a note on their measured latency, e.g. "
                                        f"{rows[1][schema.RUN_ID]}: {rows[1][schema.LATENCY_NOTE]}")
    assert "measured speedup outside the mask band 0.8-1.25x: 2.91x ±9%" in document["warnings"][-1]
    result = run_cli("report", str(directory), "--to", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert document["warnings"][-1] in result.stdout.splitlines()


def test_compare_grids_and_single_pairs_says_what_differs(run_cli, grid, tmp_path):
    single = tmp_path / "single"
    shutil.copytree(grid["singles"][0], single)
    rows = list(csv.DictReader((single / "results.csv").open()))
    with (single / "results.csv").open("w", newline="") as f:  # a store of another version: no top5 column
        writer = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c != "top5"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    result = run_cli("compare", str(grid["grid"]), str(single), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stderr
    assert "the fixed configurations differ in: model (grid: toy-mlp/toy-conv, single: toy-mlp); finetune.lr " in (
        result.stdout)
    assert "the results.csv columns differ: top5 (only in grid)" in result.stdout
    assert "grid:toy-blobs-toy-conv-other-dense: accuracy after finetuning" in result.stdout
    for name in ("summary.csv", "accuracy_vs_compression.png", "accuracy_vs_measured_speedup.png"):
        assert (tmp_path / "cmp" / name).is_file()
    document = strict_json(run_cli("compare", str(grid["grid"]), str(single), "--json").stdout)
    assert document["schema"] == "shrinkbench-compare/1"
    assert document["column_differences"] == {"top5": ["grid"]}
    assert document["differ_between_directories"]["model"] == {"grid": ["toy-mlp", "toy-conv"], "single": ["toy-mlp"]}
    assert len(document["experiments"]) == 7 and document["experiments"][-1]["label"] == "single"
    assert document["differences"]["finetune.lr"]["grid:toy-blobs-toy-mlp-lr-high"] == 0.05
