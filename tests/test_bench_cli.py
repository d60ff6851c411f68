"""``shrinkbench bench`` end to end on the bundled MNIST subset with the built-in plugins."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from conftest import CLI, SMALL, cli_env, read_rows

EXPERIMENT = "mnist-5k-lenet-300-100"  # run ids are <experiment>/<method>_c<target>_s<seed>
COLUMNS = ("dataset", "model", "strategy", "seed", "compression_target", "compression", "speedup", "params",
           "nonzero_params", "flops", "nonzero_flops", "top1_pre", "top5_pre", "top1", "top5", "loss", "seconds")


def test_rows_and_columns(reference):
    with open(reference / "results.csv") as f:
        header = f.readline().strip().split(",")
    for column in COLUMNS:
        assert column in header, column
    rows = read_rows(reference)
    assert sorted(rows) == sorted(f"{EXPERIMENT}/{s}_c{c}_s0" for s in ("global-magnitude", "random", "global-gradient")
                                  for c in (1, 4, 16))
    for row in rows.values():
        assert row["status"] == "ok", row["error"]
        assert row["dataset"] == "mnist-5k" and row["model"] == "lenet-300-100"
        assert float(row["compression"]) == pytest.approx(float(row["compression_target"]), rel=0.01)
        assert 0 <= float(row["top1"]) <= 1 and float(row["speedup"]) >= 1
    # at 16x, magnitude pruning keeps far more of the dense accuracy than random pruning
    assert (float(rows[f"{EXPERIMENT}/global-magnitude_c16_s0"]["top1_pre"])
            > float(rows[f"{EXPERIMENT}/random_c16_s0"]["top1_pre"]) + 0.2)


def test_same_seed_gives_identical_rows(shrinkbench, reference, tmp_path):
    result = shrinkbench(*SMALL, "--out", str(tmp_path / "again"))
    assert result.returncode == 0, result.stderr
    assert read_rows(tmp_path / "again") == read_rows(reference)


def test_two_jobs_give_the_same_rows_as_one(shrinkbench, reference, tmp_path):
    result = shrinkbench(*SMALL, "--jobs", "2", "--out", str(tmp_path / "parallel"))
    assert result.returncode == 0, result.stderr
    assert read_rows(tmp_path / "parallel") == read_rows(reference)


def test_killed_sweep_resumes_without_losing_or_duplicating_rows(shared_cache, reference, tmp_path):
    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", CLI, *SMALL, "--out", str(out)], env=cli_env(shared_cache),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        csv_path = out / "results.csv"
        if csv_path.exists() and csv_path.read_text().count("\n") >= 3:  # header + 2 rows
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = read_rows(out)
    assert 2 <= len(partial) < 9
    resumed = subprocess.run([sys.executable, "-c", CLI, *SMALL, "--out", str(out)], capture_output=True, text=True,
                             env=cli_env(shared_cache), timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(partial)} already complete" in resumed.stdout
    assert read_rows(out) == read_rows(reference)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-s", "global-magnitud"), "did you mean 'global-magnitude'"),
        (("-s", "globalmagweight"), "did you mean 'GlobalMagWeight'"),
        (("-m", "lenet-300-10"), "did you mean 'lenet-300-100'"),
        (("-c", "0"), "compression must be a finite number >= 1"),
        (("-c", "1,0.5"), "compression must be a finite number >= 1"),
        (("--checkpoint", "nope.safetensors"), "cannot read checkpoint"),
        (("-d", "imagenet"), "at most 32px"),
        (("-d", "cifar10", "-m", "resnet20", "--data-root", "empty"), "cifar"),
    ],
)
def test_bad_input_is_one_line_exit_2(shrinkbench, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    result = shrinkbench("bench", *args, "--out", str(tmp_path / "out"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_another_config_in_the_same_directory_is_refused(shrinkbench, reference, tmp_path):
    before = (reference / "results.csv").read_bytes()
    result = shrinkbench(*SMALL[:-1], "--finetune-lr", "0.5", "--out", str(reference))
    assert result.returncode == 2 and "another configuration" in result.stderr
    assert (reference / "results.csv").read_bytes() == before


def test_report_writes_table_and_plots(shrinkbench, reference):
    result = shrinkbench("report", str(reference))
    assert result.returncode == 0, result.stderr
    assert "global-magnitude" in result.stdout and "dense top-1" in result.stdout
    for name in ("accuracy_vs_compression.png", "accuracy_vs_speedup.png"):
        assert (reference / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_within_two_seconds_keeps_completed_runs_and_resumes(shared_cache, reference, tmp_path, jobs):
    out = tmp_path / "interrupted"
    process = subprocess.Popen([sys.executable, "-c", CLI, *SMALL, "--jobs", jobs, "--out", str(out)],
                               env=cli_env(shared_cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        csv_path = out / "results.csv"
        if csv_path.exists() and csv_path.read_text().count("\n") >= 3:  # header + 2 rows
            break
        time.sleep(0.05)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    stopped = time.monotonic() - sent
    assert process.returncode == 130, stderr
    kept = len(read_rows(out))
    assert stderr.strip() == (f"interrupted: {kept} of 9 runs are complete and kept in {out / 'results.csv'}; "
                              "re-run the same command to resume")
    assert stopped < 2.0, f"took {stopped:.1f} s to stop"
    resumed = subprocess.run([sys.executable, "-c", CLI, *SMALL, "--jobs", jobs, "--out", str(out)],
                             capture_output=True, text=True, env=cli_env(shared_cache), timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    assert read_rows(out) == read_rows(reference)
