"""A sibling task for the measuring tests: a separate process that works as a sweep's parallel run does --
inside :func:`shrinkbench.measuring.working`, a safe point after every chunk of work -- and logs when each chunk
ran, so a test can see whether it paused while the test measured."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(lock_dir: str, log: str, stop: str, threads: int) -> None:
    """Work in chunks (a float32 matmul loop on ``threads`` torch threads, ~10 ms) until the file ``stop``
    exists, appending ``start end`` (``time.monotonic()``) of every chunk to ``log``."""
    os.environ["SHRINKBENCH_LOCK_DIR"] = lock_dir
    import torch

    from shrinkbench import measuring

    torch.set_num_threads(threads)
    a = torch.randn(256, 256)
    with measuring.working(), open(log, "a", buffering=1) as out:
        while not Path(stop).exists():
            start = time.monotonic()
            for _ in range(8):
                a = torch.tanh(a @ a.T / 256)
            out.write(f"{start} {time.monotonic()}\n")
            measuring.safe_point()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
