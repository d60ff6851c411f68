"""Every call ShrinkBench makes into ``torch.cuda``, ``torch.mps`` and the CUDA backend flags, in one module.

Nothing else in the engine touches those APIs (a test walks the sources to keep it so), which gives two
things: one place where torch's argument contracts are honoured -- ``torch.cuda.set_device`` needs a device
*index*, ``torch.device("cuda")`` has none and raises ``ValueError`` -- and one surface that
:func:`shrinkbench.testing.fake_cuda` replaces to stand in for a machine with N GPUs on a CPU-only one.

GPU numbering: inside a process, torch numbers the GPUs it can see from 0 (``cuda:0`` is the first of
``CUDA_VISIBLE_DEVICES``). A *physical* id is what the machine calls the GPU (what ``nvidia-smi`` shows, what
Slurm and Kubernetes write into ``CUDA_VISIBLE_DEVICES``): :func:`physical_gpu` translates, so a worker pinned
to a GPU gets the right card even when the parent itself was given only some of the machine's GPUs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "MIN_TORCH",
    "VISIBLE_VAR",
    "configure",
    "cuda_available",
    "cuda_build",
    "cuda_count",
    "current_index",
    "driver_cuda_version",
    "forget_visible_gpus",
    "gpu_capability",
    "gpu_name",
    "mark_step_begin",
    "mps_available",
    "peak_memory",
    "physical_gpu",
    "reset_peak_memory",
    "set_device",
    "synchronize",
    "total_memory",
    "visible_gpus",
]

VISIBLE_VAR = "CUDA_VISIBLE_DEVICES"

MIN_TORCH = (2, 4)
"""The oldest torch the engine runs on: ``torch.amp.GradScaler(device)`` appeared in 2.3, fp16 autocast and the
gradient scaler on the CPU in 2.4 (``shrinkbench-core`` declares ``torch>=2.4``; a test keeps the two equal)."""


def cuda_available() -> bool:
    """Whether this process's torch sees at least one CUDA GPU."""
    import torch

    visible_gpus()  # read CUDA_VISIBLE_DEVICES when CUDA does

    return bool(torch.cuda.is_available())


def cuda_count() -> int:
    """How many CUDA GPUs this process sees (0 without CUDA)."""
    import torch

    visible_gpus()

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def mps_available() -> bool:
    """Whether Apple's MPS backend is usable here."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


_UNREAD: Any = object()
_visible: Any = _UNREAD


def visible_gpus() -> list[str] | None:
    """The physical ids in this process's ``CUDA_VISIBLE_DEVICES`` (indices, GPU UUIDs or MIG ids), in order;
    ``None`` when the variable is not set (every GPU of the machine is visible, numbered as the machine numbers
    them). Read once, at the first call, as the CUDA runtime reads it once when it initialises: a later change
    of the variable changes what this process sees no more than it changes what CUDA sees."""
    global _visible
    if _visible is _UNREAD:
        value = os.environ.get(VISIBLE_VAR)
        _visible = None if value is None else [token.strip() for token in value.split(",") if token.strip()]
    return None if _visible is None else list(_visible)


def forget_visible_gpus() -> None:
    """Read ``CUDA_VISIBLE_DEVICES`` afresh at the next call (for the CUDA stand-in, which starts a new
    machine per test: in a real process the value is fixed once CUDA has initialised)."""
    global _visible
    _visible = _UNREAD


def physical_gpu(logical: int) -> str:
    """The machine's id of the GPU this process calls ``cuda:<logical>``: the ``logical``-th entry of
    ``CUDA_VISIBLE_DEVICES`` when it is set, else ``logical`` itself. A child process given this id in its own
    ``CUDA_VISIBLE_DEVICES`` sees exactly that GPU."""
    visible = visible_gpus()
    if visible is None:
        return str(logical)
    if not 0 <= logical < len(visible):
        raise ValueError(f"cuda:{logical} is not visible here ({VISIBLE_VAR}={','.join(visible)})")
    return visible[logical]


def current_index() -> int:
    """The index of this process's current CUDA device."""
    import torch

    return int(torch.cuda.current_device())


def _index(device: torch.device) -> int:
    return device.index if device.index is not None else current_index()


def set_device(device: torch.device) -> None:
    """Make ``device`` (a CUDA device, with or without an index) this process's current CUDA device."""
    import torch

    torch.cuda.set_device(_index(device))


def synchronize(device: torch.device) -> None:
    """Wait until the queued work of ``device`` is done (CUDA or MPS; a no-op on the CPU): timings of
    asynchronous devices are otherwise timings of the kernel launches."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(_index(device))
    elif device.type == "mps":
        torch.mps.synchronize()


def gpu_name(device: torch.device) -> str:
    """The CUDA GPU's product name, e.g. ``NVIDIA H200``."""
    import torch

    return str(torch.cuda.get_device_name(_index(device)))


def total_memory(index: int) -> int:
    """Bytes of memory of the CUDA GPU this process calls ``cuda:<index>``."""
    import torch

    return int(torch.cuda.get_device_properties(index).total_memory)


def reset_peak_memory(device: torch.device) -> None:
    """Start counting ``device``'s peak allocated memory afresh (CUDA only)."""
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(_index(device))


def peak_memory(device: torch.device) -> int | None:
    """Bytes ``device`` has had allocated at most since :func:`reset_peak_memory` (``None`` off CUDA)."""
    import torch

    if device.type != "cuda":
        return None
    return int(torch.cuda.max_memory_allocated(_index(device)))


def configure(device: torch.device, deterministic: bool, tf32: bool) -> None:
    """Process-wide settings for work on ``device``, applied before its first kernel.

    CUDA: ``deterministic`` turns on torch's deterministic algorithms (warning, not failing, where an operation
    has none: see :mod:`shrinkbench.engine.runtime`) and cuDNN's deterministic mode, otherwise cuDNN autotunes;
    ``tf32`` lets float32 matrix multiplications and convolutions use TensorFloat-32 on Ampere and newer GPUs
    (torch's own default leaves matmuls in full float32). Elsewhere only ``deterministic`` applies.
    """
    import torch

    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if deterministic or torch.are_deterministic_algorithms_enabled():  # the call imports torch._inductor (~1 s)
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if device.type != "cuda":
        return
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    set_device(device)


def mark_step_begin() -> None:
    """Tell CUDA-graph trees that a new training step begins (the previous replay's outputs may be reused)."""
    import torch

    torch.compiler.cudagraph_mark_step_begin()


def gpu_capability(index: int) -> tuple[int, int]:
    """The compute capability of the CUDA GPU this process calls ``cuda:<index>`` (``(9, 0)`` on an H100)."""
    import torch

    major, minor = torch.cuda.get_device_capability(index)
    return int(major), int(minor)


def cuda_build() -> str | None:
    """The CUDA version this torch was built for (``"13.2"``), ``None`` for a CPU-only build."""
    import torch

    return torch.version.cuda


def driver_cuda_version() -> tuple[int, int] | None:
    """The newest CUDA version the installed NVIDIA driver supports, e.g. ``(12, 4)``, asked of the driver
    library itself (``cuDriverGetVersion``, which neither initialises CUDA nor needs torch); ``None`` when no
    NVIDIA driver is installed."""
    import ctypes

    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll", "libcuda.dylib"):
        try:
            library = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        if library.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value > 0:
            return version.value // 1000, version.value % 1000 // 10
    return None
