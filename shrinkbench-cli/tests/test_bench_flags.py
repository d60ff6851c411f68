"""``bench --print-config`` (a TOML file that ``--config`` reads back to the same sweep), ``--dry-run`` (the plan
and a calibrated estimate, nothing written) and ``--json`` (the outcome for scripts, no progress bars)."""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import replace

import pytest
from conftest import TOY_DIR

from shrinkbench_cli.bench_runner import config_toml, toml_key, toml_value

PAIR = ("-d", "toy-blobs", "-m", "toy-mlp", "-s", "toy-magnitude", "-s", "toy-random")
RECIPE = ("--pretrain-epochs", "2", "--finetune-epochs", "1")
TOY = (*PAIR, "-c", "1,4", *RECIPE)


@pytest.fixture
def registry(monkeypatch, tmp_path):
    """Core's plugins and the toy plugin, in process; a private cache, no $DATAPATH."""
    monkeypatch.syspath_prepend(str(TOY_DIR))
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DATAPATH", raising=False)
    monkeypatch.chdir(tmp_path)
    import toy_plugin

    from shrinkbench.engine import plugin as core_engine
    from shrinkbench.metrics import plugin as core_metrics
    from shrinkbench.plugins import load_registry

    return load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine), ("toy", toy_plugin)],
                         entry_points=False)


def parsed(result) -> dict:  # noqa: ANN001 - a CompletedProcess
    """The JSON object a command printed (its stderr in the message when it printed none)."""
    assert result.stdout.strip(), f"exit {result.returncode}: {result.stderr}"
    return json.loads(result.stdout)


def without_comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def round_trip(registry, tmp_path, overrides: dict):  # noqa: ANN001, ANN201
    """(sweep of the flags, sweep of their printed config, the printed text)."""
    from shrinkbench.engine import build_sweep_config, resolve

    sweep = resolve(registry, build_sweep_config(registry, None, overrides))
    text = config_toml(sweep, registry)
    tomllib.loads(text)  # valid TOML
    path = tmp_path / "printed.toml"
    path.write_text(text)
    again = resolve(registry, build_sweep_config(registry, path, {}))
    assert again.experiments == sweep.experiments and again.strategies == sweep.strategies
    assert again.runs() == sweep.runs() and again.excluded == sweep.excluded
    assert (again.settings, again.executor, again.results_dir) == (sweep.settings, sweep.executor, sweep.results_dir)
    assert without_comments(config_toml(again, registry)) == without_comments(text)  # printing it again changes nothing
    return sweep, again, text


def test_print_config_round_trips_every_setting(registry, tmp_path):
    flags = {
        "dataset": ["toy-blobs"], "model": ["toy-mlp", "toy-conv"], "strategy": ["ToyMag", "toy-random"],
        "schedule": ["oneshot", "iterative"], "schedule_option": ["iterative.rounds=2", "rewind_epoch=1"],
        "variant": ["lr-high:finetune_lr=0.05", "other.dense:dense_seed_offset=100,pretrain_epochs=3"],
        "compression": [1, 2.5, 4], "seeds": [0, 3], "finetune_epochs": 1, "pretrain_lr": 0.02, "batch_size": 32,
        "val_fraction": 0.2, "select": "best-val", "precision": "bf16", "jobs": "2", "threads": "1",
        "gpus_per_run": "auto", "eval_batch_size": 128, "workers": 0, "deterministic": True, "compile": False,
        "channels_last": True, "tf32": False, "retry": False, "include_classifier": True, "device": "cpu",
        "out": str(tmp_path / 'results "quoted" \\ ünïcode'), "executor": "sequential",
        "executor_option": ["address=auto"],
    }
    sweep, again, text = round_trip(registry, tmp_path, flags)
    request, back = sweep.request, again.request
    assert len(sweep.runs()) == 2 * 2 * 2 * 2 * 3 * 3  # seeds x models x strategies x schedules x targets x variants
    # (the two named variants and the default one, their baseline)
    assert {v.name: dict(v.changes) for v in back.variants} == {v.name: dict(v.changes) for v in request.variants}
    for field in ("datasets", "models", "strategies", "compressions", "seeds", "schedules", "schedule_options",
                  "val_fraction", "selection", "include_classifier", "out", "precision", "device", "jobs", "threads",
                  "gpus_per_run", "workers", "eval_batch_size", "deterministic", "compile", "channels_last", "tf32",
                  "executor", "executor_options", "retry"):
        assert getattr(back, field) == getattr(request, field), field
    data = tomllib.loads(text)
    assert data["strategy"] == ["toy-magnitude", "toy-random"] and data["gpus_per_run"] == "auto"
    assert data["pretrain"] == {"lr": 0.02, "batch_size": 32, "optimizer": "sgd", "momentum": 0.9, "nesterov": True,
                                "weight_decay": 0.0005, "lr_schedule": "cosine", "loss": "cross-entropy",
                                "label_smoothing": 0.0}  # every field, but the one a variant sets
    assert "# epochs: the standard recipe's, 10 (variants set their own)" in text
    assert data["finetune"]["epochs"] == 1 and "lr" not in data["finetune"]
    assert data["schedules"] == {"iterative": {"rewind_epoch": "1", "rounds": "2"}}
    assert data["variants"]["other.dense"] == {"dense_seed_offset": 100, "pretrain": {"epochs": 3}}
    assert data["executor"] == {"name": "sequential", "address": "auto"}
    assert "# checkpoint: none" in text and "# data_root: none" in text


