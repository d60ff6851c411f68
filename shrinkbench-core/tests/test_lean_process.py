"""What keeps a sweep's processes lean: where the local executor runs a task, that its workers do not hold the
driver, the CPU memory format left to auto, and the imports a run's measurements must not pull in."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time

import probe_tasks
import pytest

from shrinkbench import Resources, Task
from shrinkbench.devices import cpu_cores
from shrinkbench.engine.executors import ProcessExecutor
from shrinkbench.engine.runtime import RunSettings, Runtime


class _Fp32:
    precision = "fp32"


def _pids(executor: ProcessExecutor, tasks: list[Task]) -> list[int]:
    events: list[tuple] = []
    executor.run(tasks, lambda event: events.append(event) if isinstance(event, tuple) else None)
    return [pid for _, pid, _, _ in events]


def _probe(key: str, cpus: float) -> Task:
    return Task(key, key, probe_tasks.Probe(key), Resources(cpus=cpus))


def test_a_single_task_that_takes_every_core_runs_in_the_driver_of_a_held_executor():
    with ProcessExecutor(2) as executor:
        assert _pids(executor, [_probe("dense", cpu_cores())]) == [os.getpid()]
        assert os.getpid() not in _pids(executor, [_probe("a", 1), _probe("b", 1)])


@pytest.mark.parametrize("held, cpus", [(False, "all"), (True, "one")])
def test_other_tasks_run_in_workers(held, cpus):
    """Outside a block that holds workers, or when the task leaves cores to others, isolation wins."""
    task = _probe("t", cpu_cores() if cpus == "all" else max(cpu_cores() - 1, 0.5))
    executor = ProcessExecutor(2)
    if held:
        with executor:
            pids = _pids(executor, [task])
    else:
        pids = _pids(executor, [task])
    assert pids and pids[0] != os.getpid()


def test_workers_exit_after_the_block_that_held_them():
    """... on their own, with status 0 (they skip the interpreter's teardown once their events are sent), and
    every event of theirs arrived before."""
    with ProcessExecutor(2) as executor:
        pids = _pids(executor, [_probe(k, 1) for k in "abcdef"])
        workers = [w.process for w in executor._pool.workers.values()]
    assert len(pids) == 6
    deadline = time.monotonic() + 30
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(w.is_alive() for w in workers)
    assert [w.exitcode for w in workers] == [0, 0]


def test_channels_last_left_to_auto_is_on_for_the_cpu_only(fake_cuda):
    assert Runtime.of(_Fp32, RunSettings(device="cpu")).channels_last is True
    assert Runtime.of(_Fp32, RunSettings(device="cpu", channels_last=False)).channels_last is False
    fake_cuda(1)
    assert Runtime.of(_Fp32, RunSettings(device="cuda")).channels_last is False
    assert Runtime.of(_Fp32, RunSettings(device="cuda", channels_last=True)).channels_last is True


def test_a_cpu_run_trains_in_channels_last_to_the_same_weights_as_nchw():
    """The auto default changes the memory format, not what is computed beyond rounding."""
    import torch
    from torch import nn

    from shrinkbench.engine.config import Recipe
    from shrinkbench.engine.train import train

    torch.manual_seed(0)
    data = torch.randn(256, 3, 12, 12)
    labels = (data.mean((1, 2, 3)) > 0).long()
    batches = [(data[i:i + 32], labels[i:i + 32]) for i in range(0, 256, 32)]
    base = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 10 * 10, 2))
    results = {}
    for channels_last in (False, True):
        runtime = Runtime.of(_Fp32, RunSettings(device="cpu", channels_last=channels_last))
        model = runtime.place(copy.deepcopy(base))
        assert model[0].weight.is_contiguous(memory_format=torch.channels_last) == channels_last
        train(model, Recipe(3, 0.05), batches, runtime=runtime)
        results[channels_last] = [p.detach().contiguous() for p in model.parameters()]
    for nchw, nhwc in zip(results[False], results[True], strict=True):
        torch.testing.assert_close(nchw, nhwc, rtol=1e-4, atol=1e-5)


_IMPORTS = """
import sys, torch
from torch import nn
from shrinkbench import accelerator
from shrinkbench.metrics.macs import count_macs
accelerator.configure(torch.device("cpu"), False, True)
count_macs(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 26 * 26, 10)), torch.zeros(1, 1, 28, 28))
print(sorted(m for m in ("torch._dynamo", "torch._inductor") if m in sys.modules))
"""


def test_counting_macs_and_configuring_the_cpu_import_neither_dynamo_nor_inductor():
    """Each costs over a second per process (workers, the driver's resolution); neither is needed there."""
    done = subprocess.run([sys.executable, "-c", _IMPORTS], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
