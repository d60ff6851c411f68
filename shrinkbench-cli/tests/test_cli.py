"""The ``shrinkbench`` command end to end: listing, errors, a small bench and the report."""

from __future__ import annotations

import json

import pytest

from shrinkbench.engine.store import ResultsStore

EXPERIMENT = "toy-blobs-toy-mlp"  # run ids are <experiment>/<method>_c<target>_s<seed>


def test_list_json_has_every_kind_and_core_metrics(run_cli):
    result = run_cli("list", "--json", toy=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"plugins", "strategies", "models", "datasets", "metrics", "executors", "schedules", "tasks"}
    metrics = {m["name"]: m for m in data["metrics"]}
    assert {"size", "flops", "memory", "accuracy"} <= set(metrics)
    assert all(m["plugin"] == "shrinkbench-core" and m["description"] for m in metrics.values())
    assert any(p["plugin"] == "shrinkbench-core" and p["status"] == "ok" for p in data["plugins"])


def test_list_filters_by_pattern_and_shows_a_table(run_cli):
    result = run_cli("list", "strategies", "*random*")
    assert result.returncode == 0, result.stderr
    assert "toy-random" in result.stdout and "toy-magnitude" not in result.stdout
    assert "toy_plugin" in result.stdout


def test_help_explains_the_commands(run_cli):
    result = run_cli("--help", toy=False)
    assert result.returncode == 0
    for command in ("list", "bench", "report"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "bogus"), "'bogus' is not one of"),
        (("bench", "-s", "toy-magnitud", "-d", "toy-blobs", "-m", "toy-mlp", "-c", "2"), "did you mean 'toy-magnitude'"),
        (("bench", "-d", "toy-blobs", "-m", "toy-rgb"), "3-channel"),
        (("bench", "-d", "toy-blob", "-m", "toy-mlp"), "did you mean 'toy-blobs'"),
        (("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-c", "0.5"), "compression must be a finite number >= 1"),
        (("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-c", "two"), "'two' is not a number"),
        (("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-c", "2,4,2.0"), "gives 2 more than once; give each target once"),
        (("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-c", "2", "--checkpoint", "missing.pt"), "cannot read checkpoint"),
        (("report", "nowhere"), "no results.csv in nowhere"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(run_cli, tmp_path, args, message):
    result = run_cli(*args, "--out", str(tmp_path / "out")) if args[0] == "bench" else run_cli(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_every_problem_of_a_request_is_reported_at_once_one_line_each(run_cli, tmp_path):
    result = run_cli("bench", "-s", "toy-magnitud", "-d", "toy-blobs", "-m", "toy-mlp", "-c", "2,32", "--schedule",
                     "gradul", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines), result.stderr
    assert "did you mean 'toy-magnitude'" in lines[0] or "did you mean 'toy-magnitude'" in result.stderr
    assert "did you mean 'gradual'" in result.stderr and "compression 32 is out of reach" in result.stderr
    assert not (tmp_path / "out").exists()


def test_bench_then_report(run_cli, tmp_path):
    out = tmp_path / "res"
    args = ("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-s", "toy-magnitude", "-s", "toy-random", "-c", "1,4",
            "--pretrain-epochs", "3", "--finetune-epochs", "1", "--out", str(out))
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "toy-magnitude" in result.stdout and "dense top-1" in result.stdout
    rows = ResultsStore(out).rows()
    assert sorted(r["run_id"] for r in rows) == [f"{EXPERIMENT}/{m}" for m in ("toy-magnitude_c1_s0", "toy-magnitude_c4_s0",
                                                                              "toy-random_c1_s0", "toy-random_c4_s0")]
    for name in ("accuracy_vs_compression.png", "accuracy_vs_speedup.png", "summary.csv"):
        assert (out / name).stat().st_size > 1000 or name == "summary.csv"
    again = run_cli(*args)
    assert "0 runs done, 4 already complete" in again.stdout
    other = run_cli(*args[:-2], "--finetune-lr", "0.5", "--out", str(out))
    assert other.returncode == 2 and "another configuration" in other.stderr
    report = run_cli("report", str(out))
    assert report.returncode == 0 and "toy-random" in report.stdout


def test_bench_reads_a_toml_config_and_flags_override_it(run_cli, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('dataset = "toy-blobs"\nmodel = "toy-mlp"\nstrategy = ["toy-magnitude"]\n'
                      "compression = [2, 4]\n\n[pretrain]\nepochs = 2\n\n[finetune]\nepochs = 3\nlr = 0.02\n")
    out = tmp_path / "res"
    result = run_cli("bench", "--config", str(config), "--finetune-epochs", "1", "--out", str(out), "--no-report")
    assert result.returncode == 0, result.stderr
    fixed = json.loads((out / "sweep.json").read_text())["experiments"]["toy-blobs-toy-mlp"]["fixed"]
    assert fixed["finetune"]["epochs"] == 1 and fixed["finetune"]["lr"] == 0.02 and fixed["pretrain"]["epochs"] == 2
    assert sorted(r["run_id"] for r in ResultsStore(out).rows()) == [f"{EXPERIMENT}/toy-magnitude_c2_s0",
                                                                     f"{EXPERIMENT}/toy-magnitude_c4_s0"]


def test_unknown_config_key_is_one_line_exit_2(run_cli, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('datset = "toy-blobs"\n')
    result = run_cli("bench", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "unknown key 'datset'" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_unavailable_device_is_one_line_exit_2_before_any_work(run_cli, tmp_path):
    result = run_cli("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-c", "2", "--device", "cuda", "--out",
                     str(tmp_path / "out"))
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "device 'cuda' is not available" in lines[0] and "--device cpu" in lines[0]
    assert not (tmp_path / "out").exists()


def test_rows_record_device_precision_and_threads(run_cli, tmp_path):
    out = tmp_path / "res"
    result = run_cli("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-s", "toy-magnitude", "-c", "2", "--pretrain-epochs",
                     "1", "--finetune-epochs", "1", "--device", "cpu", "--precision", "bf16", "--threads", "auto",
                     "--out", str(out), "--no-report")
    assert result.returncode == 0, result.stderr
    from shrinkbench.devices import cpu_cores

    threads = cpu_cores()  # one run: it gets every core
    assert f"1 run at a time x {threads} thread{'s' if threads > 1 else ''} on cpu (" in result.stdout
    row = ResultsStore(out).rows()[0]
    assert (row["device"], row["precision"], row["threads"]) == ("cpu", "bf16", threads)
