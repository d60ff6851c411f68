"""What ShrinkBench runs on and why (:mod:`shrinkbench.environment`), on the CUDA stand-in with a fitting driver,
an old driver and a CPU-only build, and on this machine: the verdict, ``--device auto``'s reason, the one-line
error of ``--device cuda`` where torch cannot use the GPU, and the reason in every row."""

from __future__ import annotations

import json
import os

import pytest

from shrinkbench import accelerator, schema
from shrinkbench.devices import resolve_device
from shrinkbench.driver import compatibility
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, resolve, run_sweep
from shrinkbench.environment import choose_device, collect, render
from shrinkbench.errors import ShrinkBenchError


def test_the_verdict_follows_cudas_minor_version_compatibility():
    assert compatibility("13.2", (13, 0)).ok is True  # same major version: minor-version compatibility
    assert compatibility("12.4", (13, 2)).ok is True
    old = compatibility("13.2", (12, 4))
    assert old.ok is False and old.text == "torch is a CUDA 13.2 build but the driver supports CUDA 12.4"
    assert "12.4 or older" in old.fix and "--torch-backend" in old.fix
    assert compatibility("13.2", None).ok is False
    assert compatibility(None, (12, 4)).ok is None and "CPU-only" in compatibility(None, (12, 4)).text


def test_auto_on_gpus_says_what_it_found_and_env_lists_them(fake_cuda):
    fake_cuda(2, names=["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"], capability=(9, 0))
    choice = choose_device("auto")
    assert (choice.device, choice.reason) == ("cuda", "auto found 2 CUDA GPUs (torch CUDA 13.2)")
    facts = json.loads(json.dumps(collect()))  # JSON-ready
    assert facts["compatibility"]["ok"] is True and facts["device_auto"]["device"] == "cuda"
    assert [(g["index"], g["name"], g["capability"]) for g in facts["gpus"]] == \
        [(0, "NVIDIA H100 80GB HBM3", "9.0"), (1, "NVIDIA H100 80GB HBM3", "9.0")]
    assert all(g["memory_bytes"] == 80 * 2**30 for g in facts["gpus"])
    text = "\n".join(render(facts))
    assert "cuda:1 (machine id 1): NVIDIA H100 80GB HBM3, 80.0 GiB, compute capability 9.0" in text
    assert choose_device("cuda:1").reason == "asked for cuda:1"


def test_an_old_driver_is_explained_and_cuda_is_a_one_line_error_with_the_fix(fake_cuda, monkeypatch):
    fake_cuda(1).with_driver(monkeypatch, (12, 4), "13.2")
    choice = choose_device("auto")
    assert choice.device == "cpu"
    assert choice.text == "cpu: auto found no GPU: torch is a CUDA 13.2 build but the driver supports CUDA 12.4"
    with pytest.raises(ShrinkBenchError) as caught:
        resolve_device("cuda")
    message = str(caught.value)
    assert "\n" not in message and "the driver supports CUDA 12.4" in message
    assert "--torch-backend" in message and "--device cpu" in message
    facts = collect()
    assert facts["compatibility"]["ok"] is False and facts["gpus"] == [] and facts["device_auto"]["device"] == "cpu"


def test_a_cpu_only_build_is_named_as_the_reason(fake_cuda, monkeypatch):
    fake_cuda(1).with_driver(monkeypatch, (12, 4), None)
    assert choose_device("auto").reason == "auto found no GPU: torch is a CPU-only build; the driver supports CUDA 12.4"
    with pytest.raises(ShrinkBenchError, match="CPU-only build.*install a CUDA build of torch"):
        resolve_device("cuda")


def test_this_machine(monkeypatch):
    """Whatever this machine is, the facts agree with torch and the OS, and the reason matches the device."""
    import torch

    facts = collect()
    assert facts["torch"] == {"version": torch.__version__, "cuda_build": torch.version.cuda}
    assert facts["cuda_available"] == torch.cuda.is_available() and len(facts["gpus"]) == torch.cuda.device_count()
    assert facts["cpu"]["cores"] == len(os.sched_getaffinity(0)) and facts["cpu"]["torch_threads"] >= 1
    assert {"core-engine", "core-metrics"} <= {p["name"] for p in facts["plugins"]}
    assert facts["device_auto"]["device"] == resolve_device("auto")
    if not torch.cuda.is_available():
        assert facts["device_auto"]["reason"].startswith("auto found no GPU: ")
        assert accelerator.driver_cuda_version() is None or facts["driver"]["cuda"]


def test_the_reason_reaches_the_sweep_settings_and_every_row(fake_cuda, monkeypatch, toy_registry, tmp_path):
    fake_cuda(1).with_driver(monkeypatch, (12, 4), "13.2")
    config = SweepConfig(dataset="toy-blobs", model="toy-mlp", strategies=("toy-magnitude",), compressions=(1.0, 2.0),
                         seeds=(0,), threads=1, device="auto", jobs=1, pretrain=Recipe(epochs=1, lr=0.05),
                         finetune=Recipe(epochs=1, lr=0.01, lr_schedule="constant"))
    sweep = resolve(toy_registry, config)
    reason = "auto found no GPU: torch is a CUDA 13.2 build but the driver supports CUDA 12.4"
    assert (sweep.settings.device, sweep.settings.device_reason) == ("cpu", reason)
    run_sweep(toy_registry, config, ResultsStore(tmp_path))
    rows = ResultsStore(tmp_path).rows()
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert {r[schema.DEVICE_REASON] for r in rows} == {reason} and {r[schema.DEVICE] for r in rows} == {"cpu"}