@pytest.mark.parametrize(("schedule", "explicit"), [("oneshot", True), ("gradual", False)])
def test_print_config_resolves_the_default_strategies(registry, tmp_path, schedule, explicit):
    """Without --strategy: the resolved list, unless naming it would refuse what the default set leaves out
    (the structured toy-shrink cannot prune during training): then a comment, and the same sweep."""
    sweep, _again, text = round_trip(registry, tmp_path, {"dataset": ["toy-blobs"], "model": ["toy-mlp"],
                                                          "schedule": [schedule], "compression": [2]})
    assert ("strategy" in tomllib.loads(text)) is explicit
    assert bool(sweep.excluded) is not explicit
    if not explicit:
        assert "# strategy: the default" in text and "# note: left out toy-shrink + gradual" in text


def test_print_config_of_datasets_with_different_standard_recipes_keeps_only_the_changes(registry, tmp_path):
    from shrinkbench.engine import build_sweep_config, resolve

    sweep = resolve(registry, build_sweep_config(registry, None, {"dataset": ["toy-blobs"], "model": ["toy-mlp"],
                                                                  "pretrain_epochs": 3, "compression": [2]}))
    from shrinkbench.testing import tiny_lm

    registry.add("datasets", tiny_lm.shrinkbench_datasets()[0], "tiny-lm")  # toy-text: recipes of its own
    grid = replace(sweep, request=replace(sweep.request, datasets=("toy-blobs", "toy-text")))  # their lr differ
    text = config_toml(grid, registry)
    assert tomllib.loads(text)["pretrain"] == {"epochs": 3}
    assert "# each dataset's standard pretrain recipe, with these changes" in text
    assert tomllib.loads(text)["finetune"] == {}  # 5 and 1 epochs: nothing changed, nothing written


@pytest.mark.parametrize("value", ["plain", 'a "quote" and \\ backslash', "tab\there\nnewline", "ünï €", "\x7f\x01",
                                   "", 0, -3, 2**40, 0.1, 1e-5, 1e300, -0.0, True, False, math.inf, -math.inf,
                                   [1.5, 2.0], ["a", "b c"], []])
def test_toml_values_read_back(value):
    data = tomllib.loads(f"{toml_key('odd key.with dot')} = {toml_value(value)}\nbare-key_1 = 1\n")
    assert data["odd key.with dot"] == value and type(data["odd key.with dot"]) is type(value)
    assert toml_key("bare-key_1") == "bare-key_1"


def test_toml_nan_and_unknown_types():
    assert math.isnan(tomllib.loads(f"x = {toml_value(math.nan)}")["x"])
    with pytest.raises(TypeError):
        toml_value(None)


