"""The host memory allocator's settings for training on the CPU.

glibc's ``malloc`` serves blocks above its *mmap threshold* (128 KiB at first, raised as blocks are freed, to
32 MiB at most) with fresh ``mmap`` calls, and hands free memory at the top of its heap back to the kernel once
there is more of it than the *trim threshold*. A training step allocates and frees the same activation- and
gradient-sized blocks every step, so with the defaults the kernel maps, zero-fills and page-faults them in again
every step: ~150,000 page faults per epoch of MnistNet on 4,000 digits, about a fifth of its time on this
project's 2-core VM (``benchmarks/allocator.py``; the PyTorch performance guide's advice to swap in jemalloc or
tcmalloc targets the same cost). :func:`keep_freed_memory` fixes both thresholds at glibc's own largest steady state, so
the freed blocks stay in the heap and the next step reuses them: the same numbers, no page faults.

The price is that a process keeps up to :data:`TRIM_THRESHOLD` of freed heap memory instead of returning it; a
block larger than :data:`MMAP_THRESHOLD` (a big model's weights) is still mapped and unmapped as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["MMAP_THRESHOLD", "OPT_OUT_VAR", "TRIM_THRESHOLD", "keep_freed_memory", "user_tuned"]

MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the most its dynamic rule reaches
TRIM_THRESHOLD = 64 << 20  # twice the mmap threshold: what glibc's dynamic rule pairs with it
OPT_OUT_VAR = "SHRINKBENCH_KEEP_MALLOC"
"""Set to ``1`` to leave the allocator as the process found it."""

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
_USER_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
_applied: bool | None = None


def user_tuned(environ: dict[str, str] | os._Environ = os.environ) -> bool:
    """Whether the environment already chooses the allocator's behaviour: :data:`OPT_OUT_VAR`, glibc's own
    ``MALLOC_*_`` variables or ``glibc.malloc`` tunables, or a preloaded allocator (jemalloc, tcmalloc, ...)."""
    return (environ.get(OPT_OUT_VAR, "") not in ("", "0") or any(var in environ for var in _USER_VARS)
            or "glibc.malloc" in environ.get("GLIBC_TUNABLES", "") or "malloc" in environ.get("LD_PRELOAD", ""))


def keep_freed_memory() -> bool:
    """Make this process's glibc ``malloc`` keep freed blocks of up to :data:`MMAP_THRESHOLD` for reuse
    (thresholds: :data:`MMAP_THRESHOLD`, :data:`TRIM_THRESHOLD`). Idempotent; returns whether the thresholds are
    set. Does nothing (returns ``False``) on other C libraries (macOS, Windows, musl) and where
    :func:`user_tuned` says the environment has chosen already. Values computed are unchanged: only where host
    memory comes from."""
    global _applied
    if _applied is None:
        _applied = False
        if _glibc() and not user_tuned():
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                                and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
            except (OSError, AttributeError):
                _applied = False
    return _applied


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False  # not glibc, or not a POSIX system
