"""A stand-in for a machine with N CUDA GPUs, for contract tests on a machine without one.

:class:`FakeCuda` replaces the ``torch.cuda`` functions ShrinkBench calls (all of them go through
:mod:`shrinkbench.accelerator`) by fakes that enforce the real functions' argument contracts and record every
call: ``set_device`` needs an index (``torch.device("cuda")`` raises the ``ValueError`` torch 2.15 raises), a
device index must exist, a CPU device is refused where torch refuses it, and the visible GPUs follow this
process's ``CUDA_VISIBLE_DEVICES`` as the CUDA runtime does (the first invalid entry ends the list). Work that
really needs CUDA -- a tensor on ``cuda:0`` -- still fails, with torch's own "no NVIDIA driver" error: a test
under the fake is about which error comes first, and which GPU each process was given.

Use the ``fake_cuda`` fixture (registered by :mod:`shrinkbench.testing`)::

    def test_pinning(fake_cuda, monkeypatch):
        gpus = fake_cuda(4)                          # a machine with GPUs 0..3
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
        assert torch.cuda.device_count() == 2
        assert gpus.calls == [("device_count", ())]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = ["PATCHED", "FakeCuda"]

PATCHED = ("is_available", "device_count", "current_device", "set_device", "synchronize", "get_device_name",
           "get_device_capability", "memory_allocated", "max_memory_allocated", "reset_peak_memory_stats")
"""The ``torch.cuda`` functions the fake replaces."""


class FakeCuda:
    """``count`` GPUs (physical ids 0..count-1) named ``names``; :attr:`calls` records ``(function, args)``."""

    def __init__(self, count: int, names: Sequence[str] | None = None, capability: tuple[int, int] = (9, 0)) -> None:
        self.count = count
        self.names = list(names) if names else [f"Fake GPU {i}" for i in range(count)]
        self.capability = capability
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.current = 0
        self.peak = 0

    # -- what this process sees ----------------------------------------------------------------------------

    def visible(self) -> list[int]:
        """Physical ids this process sees, in its numbering order (``CUDA_VISIBLE_DEVICES`` applied)."""
        value = os.environ.get("CUDA_VISIBLE_DEVICES")
        if value is None:
            return list(range(self.count))
        out: list[int] = []
        for token in value.split(","):
            token = token.strip()
            if not token.isdigit() or int(token) >= self.count or int(token) in out:
                break  # the CUDA runtime stops at the first entry it cannot use
            out.append(int(token))
        return out

    def _index(self, device: Any, optional: bool) -> int:
        """torch's ``_get_device_index`` contract, then the index must exist."""
        import torch

        if isinstance(device, bool) or not isinstance(device, (int, str, torch.device, type(None))):
            raise ValueError(f"Expected a torch.device, a string or an integer, got {device!r}")
        if isinstance(device, str):
            device = torch.device(device)
        if isinstance(device, torch.device):
            if device.type != "cuda":
                raise ValueError(f"Expected a cuda device, but got: {device}")
            device = device.index
            if device is None and not optional:
                raise ValueError("Expected a torch.device with a specified index or an integer, but got:cuda")
        if device is None:
            if not optional:
                raise ValueError("Expected a torch.device with a specified index or an integer, but got:None")
            device = self.current
        if not 0 <= device < len(self.visible()):
            raise RuntimeError("CUDA error: invalid device ordinal")
        return device

    # -- the replaced torch.cuda functions --------------------------------------------------------------

    def is_available(self) -> bool:  # noqa: D102 - as torch.cuda
        self.calls.append(("is_available", ()))
        return bool(self.visible())

    def device_count(self) -> int:  # noqa: D102
        self.calls.append(("device_count", ()))
        return len(self.visible())

    def current_device(self) -> int:  # noqa: D102
        self.calls.append(("current_device", ()))
        return self.current

    def set_device(self, device: Any) -> None:  # noqa: D102
        self.calls.append(("set_device", (device,)))
        if isinstance(device, int) and device < 0:
            return  # torch: a negative index is a no-op
        self.current = self._index(device, optional=False)

    def synchronize(self, device: Any = None) -> None:  # noqa: D102
        self.calls.append(("synchronize", (device,)))
        self._index(device, optional=True)

    def get_device_name(self, device: Any = None) -> str:  # noqa: D102
        self.calls.append(("get_device_name", (device,)))
        return self.names[self.visible()[self._index(device, optional=True)]]

    def get_device_capability(self, device: Any = None) -> tuple[int, int]:  # noqa: D102
        self.calls.append(("get_device_capability", (device,)))
        self._index(device, optional=True)
        return self.capability

    def memory_allocated(self, device: Any = None) -> int:  # noqa: D102
        self.calls.append(("memory_allocated", (device,)))
        self._index(device, optional=True)
        return 0

    def max_memory_allocated(self, device: Any = None) -> int:  # noqa: D102
        self.calls.append(("max_memory_allocated", (device,)))
        self._index(device, optional=True)
        return self.peak

    def reset_peak_memory_stats(self, device: Any = None) -> None:  # noqa: D102
        self.calls.append(("reset_peak_memory_stats", (device,)))
        self._index(device, optional=True)
        self.peak = 0

    def called(self, name: str) -> list[tuple[Any, ...]]:
        """The arguments of every recorded call of ``name``."""
        return [args for function, args in self.calls if function == name]

    def install(self, monkeypatch: Any) -> FakeCuda:
        """Replace the :data:`PATCHED` ``torch.cuda`` functions with this fake for the test."""
        import torch

        for name in PATCHED:
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))
        return self