def test_print_config_cli_prints_and_writes_nothing(run_cli, tmp_path):
    result = run_cli("bench", *TOY, "--out", str(tmp_path / "out"), "--print-config")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["strategy"] == ["toy-magnitude", "toy-random"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache" / "dense").exists()
    (tmp_path / "sweep.toml").write_text(result.stdout)
    plan = parsed(run_cli("bench", "--config", str(tmp_path / "sweep.toml"), "--dry-run", "--json"))
    assert plan["runs"]["total"] == 4 and plan["results_dir"] == str(tmp_path / "out")


def test_dry_run_plans_without_writing(run_cli, tmp_path):
    out = tmp_path / "out"
    result = run_cli("bench", *TOY, "--out", str(out), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert not out.exists() and not (tmp_path / "cache" / "dense").exists()
    lines = result.stdout.splitlines()
    assert "dry run: nothing is run or written" in lines
    assert "runs: 4 in all: 4 to do (0 of them failed before and run again), 0 already complete" in lines
    assert ("note: 1 compression-1 run shares another strategy's (nothing is pruned at compression 1): not run, "
            "not timed") in lines
    assert "dense models: 1 to train, 0 already cached" in lines
    assert any(re.fullmatch(r"layout: (sequential|local) executor, \d+ runs? at a time x .+", line) for line in lines)
    estimate = next(line for line in lines if line.startswith("estimate: ~"))
    assert "ms/step at batch 64" in estimate and "us/example evaluated" in estimate
    assert f"results would go to: {out}" in lines


def test_dry_run_after_a_run_counts_what_is_complete_and_cached(run_cli, tmp_path):
    out = tmp_path / "out"
    assert run_cli("bench", *TOY, "--out", str(out), "--no-report").returncode == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    plan = parsed(run_cli("bench", *TOY, "--seeds", "0,1", "--out", str(out), "--dry-run", "--json"))
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert len(plan["runs"]["complete"]) == 4 and len(plan["runs"]["todo"]) == 4 and plan["runs"]["retry"] == []
    assert all(run_id.endswith("_s1") for run_id in plan["runs"]["todo"])
    assert [d["seed"] for d in plan["dense"]["to_train"]] == [1] and plan["dense"]["cached"] == 0
    assert plan["estimate"]["seconds"] > 0 and set(plan["estimate"]["calibrations"]) == {"toy-blobs-toy-mlp"}
    done = parsed(run_cli("bench", *TOY, "--out", str(out), "--dry-run", "--json"))
    assert done["runs"]["todo"] == [] and done["estimate"] is None


def test_json_outcome_without_progress_bars(run_cli, tmp_path):
    out = tmp_path / "out"
    first = run_cli("bench", *TOY, "--out", str(out), "--json")
    assert first.returncode == 0, first.stderr
    data = parsed(first)  # nothing else on stdout: no bars, no table
    assert data["results_dir"] == str(out) and data["exit_code"] == 0 and data["report_error"] is None
    assert sorted(data["runs"]["done"]) == sorted(f"toy-blobs-toy-mlp/{s}_c{c}_s0" for s in ("toy-magnitude", "toy-random")
                                                  for c in (1, 4))
    assert data["runs"]["skipped"] == [] and data["runs"]["failed"] == [] and "at a time" in data["layout"]
    assert str(out / "report.html") in data["report"] and (out / "report.html").is_file()
    more = parsed(run_cli("bench", *PAIR, "-c", "1,4,2", *RECIPE, "--out", str(out), "--json",
                              "--no-report"))
    assert len(more["runs"]["skipped"]) == 4 and len(more["runs"]["done"]) == 2 and more["report"] == []


def test_json_outcome_names_failed_and_retried_runs(run_cli, tmp_path):
    args = ("bench", "-d", "toy-blobs", "-m", "toy-reviving", "-s", "toy-magnitude", "-c", "4", "--pretrain-epochs", "1",
            "--finetune-epochs", "1", "--out", str(tmp_path / "out"), "--json", "--no-report")
    first = run_cli(*args)
    assert first.returncode == 1, first.stderr
    data = parsed(first)
    assert data["exit_code"] == 1 and data["runs"]["done"] == []
    assert [f["run_id"] for f in data["runs"]["failed"]] == ["toy-blobs-toy-reviving/toy-magnitude_c4_s0"]
    assert "expected" in data["runs"]["failed"][0]["error"]
    plan = parsed(run_cli(*args[:-2], "--dry-run", "--json"))
    assert plan["runs"]["retry"] == ["toy-blobs-toy-reviving/toy-magnitude_c4_s0"]
    again = parsed(run_cli(*args))
    assert again["runs"]["retried"] == ["toy-blobs-toy-reviving/toy-magnitude_c4_s0"]
    kept = parsed(run_cli(*args, "--no-retry"))
    assert kept["runs"]["skipped"] == ["toy-blobs-toy-reviving/toy-magnitude_c4_s0"] and kept["exit_code"] == 0


def test_plan_sweep_in_process(registry):
    from shrinkbench.engine import build_sweep_config, resolve
    from shrinkbench.engine.estimate import plan_sweep

    sweep = resolve(registry, build_sweep_config(registry, None, {"dataset": ["toy-blobs"], "model": ["toy-mlp"],
                                                                  "strategy": ["toy-magnitude"], "compression": [2, 4],
                                                                  "schedule": ["oneshot", "iterative"]}))
    plan = plan_sweep(registry, sweep)
    assert len(plan.todo) == 4 and len(plan.dense) == 1 and plan.complete == [] and plan.retry == []
    estimate = plan.estimate
    assert estimate is not None and estimate.seconds >= estimate.run_seconds > 0 and estimate.dense_seconds > 0
    calibration = estimate.calibrations["toy-blobs-toy-mlp"]
    assert set(calibration.step_seconds) == {64} and calibration.eval_seconds > 0
    json.dumps(plan.to_json())
    assert plan_sweep(registry, sweep, estimate=False).estimate is None
    assert not sweep.results_dir.exists()
