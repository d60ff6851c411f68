"""``shrinkbench env`` and the device explanation as a user meets them, on this machine (whatever it has):
the JSON facts, the text form, the bench header and the ``device_reason`` column, the one-line refusal of an
unusable ``--device cuda``."""

from __future__ import annotations

import json
import os

import pytest
import torch

from shrinkbench import schema
from shrinkbench.devices import resolve_device
from shrinkbench.engine import ResultsStore


def test_env_json_describes_this_machine(run_cli):
    result = run_cli("env", "--json", toy=False)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["torch"]["version"] == torch.__version__ and facts["torch"]["cuda_build"] == torch.version.cuda
    assert facts["cuda_available"] == torch.cuda.is_available()
    assert facts["cpu"]["cores"] == len(os.sched_getaffinity(0))
    assert facts["device_auto"]["device"] == resolve_device("auto") and facts["device_auto"]["reason"]
    assert {"vision", "magnitude"} & {p["name"] for p in facts["plugins"]} or facts["plugins"]
    assert set(facts) >= {"python", "driver", "compatibility", "gpus", "mps_available", "cache_dir", "data_roots"}
    text = run_cli("env", toy=False)
    assert text.returncode == 0 and f"--device auto: {facts['device_auto']['device']} (" in text.stdout
    assert f"torch: {torch.__version__}" in text.stdout


def test_bench_header_and_rows_say_which_device_and_why(run_cli, tmp_path):
    out = tmp_path / "res"
    result = run_cli("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-s", "toy-magnitude", "-c", "2",
                     "--pretrain-epochs", "1", "--finetune-epochs", "1", "--out", str(out), "--no-report")
    assert result.returncode == 0, result.stderr
    reason = json.loads(run_cli("env", "--json", toy=False).stdout)["device_auto"]
    header = next(line for line in result.stdout.splitlines() if line.startswith("shrinkbench bench:"))
    assert f" on {reason['device']} ({reason['reason']}) -> " in header
    rows = ResultsStore(out).rows()
    assert [r[schema.DEVICE_REASON] for r in rows] == [reason["reason"]]


def test_an_unusable_cuda_device_is_one_line_with_the_fix(run_cli):
    if torch.cuda.is_available():
        pytest.skip("this machine's torch can use its GPU: nothing to refuse")
    result = run_cli("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-s", "toy-magnitude", "-c", "2", "--device", "cuda",
                     "--dry-run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "device 'cuda' is not available: " in lines[0] and "or use --device cpu" in lines[0]


def test_env_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom shrinkbench_cli.main import cli\ntry:\n    cli(['env', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint('torch imported' if 'torch' in sys.modules else 'no torch')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "--json" in done.stdout and done.stdout.strip().endswith("no torch"), done.stdout + done.stderr
