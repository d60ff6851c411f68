"""Where runs execute: device names, CPU thread counts, and the identity of the GPU each worker process gets.

``auto`` is CUDA when a CUDA GPU is visible, else Apple's MPS, else the CPU. A device that is not available is a
:class:`ShrinkBenchError` before any work.

**One GPU identity, decided once.** The driver turns the sweep's device into the machine ids of the GPUs its
workers are spread over (:func:`gpu_ids`: a physical index, a GPU UUID or a MIG id, as ``CUDA_VISIBLE_DEVICES``
names them, translated through the driver's own ``CUDA_VISIBLE_DEVICES``). An executor gives each worker one of
those ids and calls :func:`pin_gpu` there before torch initialises CUDA; from then on the worker sees exactly
that GPU, as ``cuda:0``. Nothing else derives a GPU's identity: in a pinned worker :func:`resolve_device` accepts
the sweep's CUDA device as it is (the driver checked it against the machine), :func:`local_device` is
``cuda:0`` and :func:`device_name` names the pinned id. Every CUDA call goes through :mod:`shrinkbench.accelerator`.
"""

from __future__ import annotations

import os

from . import accelerator
from .driver import no_cuda
from .errors import ShrinkBenchError

__all__ = ["DEVICES", "PINNED_GPU_VAR", "available_memory", "cpu_cores", "device_name", "gpu_ids", "gpu_memory",
           "local_device", "pin_gpu", "pinned_gpu", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PINNED_GPU_VAR = "SHRINKBENCH_PINNED_GPU"
"""Set by :func:`pin_gpu` in a worker pinned to one GPU: that GPU's machine id (index, UUID or MIG id)."""


def pin_gpu(gpu_id: str) -> None:
    """Make this process see exactly the GPU ``gpu_id`` (a machine id from :func:`gpu_ids`), as ``cuda:0``.
    Call it before torch initialises CUDA (the CUDA runtime reads ``CUDA_VISIBLE_DEVICES`` once)."""
    os.environ[accelerator.VISIBLE_VAR] = os.environ[PINNED_GPU_VAR] = str(gpu_id)


def pinned_gpu() -> str | None:
    """The machine id of the GPU this process was pinned to by :func:`pin_gpu`, else ``None``."""
    return os.environ.get(PINNED_GPU_VAR) or None


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
            why, fix = no_cuda()
            given = f" on this worker, which was given GPU {pinned_gpu()}" if pinned_gpu() is not None else ""
            raise ShrinkBenchError(f"device {name!r} is not available{given}: {why}; {fix}, or use --device cpu")
        if pinned_gpu() is not None:
            return name  # the driver chose this process's GPU for the sweep's device: it is cuda:0 here
        count = accelerator.cuda_count()
        if index and int(index) >= count:
            raise ShrinkBenchError(f"device {name!r} is not available: this machine has {count} CUDA GPU(s), "
                                   f"cuda:0 to cuda:{count - 1}")
        return name
    raise ShrinkBenchError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")


def gpu_ids(device: str) -> tuple[str, ...]:
    """The machine ids of the GPUs that parallel workers of a sweep on ``device`` (resolved) are spread over:
    every GPU this process sees for ``cuda``, the one GPU of ``cuda:N``, none for other devices. Each is what a
    worker's ``CUDA_VISIBLE_DEVICES`` needs to see that GPU (see :func:`pin_gpu`)."""
    if device == "cuda":
        indices: tuple[int, ...] = tuple(range(accelerator.cuda_count()))
    elif device.startswith("cuda:"):
        indices = (int(device.partition(":")[2]),)
    else:
        return ()
    return tuple(accelerator.physical_gpu(i) for i in indices)


def gpu_memory(device: str) -> int | None:
    """Bytes of memory of the smallest GPU a sweep on ``device`` (resolved) uses (``None`` off CUDA or with
    no GPU). In a pinned worker, the memory of its one GPU."""
    if not device.startswith("cuda") or not accelerator.cuda_available():
        return None
    if pinned_gpu() is not None:
        indices: tuple[int, ...] = (0,)
    elif device == "cuda":
        indices = tuple(range(accelerator.cuda_count()))
    else:
        indices = (int(device.partition(":")[2]),)
    return min((accelerator.total_memory(i) for i in indices), default=None)


def local_device(device: str) -> str:
    """The device to use in this process, always with an index on CUDA: ``cuda:0`` in a worker pinned to one
    GPU, the current GPU for a bare ``cuda``, else ``device`` itself."""
    if not device.startswith("cuda"):
        return device
    if pinned_gpu() is not None:
        return "cuda:0"
    return device if ":" in device else f"cuda:{accelerator.current_index()}"


def device_name(device: str) -> str:
    """What the device is, for the results: the GPU's machine id and name on CUDA (``cuda:2 NVIDIA H200``:
    the id ``nvidia-smi`` shows, or its UUID/MIG id where the machine names GPUs so; also in a worker that sees
    the GPU as ``cuda:0``), else ``cpu``/``mps``."""
    if not device.startswith("cuda"):
        return device
    import torch

    local = torch.device(local_device(device))
    physical = pinned_gpu() or accelerator.physical_gpu(local.index)
    return f"cuda:{physical} {accelerator.gpu_name(local)}"
