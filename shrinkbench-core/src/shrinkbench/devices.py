"""Where runs execute: device names, CPU thread counts, and GPU placement of worker processes.

``auto`` is CUDA when a CUDA GPU is visible, else Apple's MPS, else the CPU. A device that is not available is a
:class:`ShrinkBenchError` before any work. A worker process that an executor pinned to one GPU (through
``CUDA_VISIBLE_DEVICES``, set to the GPU's physical id) sees that GPU as ``cuda:0``; :func:`local_device` maps
the sweep's device to it. Every CUDA call goes through :mod:`shrinkbench.accelerator`.
"""

from __future__ import annotations

import os

from . import accelerator
from .errors import ShrinkBenchError

__all__ = ["DEVICES", "PINNED_GPU_VAR", "available_memory", "cpu_cores", "device_name", "gpu_indices", "local_device",
           "resolve_device"]

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PINNED_GPU_VAR = "SHRINKBENCH_PINNED_GPU"
"""Set by an executor in a worker pinned to one GPU: that GPU's physical id on the machine."""


def cpu_cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux: ``MemAvailable``; elsewhere the physical memory;
    ``None`` when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def resolve_device(name: str) -> str:
    """A concrete device for ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``): ``auto`` becomes
    ``cuda``, ``mps`` or ``cpu``; anything unavailable raises a one-line :class:`ShrinkBenchError`."""
    name = name.strip().lower()
    if name == "auto":
        if accelerator.cuda_available():
            return "cuda"
        return "mps" if accelerator.mps_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "mps":
        if not accelerator.mps_available():
            raise ShrinkBenchError("device 'mps' is not available (it needs Apple silicon and a torch build with "
                                   "MPS); use --device cpu or --device auto")
        return "mps"
    if name == "cuda" or name.startswith("cuda:"):
        index = name.partition(":")[2]
        if index and not index.isdigit():
            raise ShrinkBenchError(f"device {name!r} is not a device: use cuda or cuda:N with N a GPU index")
        if not accelerator.cuda_available():
            import torch

            build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
            raise ShrinkBenchError(f"device {name!r} is not available: this torch ({torch.__version__}, {build}) "
                                   "sees no CUDA GPU; use --device cpu or --device auto")
        count = accelerator.cuda_count()
        if index and int(index) >= count:
            raise ShrinkBenchError(f"device {name!r} is not available: this machine has {count} CUDA GPU(s), "
                                   f"cuda:0 to cuda:{count - 1}")
        return name
    raise ShrinkBenchError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")


def gpu_indices(device: str) -> tuple[int, ...]:
    """The GPUs (this process's indices) parallel workers are spread over: every visible GPU for ``cuda``, the
    one GPU of ``cuda:N``, none for other devices. :func:`shrinkbench.accelerator.physical_gpu` gives the id a
    worker's ``CUDA_VISIBLE_DEVICES`` needs."""
    if device == "cuda":
        return tuple(range(accelerator.cuda_count()))
    if device.startswith("cuda:"):
        return (int(device.partition(":")[2]),)
    return ()


def local_device(device: str) -> str:
    """The device to use in this process, always with an index on CUDA: ``cuda:0`` in a worker pinned to one
    GPU, the current GPU for a bare ``cuda``, else ``device`` itself."""
    if not device.startswith("cuda"):
        return device
    if os.environ.get(PINNED_GPU_VAR):
        return "cuda:0"
    return device if ":" in device else f"cuda:{accelerator.current_index()}"


def device_name(device: str) -> str:
    """What the device is, for the results: the GPU's machine id and name on CUDA (``cuda:2 NVIDIA H200``:
    the id ``nvidia-smi`` shows, also in a worker that sees the GPU as ``cuda:0``), else ``cpu``/``mps``."""
    if not device.startswith("cuda"):
        return device
    import torch

    local = torch.device(local_device(device))
    physical = os.environ.get(PINNED_GPU_VAR) or accelerator.physical_gpu(local.index)
    return f"cuda:{physical} {accelerator.gpu_name(local)}"
