"""What ShrinkBench will run on here, and why: the torch build, the NVIDIA driver and whether the two fit
(:mod:`shrinkbench.driver`), the GPUs, MPS, the CPU, Python, the installed plugins and the cache and data roots
(``shrinkbench env``), and the explanation of a device choice that every sweep prints and records
(:func:`choose_device`). Every CUDA call goes through :mod:`shrinkbench.accelerator`.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

from . import accelerator
from .devices import available_memory, cpu_cores, resolve_device
from .driver import compatibility, no_cuda, version_text

__all__ = ["DeviceChoice", "choose_device", "collect", "render"]

@dataclass(frozen=True)
class DeviceChoice:
    """A device a sweep runs on (``device``: resolved) and why it was chosen (``reason``, one line)."""

    requested: str
    device: str
    reason: str

    @property
    def text(self) -> str:
        """``cpu: torch is a CUDA 13.2 build but the driver supports CUDA 12.4`` (the header and the
        ``device_reason`` column)."""
        return f"{self.device}: {self.reason}"


def choose_device(requested: str) -> DeviceChoice:
    """Resolve ``requested`` (:func:`shrinkbench.devices.resolve_device`: an unavailable device is a one-line
    error with its fix) and say why: for ``auto`` what was found (``cpu: torch is a CUDA 13.2 build but the driver
    supports CUDA 12.4``), for a named device that it was asked for."""
    device = resolve_device(requested)
    asked = requested.strip().lower()
    if asked != "auto":
        return DeviceChoice(asked, device, f"asked for {asked}")
    if device == "cuda":
        count = accelerator.cuda_count()
        return DeviceChoice(asked, device, f"auto found {count} CUDA GPU{'s' if count != 1 else ''} "
                                           f"(torch CUDA {accelerator.cuda_build()})")
    why, _ = no_cuda()
    if device == "mps":
        return DeviceChoice(asked, device, f"auto found Apple MPS and no CUDA GPU ({why})")
    return DeviceChoice(asked, device, f"auto found no GPU: {why}")


# -- shrinkbench env ---------------------------------------------------------------------------------------


def driver_version() -> str | None:
    """The NVIDIA driver's own version (``550.54.15``) from ``/proc/driver/nvidia/version``; ``None`` if absent."""
    try:
        with open("/proc/driver/nvidia/version") as f:
            match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", f.read())
    except OSError:
        return None
    return match.group(1) if match else None


def smi_gpus() -> list[dict[str, Any]]:
    """The GPUs ``nvidia-smi`` lists (index, name, memory in bytes), also where torch cannot use them; ``[]``
    without ``nvidia-smi`` or when it fails."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in done.stdout.splitlines() if done.returncode == 0 else []:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[0].isdigit():
            memory = int(float(parts[2]) * 2**20) if parts[2].replace(".", "", 1).isdigit() else None
            gpus.append({"id": parts[0], "name": parts[1], "memory_bytes": memory, "capability": None})
    return gpus


def torch_gpus() -> list[dict[str, Any]]:
    """The CUDA GPUs this process's torch sees: ``index`` (``cuda:N``), the machine's ``id``, name, memory and
    compute capability."""
    import torch

    gpus = []
    for index in range(accelerator.cuda_count()):
        major, minor = accelerator.gpu_capability(index)
        gpus.append({"index": index, "id": accelerator.physical_gpu(index),
                     "name": accelerator.gpu_name(torch.device(f"cuda:{index}")),
                     "memory_bytes": accelerator.total_memory(index), "capability": f"{major}.{minor}"})
    return gpus


def collect() -> dict[str, Any]:
    """Every fact ``shrinkbench env`` shows, JSON-ready (see :func:`render` for the text form)."""
    import torch

    from .cache import cache_dir
    from .plugins import get_registry

    build, driver = accelerator.cuda_build(), accelerator.driver_cuda_version()
    verdict = compatibility(build, driver)
    cuda = accelerator.cuda_available()
    auto = choose_device("auto")
    plugins = [{"name": p.name, "distribution": p.distribution, "version": p.version, "status": p.status}
               for p in get_registry().plugins]
    data_path = os.environ.get("DATAPATH")
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": {"version": torch.__version__, "cuda_build": build},
        "driver": {"version": driver_version(), "cuda": version_text(driver)},
        "compatibility": asdict(verdict),
        "cuda_available": cuda,
        "gpus": torch_gpus() if cuda else [],
        "gpus_torch_cannot_use": [] if cuda else smi_gpus(),
        "cuda_visible_devices": os.environ.get(accelerator.VISIBLE_VAR),
        "mps_available": accelerator.mps_available(),
        "cpu": {"cores": cpu_cores(), "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
                "memory_available_bytes": available_memory()},
        "device_auto": {"device": auto.device, "reason": auto.reason},
        "plugins": plugins,
        "cache_dir": str(cache_dir()),
        "data_roots": [p for p in (data_path or "").split(os.pathsep) if p],
    }


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**30:.1f} GiB"


def render(facts: dict[str, Any]) -> list[str]:
    """The text form of :func:`collect`'s facts: one ``name: value`` line each, to paste into a bug report."""
    verdict = facts["compatibility"]
    driver = facts["driver"]
    lines = [
        f"python: {facts['python']} ({facts['platform']})",
        f"torch: {facts['torch']['version']} ({'CUDA ' + facts['torch']['cuda_build'] if facts['torch']['cuda_build'] else 'CPU-only'} build)",
        f"nvidia driver: {driver['version'] or ('present' if driver['cuda'] else 'not found')}"
        + (f", supports CUDA {driver['cuda']}" if driver["cuda"] else ""),
        f"driver and torch: {verdict['text']}" + (f" -- {verdict['fix']}" if verdict["fix"] else ""),
        f"CUDA_VISIBLE_DEVICES: {facts['cuda_visible_devices'] if facts['cuda_visible_devices'] is not None else '(not set)'}",
    ]
    gpus = facts["gpus"]
    lines.append(f"GPUs torch sees: {len(gpus) or 'none'}")
    lines += [f"  cuda:{g['index']} (machine id {g['id']}): {g['name']}, {_gib(g['memory_bytes'])}, "
              f"compute capability {g['capability']}" for g in gpus]
    if facts["gpus_torch_cannot_use"]:
        lines.append("GPUs nvidia-smi lists that torch cannot use:")
        lines += [f"  {g['id']}: {g['name']}, {_gib(g['memory_bytes'])}" for g in facts["gpus_torch_cannot_use"]]
    cpu = facts["cpu"]
    lines += [
        f"MPS: {'available' if facts['mps_available'] else 'not available'}",
        f"CPU: {cpu['cores']} cores usable ({cpu['machine']}), torch threads {cpu['torch_threads']}, "
        f"memory available {_gib(cpu['memory_available_bytes'])}",
        f"--device auto: {facts['device_auto']['device']} ({facts['device_auto']['reason']})",
        f"cache: {facts['cache_dir']}",
        f"data roots ($DATAPATH): {os.pathsep.join(facts['data_roots']) or '(not set)'}",
        f"plugins: {len(facts['plugins'])}",
    ]
    lines += [f"  {p['name']}: {p['distribution']} {p['version']}" + ("" if p["status"] == "ok" else f" [{p['status']}]")
              for p in facts["plugins"]]
    return lines
