"""``check-models`` on real torchvision/timm models and on a family that fails in every way it can (the
resumable, sharded runs are in ``test_check_models_resume.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env

CLI = "from shrinkbench_cli.main import main; main()"


def check_models(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = cli_env(tmp_path / "cache", SHRINKBENCH_PLUGINS="broken_models_plugin",
                  PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", CLI, "check-models", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)


def rows_of(path: Path) -> dict[str, dict]:
    return {row["model"]: row for row in json.loads(path.read_text())}


def test_each_model_is_checked_in_its_own_limited_process(tmp_path):
    result = check_models(tmp_path, "torchvision:resnet18", "timm:resnet18", "broken:diverges", "broken:hog",
                          "broken:refuses", "broken:needs-weights", "--memory-gb", "6", "--steps", "2", "--batch", "2",
                          "--json", str(tmp_path / "rows.json"), "--csv", str(tmp_path / "rows.csv"))
    assert result.returncode == 1, result.stdout + result.stderr  # a model failed
    rows = rows_of(tmp_path / "rows.json")
    assert list(rows) == ["broken:diverges", "broken:hog", "broken:needs-weights", "broken:refuses", "timm:resnet18",
                          "torchvision:resnet18"]
    for name in ("timm:resnet18", "torchvision:resnet18"):  # at the 224 px of their pretrained weights, not 32
        assert rows[name]["status"] == "passed" and rows[name]["px"] == 224, rows[name]
        assert rows[name]["compression"] == 4.0 and rows[name]["macs"] == rows[name]["reference_macs"]
    outcome = {name: (row["status"], row["cause"], row["reason"]) for name, row in rows.items()}
    assert outcome["broken:diverges"] == ("failed", None, "loss is nan at step 2")
    assert outcome["broken:hog"] == ("not checked", "memory", "out of memory while building (limit 6 GB)")
    assert outcome["broken:refuses"] == ("not checked", "input size", "builds at none of 32/64/224 px: model "
                                         "'broken:refuses' takes no (3, 32, 32) input")
    assert outcome["broken:needs-weights"] == ("not checked", "weights", "needs pretrained weights to build: "
                                               "weights 'broken.pt' are not in the local cache")
    assert ("check-models: 2 passed, 1 failed, 3 not checked (input size 1, memory 1, weights 1); "
            "pass rate 66.7% (2 of 3 checked)") in result.stdout
    assert (tmp_path / "rows.csv").read_text().startswith("model,status,cause,px,batch,seconds,reason,")


def test_a_model_that_takes_only_its_declared_size_is_built_at_it_and_passes(tmp_path):
    """broken:only-240 declares 3x240x240 and refuses 32, 64 and 224 px: it was skipped, out of the rate."""
    result = check_models(tmp_path, "broken:only-240", "--steps", "3", "--json", str(tmp_path / "rows.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    row = rows_of(tmp_path / "rows.json")["broken:only-240"]
    assert (row["status"], row["px"], row["reason"]) == ("passed", 240, ""), row
    assert row["macs"] == row["reference_macs"] == 3 * 240 * 240 * 16 + 16 * 10
    assert "1 passed, 0 failed, 0 not checked; pass rate 100.0% (1 of 1 checked)" in result.stdout


def test_a_mac_count_half_a_percent_off_fails_and_names_the_operation(tmp_path):
    """broken:miscounted runs a matrix-vector product FlopCounterMode does not count: 1,541 MACs on 308,200."""
    result = check_models(tmp_path, "broken:miscounted", "--steps", "2", "--json", str(tmp_path / "rows.json"))
    assert result.returncode == 1, result.stdout + result.stderr
    row = rows_of(tmp_path / "rows.json")["broken:miscounted"]
    assert row["status"] == "failed" and (row["macs"], row["reference_macs"]) == (309_741, 308_200), row
    assert row["reason"] == "MACs 309,741 vs FlopCounterMode 308,200 (0.50% apart): aten.mv 1,541 counted only here"


def test_a_hanging_model_is_killed_at_the_timeout_and_not_checked(tmp_path):
    result = check_models(tmp_path, "broken:hangs", "--timeout", "2", "--json", str(tmp_path / "rows.json"))
    assert result.returncode == 0, result.stderr  # nothing failed: the model could not be checked in the time
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert (row["status"], row["cause"]) == ("not checked", "time") and row["seconds"] < 10
    assert row["reason"] == "no progress for 2 s while building (--timeout)"


def test_a_model_whose_process_dies_is_a_failed_row(tmp_path):
    result = check_models(tmp_path, "broken:dies", "--json", str(tmp_path / "rows.json"))
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert result.returncode == 1
    assert (row["status"], row["reason"]) == ("failed", "the process died (exit code 3)")


def test_a_slow_model_that_makes_progress_is_not_killed(tmp_path):
    # 1 s per forward pass: 3 steps and 2 counting passes take ~5 s, each phase under the 3 s timeout
    result = check_models(tmp_path, "broken:slow", "--timeout", "3", "--steps", "3", "--json",
                          str(tmp_path / "rows.json"))
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert result.returncode == 0 and row["status"] == "passed", row
    assert row["seconds"] > 5


def test_a_step_that_does_not_fit_is_taken_on_half_the_batch(tmp_path):
    # 1 GB of address space per image: 8 images do not fit in 6 GB, and the check halves the batch until they do
    result = check_models(tmp_path, "broken:greedy", "--memory-gb", "6", "--json", str(tmp_path / "rows.json"))
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert result.returncode == 0 and row["status"] == "passed", row
    assert row["batch"] in (1, 2), row
    assert row["reason"] == f"note: steps of {row['batch']} images (8 did not fit in memory)"


@pytest.mark.parametrize("model", ["broken:bad-alloc", "broken:no-primitive"])
def test_oneDNN_and_BLAS_allocation_failures_halve_the_batch_too(tmp_path, model):
    """Under the address-space limit oneDNN and BLAS say std::bad_alloc or 'could not create a primitive': the
    model was failed instead of being stepped on a smaller batch."""
    result = check_models(tmp_path, model, "--json", str(tmp_path / "rows.json"))
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert result.returncode == 0 and row["status"] == "passed", row
    assert row["batch"] == 2 and "8 did not fit in memory" in row["reason"], row


def test_a_model_that_cannot_be_built_is_not_checked_and_out_of_the_rate(tmp_path):
    result = check_models(tmp_path, "broken:refuses")
    assert result.returncode == 0, result.stderr
    assert "0 passed, 0 failed, 1 not checked (input size 1); pass rate n/a (none checked)" in result.stdout


def test_steps_and_batch_set_the_training_a_model_gets(monkeypatch):
    from shrinkbench.plugins import get_registry
    from shrinkbench_cli import model_check

    seen = []
    real_train = model_check.train

    def recording_train(model, optimizer, batches, after_backward=None, progress=None):
        seen.append([tuple(x.shape) for x, _ in batches])
        return real_train(model, optimizer, batches, after_backward)

    monkeypatch.setattr(model_check, "train", recording_train)
    row = model_check.check_one(get_registry().plugin_set, "torchvision:mobilenet_v3_small", "global-magnitude",
                                4.0, 0, steps=3, batch=2)
    assert row["status"] == "passed" and row["batch"] == 2, row
    assert seen == [[(2, 3, 224, 224)] * 3] and row["px"] == 224


def test_fewer_than_two_steps_are_refused(tmp_path):
    result = check_models(tmp_path, "torchvision:resnet18", "--steps", "1")
    assert result.returncode == 2 and "--steps" in result.stderr and "Traceback" not in result.stderr


def test_the_default_memory_limit_is_what_the_machine_has_available(tmp_path):
    result = check_models(tmp_path, "broken:refuses")
    stated = float(result.stdout.split("Memory per model: ")[1].split(" GB")[0])
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    assert 1 < stated <= total, (stated, total)
