"""The host allocator setting of CPU runs (shrinkbench.allocator): freed step-sized blocks are reused instead of
being mapped and page-faulted in again, the environment's own choice wins, and other C libraries are left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from shrinkbench.allocator import OPT_OUT_VAR, _glibc, user_tuned

# Training steps of a small CNN (MnistNet's layers, batch 128): the minor page faults of 10 steps after 5 warm-up
# steps, in a process that set up a CPU runtime.
_STEPS = """
import json, resource, torch
from torch import nn
from shrinkbench.engine.runtime import Runtime
Runtime("cpu").setup()
torch.set_num_threads(1)
model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
inputs, targets = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
def step():
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(inputs), targets).backward()
    optimizer.step()
for _ in range(20):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
import shrinkbench.allocator as a
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, "applied": a._applied}))
"""


def _faults(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in (OPT_OUT_VAR, "GLIBC_TUNABLES")} | env
    out = subprocess.run([sys.executable, "-c", _STEPS], capture_output=True, text=True, env=environ, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _glibc(), reason="the thresholds are glibc's")
def test_a_cpu_runtime_reuses_freed_blocks_instead_of_faulting_them_in_every_step():
    # glibc's defaults fault in 15,000-100,000 pages over these steps in 7 processes of 10 on this project's
    # machines (0-1,440 in the others), so three processes with few are the setting's doing
    for _ in range(3):
        kept = _faults()
        assert kept["applied"] is True
        assert kept["faults"] < 5000
    assert _faults(**{OPT_OUT_VAR: "1"})["applied"] is False


@pytest.mark.parametrize("env, tuned", [
    ({}, False),
    ({OPT_OUT_VAR: "0"}, False),
    ({OPT_OUT_VAR: "1"}, True),
    ({"MALLOC_TRIM_THRESHOLD_": "0"}, True),
    ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1000000"}, True),
    ({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX"}, False),
    ({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, True),
])
def test_the_environment_s_own_allocator_choice_is_left_alone(env, tuned):
    assert user_tuned(env) is tuned
