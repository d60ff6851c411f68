"""``check-models`` on real torchvision/timm models and on a family that fails in every way it can."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env

CHECK = "from shrinkbench_cli.commands.check_models import check_models; check_models()"


def check_models(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = cli_env(tmp_path / "cache", SHRINKBENCH_PLUGINS="broken_models_plugin",
                  PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)


def test_each_model_is_checked_in_its_own_limited_process(tmp_path):
    result = check_models(tmp_path, "torchvision:resnet18", "timm:resnet18", "broken:diverges", "broken:hog",
                          "broken:refuses", "--memory-gb", "6", "--json", str(tmp_path / "rows.json"),
                          "--csv", str(tmp_path / "rows.csv"))
    assert result.returncode == 1, result.stdout + result.stderr  # a model that built failed
    rows = {row["model"]: row for row in json.loads((tmp_path / "rows.json").read_text())}
    assert list(rows) == ["broken:diverges", "broken:hog", "broken:refuses", "timm:resnet18", "torchvision:resnet18"]
    for name in ("timm:resnet18", "torchvision:resnet18"):
        assert rows[name]["status"] == "ok" and rows[name]["px"] == 32, rows[name]
        assert rows[name]["compression"] == 4.0 and rows[name]["macs"] == rows[name]["reference_macs"]
    outcome = {name: (row["status"], row["reason"]) for name, row in rows.items()}
    assert outcome["broken:diverges"] == ("failed", "loss is nan at step 2")
    assert outcome["broken:hog"] == ("failed", "out of memory (limit 6 GB)")
    assert outcome["broken:refuses"] == ("skipped", "cannot build: model 'broken:refuses' takes no (3, 224, 224) input")
    assert "2 ok, 2 failed, 1 skipped" in result.stdout
    assert (tmp_path / "rows.csv").read_text().startswith("model,status,px,batch,seconds,reason,")


def test_a_hanging_model_is_killed_at_the_timeout(tmp_path):
    result = check_models(tmp_path, "broken:hangs", "--timeout", "2", "--json", str(tmp_path / "rows.json"))
    assert result.returncode == 1
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert (row["status"], row["reason"]) == ("failed", "no progress for 2 s (building)") and row["seconds"] < 10


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
    assert result.returncode == 0 and row["status"] == "ok", row
    assert row["seconds"] > 5


def test_a_step_that_does_not_fit_is_taken_on_half_the_batch(tmp_path):
    # 1 GB of address space per image: 8 images do not fit in 6 GB, and the check halves the batch until they do
    result = check_models(tmp_path, "broken:greedy", "--memory-gb", "6", "--json", str(tmp_path / "rows.json"))
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert result.returncode == 0 and row["status"] == "ok", row
    assert row["batch"] in (1, 2), row
    assert row["reason"] == f"note: steps of {row['batch']} images (8 did not fit in memory)"


@pytest.mark.parametrize("model", ["broken:bad-alloc", "broken:no-primitive"])
def test_oneDNN_and_BLAS_allocation_failures_halve_the_batch_too(tmp_path, model):
    """Under the address-space limit oneDNN and BLAS say std::bad_alloc or 'could not create a primitive': the
    model was failed instead of being stepped on a smaller batch."""
    result = check_models(tmp_path, model, "--json", str(tmp_path / "rows.json"))
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert result.returncode == 0 and row["status"] == "ok", row
    assert row["batch"] == 2 and "8 did not fit in memory" in row["reason"], row


def test_a_model_that_cannot_be_built_is_skipped_not_failed(tmp_path):
    result = check_models(tmp_path, "broken:refuses")
    assert result.returncode == 0, result.stderr
    assert "0 ok, 0 failed, 1 skipped" in result.stdout


def test_steps_and_batch_set_the_training_a_model_gets(monkeypatch):
    from shrinkbench.plugins import get_registry
    from shrinkbench_cli import model_check

    seen = []
    real_train = model_check.train

    def recording_train(model, optimizer, batches, after_backward=None, progress=None):
        seen.append([tuple(x.shape) for x, _ in batches])
        return real_train(model, optimizer, batches, after_backward)

    monkeypatch.setattr(model_check, "train", recording_train)
    row = model_check.check_one(get_registry().plugin_set, "torchvision:resnet18", "global-magnitude", 4.0, 0,
                                steps=3, batch=2)
    assert row["status"] == "ok" and row["batch"] == 2, row
    assert seen == [[(2, 3, 32, 32)] * 3]


def test_fewer_than_two_steps_are_refused(tmp_path):
    result = check_models(tmp_path, "torchvision:resnet18", "--steps", "1")
    assert result.returncode == 2 and "--steps" in result.stderr and "Traceback" not in result.stderr


def test_the_default_memory_limit_is_what_the_machine_has_available(tmp_path):
    result = check_models(tmp_path, "broken:refuses")
    stated = float(result.stdout.split("Memory per model: ")[1].split(" GB")[0])
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    assert 1 < stated <= total, (stated, total)
