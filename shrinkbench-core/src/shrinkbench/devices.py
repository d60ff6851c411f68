"""Where runs execute: device names resolved once in the driver, CPU thread counts, and GPU placement of
worker processes.

``auto`` is CUDA when a CUDA GPU is visible, else Apple's MPS, else the CPU. A device that is not available is a
:class:`ShrinkBenchError` before any work. A worker process that the executor pinned to one GPU (through
``CUDA_VISIBLE_DEVICES``) sees that GPU as ``cuda:0``; :func:`local_device` maps the sweep's device to it.
"""

from __future__ import annotations

import os

from .errors import ShrinkBenchError

__all__ = ["DEVICES", "PINNED_GPU_VAR", "auto_threads", "cpu_cores", "device_name", "gpu_indices", "local_device",
           "resolve_device"]

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PINNED_GPU_VAR = "SHRINKBENCH_PINNED_GPU"
"""Set by the process executor in a worker pinned to one GPU: that GPU's index on the machine."""


def cpu_cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def auto_threads(jobs: int) -> int:
    """The ``threads = auto`` value: the cores shared evenly by ``jobs`` parallel runs, at least 1."""
    return max(1, cpu_cores() // max(1, jobs))


def resolve_device(name: str) -> str:
    """A concrete device for ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``): ``auto`` becomes
    ``cuda``, ``mps`` or ``cpu``; anything unavailable raises a one-line :class:`ShrinkBenchError`."""
    import torch

    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "mps":
        if not _mps_available():
            raise ShrinkBenchError("device 'mps' is not available (it needs Apple silicon and a torch build with "
                                   "MPS); use --device cpu or --device auto")
        return "mps"
    if name == "cuda" or name.startswith("cuda:"):
        index = name.partition(":")[2]
        if index and not index.isdigit():
            raise ShrinkBenchError(f"device {name!r} is not a device: use cuda or cuda:N with N a GPU index")
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
            raise ShrinkBenchError(f"device {name!r} is not available: this torch ({torch.__version__}, {build}) "
                                   "sees no CUDA GPU; use --device cpu or --device auto")
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise ShrinkBenchError(f"device {name!r} is not available: this machine has {count} CUDA GPU(s), "
                                   f"cuda:0 to cuda:{count - 1}")
        return name
    raise ShrinkBenchError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def gpu_indices(device: str) -> tuple[int, ...]:
    """The GPUs parallel workers are spread over: every visible GPU for ``cuda``, the one GPU of ``cuda:N``,
    none for other devices."""
    if device == "cuda":
        import torch

        return tuple(range(torch.cuda.device_count()))
    if device.startswith("cuda:"):
        return (int(device.partition(":")[2]),)
    return ()


def local_device(device: str) -> str:
    """The device name to use in this process: ``cuda:0`` in a worker pinned to one GPU, else ``device``."""
    if device.startswith("cuda") and os.environ.get(PINNED_GPU_VAR):
        return "cuda:0"
    return device


def device_name(device: str) -> str:
    """What the device is, for the results: the GPU's name on CUDA (with its machine index), else ``cpu``/``mps``."""
    if not device.startswith("cuda"):
        return device
    import torch

    local = torch.device(local_device(device))
    index = local.index if local.index is not None else torch.cuda.current_device()
    physical = os.environ.get(PINNED_GPU_VAR) or str(index)
    return f"cuda:{physical} {torch.cuda.get_device_name(index)}"
