"""torch's intra-op thread count, set for a block of work and restored afterwards.

The thread count changes the order of floating-point sums, so ShrinkBench fixes it inside every run: the same
``threads`` gives bit-identical results whether runs execute one after another or in parallel workers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then restore the previous setting (``None``: leave it)."""
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
