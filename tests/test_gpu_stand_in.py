"""The ``shrinkbench`` command as a user runs it on a machine with two GPUs, stood in for by
:mod:`shrinkbench.testing.fake_cuda` in the command's process and in every worker it starts (``CUDA_VISIBLE_DEVICES``
read once and renumbered, as CUDA does). Real CUDA work fails here (no driver): the test is about which error
comes first."""

from __future__ import annotations

import os

from shrinkbench.engine.store import ResultsStore
from shrinkbench.testing.fake_cuda import FAKE_VAR, write_sitecustomize


def test_bench_on_the_second_gpu_with_parallel_workers_reaches_the_first_cuda_call(shrinkbench, tmp_path):
    """``bench --device cuda:1`` failed every run with parallel workers (which the automatic layout chooses for
    small models on a machine with more cores, ``--jobs 2`` here): each worker, pinned to GPU 1, then refused
    cuda:1 ("this machine has 1 CUDA GPU(s)")."""
    site = tmp_path / "site"
    site.mkdir()
    path = os.pathsep.join([write_sitecustomize(site), os.environ.get("PYTHONPATH", "")])
    result = shrinkbench("bench", "--device", "cuda:1", "--jobs", "2", "-s", "global-magnitude", "-s", "random", "-c", "2",
                         "--pretrain-epochs", "1", "--finetune-epochs", "1", "--no-report", "--out", str(tmp_path / "out"),
                         **{FAKE_VAR: "2", "PYTHONPATH": path})
    assert "2 runs at a time" in result.stdout and "on cuda:1" in result.stdout, result.stdout + result.stderr
    rows = ResultsStore(tmp_path / "out").rows()
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == "failed" and "NVIDIA driver" in row["error"], row
        assert "not available" not in row["error"]
