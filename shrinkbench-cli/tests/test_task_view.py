"""How the report reads a task, against small tables checked by hand (written as real results directories and
read back through the report's loader): rankings, Kendall's tau and rank flips with a lower-is-better metric;
the fallback for a task no installed plugin registers; the progress bars' metric."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from shrinkbench import schema
from shrinkbench_cli.reporting.confounders import confounders
from shrinkbench_cli.reporting.grid_tables import flip_line
from shrinkbench_cli.reporting.results import load_directory, report_warnings

A, B, C = "a-strategy", "b-strategy", "c-strategy"
PPL = {  # pair (toy-t, toy-lm), target 2: perplexity of seeds 0, 1, 2 -- lower is better
    "default": {A: [10.0, 10.5, 11.0], B: [12.0, 12.5, 13.0], C: [20.0, 20.0, 20.0]},
    "lr-high": {A: [14.0, 14.5, 15.0], B: [12.0, 12.5, 13.0], C: [20.5, 19.5, 20.0]},
}


def write_lm_grid(directory: Path, table: dict, task: str | None = "causal-lm") -> Path:
    """A results directory of language-model rows holding ``table`` ({variant: {strategy: [perplexity per
    seed]}}), its sweep.json naming ``task`` (``None``: the key left out)."""
    directory.mkdir(parents=True)
    experiments, rows = {}, []
    for variant, by_strategy in table.items():
        slug = "toy-t-toy-lm" + ("" if variant == "default" else f"-{variant}")
        fixed = {"dataset": "toy-t", "model": "toy-lm", "variant": variant,
                 "finetune": {"epochs": 1, "lr": 0.05 if variant == "lr-high" else 0.01}}
        experiments[slug] = {"fixed": fixed if task is None else {**fixed, "task": task}, "fingerprint": f"fp-{slug}"}
        for strategy, values in by_strategy.items():
            for seed, ppl in enumerate(values):
                rows.append({schema.RUN_ID: f"{slug}/{strategy}_c2_s{seed}", schema.DATASET: "toy-t",
                             schema.MODEL: "toy-lm", schema.VARIANT: variant, schema.STRATEGY: strategy,
                             schema.SCHEDULE: "oneshot", schema.SEED: seed, schema.TARGET: 2.0,
                             schema.COMPRESSION: 2.0, "perplexity": ppl, "token_top1": 1 / ppl,
                             schema.dense("perplexity"): 8.0, schema.EVAL_CONTEXT: 32, schema.EVAL_WINDOWS: 10,
                             schema.TOKENIZER: "toy-chars-v1", schema.STATUS: schema.STATUS_OK})
    (directory / "sweep.json").write_text(json.dumps({"version": 2, "experiments": experiments}))
    with (directory / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=schema.order_columns(rows[0]))
        writer.writeheader()
        writer.writerows({k: schema.format_value(v) for k, v in r.items()} for r in rows)
    return directory


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    return load_directory(write_lm_grid(tmp_path_factory.mktemp("ppl") / "g", PPL))


def test_rankings_put_the_lowest_perplexity_first_and_tau_follows(grid):
    (report,) = confounders(grid)
    (ranking,) = report.rankings
    assert ranking.task.column == "perplexity" and not ranking.task.primary.higher_is_better
    assert [(c.method, c.mean) for c in ranking.by_variant["default"]] == [(A, 10.5), (B, 12.5), (C, 20.0)]
    assert [c.method for c in ranking.by_variant["lr-high"]] == [B, A, C]
    # means (10.5, 12.5, 20) vs (14.5, 12.5, 20): (A,B) discordant, (A,C), (B,C) concordant -> 1/3
    (tau,) = ranking.taus
    assert tau.means == pytest.approx(1 / 3)
    # per seed: seed 0 (10,12,20) vs (14,12,20.5), seed 1 (10.5,12.5,20) vs (14.5,12.5,19.5), seed 2 likewise:
    # (A,B) d, (A,C) c, (B,C) c in each -> 1/3, 1/3, 1/3
    assert (tau.seed_mean, tau.seed_std, tau.seeds) == (pytest.approx(1 / 3), pytest.approx(0.0), 3)


def test_a_flip_is_won_by_the_lower_perplexity(grid):
    (report,) = confounders(grid)
    (flip,) = report.flips
    se = math.sqrt(0.25 / 3 + 0.25 / 3)  # sample std 0.5 over 3 seeds, each side
    assert (flip.winner, flip.loser, flip.first, flip.second) == (A, B, "default", "lr-high")
    assert (flip.first_diff, flip.first_se) == (pytest.approx(2.0), pytest.approx(se))  # 12.5 - 10.5: A better
    assert (flip.second_diff, flip.second_se) == (pytest.approx(-2.0), pytest.approx(se))
    assert flip_line(flip) == ("toy-t · toy-lm at 2x: a-strategy beats b-strategy under default by 2.0000 perplexity "
                               "(se 0.4082) but loses under lr-high by 2.0000 perplexity (se 0.4082); lower is better")


def test_the_html_and_json_rankings_say_lower_is_better(run_cli, tmp_path):
    directory = write_lm_grid(tmp_path / "g", PPL)
    result = run_cli("report", str(directory), "--to", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "out" / "report.html").read_text()
    assert "ranking of the methods by mean perplexity (lower is better) (best first)" in page
    assert "a-strategy 10.5000 &lt; b-strategy 12.5000 &lt; c-strategy 20.0000" in page
    assert "<h2>Perplexity (lower is better)</h2>" in page
    document = json.loads(run_cli("report", str(directory), "--json").stdout)
    (ranking,) = document["confounders"]["axes"][0]["rankings"]
    assert [(c["strategy"], c["rank"]) for c in ranking["by_variant"]["lr-high"]] == [(B, 1), (A, 2), (C, 3)]
    assert document["confounders"]["axes"][0]["flips"][0]["winner"] == A


def test_an_unknown_task_is_ranked_by_its_recorded_metric_with_a_note(tmp_path):
    directory = load_directory(write_lm_grid(tmp_path / "g", PPL, task="causal-lm-v9"))
    task = directory.experiments[0].task
    assert (task.name, task.column, task.primary.higher_is_better) == ("causal-lm-v9", "perplexity", False)
    assert task.note == ("NOTE: task 'causal-lm-v9' is not installed (no plugin registers it): its results are "
                         "ranked by 'perplexity', the metric its rows record for the dense model, lower is better "
                         "(as the installed tasks' 'perplexity'); install the plugin that registers it for its own "
                         "metrics")
    assert report_warnings(directory.experiments) == [task.note]  # once, though two experiments have it
    (report,) = confounders(directory)
    assert [c.method for c in report.rankings[0].by_variant["default"]] == [A, B, C]


def test_without_any_installed_task_the_direction_is_assumed_and_said(tmp_path):
    from shrinkbench.plugins import load_registry

    bare = load_registry(entry_points=False)  # no plugin at all: no task is registered
    task = load_directory(write_lm_grid(tmp_path / "g", PPL), registry=bare).experiments[0].task
    assert (task.column, task.primary.higher_is_better) == ("perplexity", True)
    assert "higher is better (assumed: no installed task knows it)" in task.note
    vision = load_directory(write_lm_grid(tmp_path / "v", PPL, task=None), registry=bare).experiments[0].task
    assert vision.name == "classification" and vision.column == "perplexity"  # what its rows record


def test_the_cli_reports_an_unknown_task_with_its_note(run_cli, tmp_path):
    directory = write_lm_grid(tmp_path / "g", {"default": PPL["default"]}, task="causal-lm-v9")
    result = run_cli("report", str(directory), "--to", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("NOTE: task 'causal-lm-v9' is not installed")
    assert "perplexity after finetuning, lower is better (test split, select: final)" in result.stdout


def test_rows_recording_no_dense_metric_are_read_as_classification(tmp_path):
    from shrinkbench_cli.reporting.task_view import default_registry, fallback_view, resolve_task

    view = fallback_view("gone", [{schema.TOP1: 0.5}], default_registry())
    assert view.name == "classification" and "read as classification (top-1)" in view.note
    assert resolve_task(default_registry(), {}, []).name == "classification"  # no task key: the default


def progress_infos(task_name: str | None, row: dict) -> tuple[str, str]:
    """The info of a run's bar after an epoch, and of the overall bar after the run finished."""
    from shrinkbench.engine.events import (
        EpochDone,
        EpochLog,
        RunFinished,
        SweepPlanned,
        SweepStarted,
        TaskStarted,
    )
    from shrinkbench_cli.progress_view import RichProgress
    from shrinkbench_cli.reporting.task_view import TaskView, core_task

    tasks = {"toy-t-toy-lm": TaskView(core_task(task_name))} if task_name else {}
    key = "toy-t-toy-lm/a_c2_s0"
    with RichProgress(Console(file=io.StringIO(), width=200), "bench", tasks) as progress:
        for event in (SweepPlanned(1, 0, 0, "1 run", "out"), SweepStarted(1, 0), TaskStarted(key, "a", 1),
                      EpochDone(key, EpochLog(1, 0.1, 1.25, 0.5, val_top1=0.625, val_loss=0.75, val_primary=2.5))):
            progress(event)
        epoch = progress.bars.tasks[-1].fields["info"]
        progress(RunFinished(key, None, {"status": "ok", **row}))
        return epoch, progress.bars.tasks[0].fields["info"]


def test_progress_bars_show_the_tasks_primary_metric():
    assert progress_infos("causal-lm", {"perplexity": 3.25, "token_top1": 0.5}) == (
        "loss 1.250 val ppl 2.500", "last: toy-t-toy-lm/a_c2_s0 ppl 3.250")
    classification = ("loss 1.250 val 0.625", "last: toy-t-toy-lm/a_c2_s0 top1 0.950")
    assert progress_infos("classification", {"top1": 0.95}) == classification
    assert progress_infos(None, {"top1": 0.95}) == classification  # no task given: as before tasks existed
