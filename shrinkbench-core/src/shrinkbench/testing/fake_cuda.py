"""A stand-in for a machine with N CUDA GPUs, for contract tests on a machine without one.

:class:`FakeCuda` replaces the ``torch.cuda`` functions ShrinkBench calls (all of them go through
:mod:`shrinkbench.accelerator`) by fakes that enforce the real functions' argument contracts and record every
call: ``set_device`` needs an index (``torch.device("cuda")`` raises the ``ValueError`` torch 2.15 raises), a
device index must exist, a CPU device is refused where torch refuses it, and the visible GPUs follow this
process's ``CUDA_VISIBLE_DEVICES`` as the CUDA runtime does: read **once**, at the first call (CUDA's
initialisation; a later change of the variable changes nothing), entries naming a GPU by index, by UUID
(``GPU-<uuid>``, a unique prefix is enough) or a MIG instance (``MIG-<uuid>``), renumbered from 0 in the order
given, the first entry that names no GPU (or one already listed) ending the list. Work that really needs CUDA --
a tensor on ``cuda:0`` -- still fails, with torch's own "no NVIDIA driver" error: a test under the fake is about
which error comes first, and which GPU each process was given.

Spawned worker processes get the same machine through :func:`install_from_env`: a test sets
:data:`FAKE_VAR` (and puts a ``sitecustomize.py`` calling it on ``PYTHONPATH``, see :func:`write_sitecustomize`),
so the engine's real worker code runs against the stand-in with the ``CUDA_VISIBLE_DEVICES`` its executor gave
it.

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

__all__ = ["FAKE_VAR", "PATCHED", "FakeCuda", "install_from_env", "write_sitecustomize"]

PATCHED = ("is_available", "device_count", "current_device", "set_device", "synchronize", "get_device_name",
           "get_device_capability", "get_device_properties", "memory_allocated", "max_memory_allocated",
           "reset_peak_memory_stats")
"""The ``torch.cuda`` functions the fake replaces."""

FAKE_VAR = "SHRINKBENCH_FAKE_CUDA"
"""``<count>[:<GiB per GPU>]``: the machine :func:`install_from_env` stands in for in a spawned process."""


class _Properties:
    """What ``torch.cuda.get_device_properties`` returns, in the fields ShrinkBench reads."""

    def __init__(self, name: str, total_memory: int, capability: tuple[int, int]) -> None:
        self.name, self.total_memory = name, total_memory
        self.major, self.minor = capability


class FakeCuda:
    """``count`` GPUs (physical ids 0..count-1, UUIDs ``GPU-0000000<i>-fake``, one MIG instance each,
    ``MIG-0000000<i>-fake``) named ``names``, of ``memory`` bytes each; :attr:`calls` records
    ``(function, args)``."""

    def __init__(self, count: int, names: Sequence[str] | None = None, capability: tuple[int, int] = (9, 0),
                 memory: int = 80 * 2**30) -> None:
        self.count = count
        self.names = list(names) if names else [f"Fake GPU {i}" for i in range(count)]
        self.capability = capability
        self.memory = memory
        self.uuids = [f"GPU-{i:08d}-fake" for i in range(count)]
        self.migs = [f"MIG-{i:08d}-fake" for i in range(count)]
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.current = 0
        self.peak = 0
        self._visible: list[int] | None = None

    # -- what this process sees ----------------------------------------------------------------------------

    def visible(self) -> list[int]:
        """Physical ids this process sees, in its numbering order: ``CUDA_VISIBLE_DEVICES`` as it was at the
        first call (the CUDA runtime reads it once, at initialisation)."""
        if self._visible is None:
            self._visible = self._parse(os.environ.get("CUDA_VISIBLE_DEVICES"))
        return self._visible

    def _parse(self, value: str | None) -> list[int]:
        if value is None:
            return list(range(self.count))
        out: list[int] = []
        for token in value.split(","):
            gpu = self._gpu_of(token.strip())
            if gpu is None or gpu in out:
                break  # the CUDA runtime stops at the first entry it cannot use
            out.append(gpu)
        return out

    def _gpu_of(self, token: str) -> int | None:
        """The physical GPU an entry names: an index, a unique prefix of a UUID, or a MIG id."""
        if token.isdigit():
            return int(token) if int(token) < self.count else None
        if token.startswith("MIG-"):
            return self.migs.index(token) if token in self.migs else None
        if token.startswith("GPU-"):
            found = [i for i, uuid in enumerate(self.uuids) if uuid.startswith(token)]
            return found[0] if len(found) == 1 else None
        return None

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

    # -- the NVIDIA driver and the torch build ------------------------------------------------------------

    driver: tuple[int, int] | None = (13, 2)
    """The newest CUDA version the stand-in's driver supports (``None``: no driver); see :meth:`with_driver`."""
    build: str | None = "13.2"
    """The CUDA version of the stand-in's torch build (``None``: a CPU-only build)."""

    def with_driver(self, monkeypatch: Any, driver: tuple[int, int] | None, build: str | None = "13.2") -> FakeCuda:
        """Stand in for an NVIDIA driver that supports CUDA up to ``driver`` (``None``: no driver) under a torch
        built for CUDA ``build`` (``None``: CPU-only): :func:`shrinkbench.accelerator.driver_cuda_version` and
        :func:`~shrinkbench.accelerator.cuda_build` report them, and ``is_available()`` is ``False`` where real
        torch finds no usable GPU -- a CPU-only build, no driver, or a driver of an older CUDA major version
        than the build (within one major version, CUDA's minor-version compatibility lets it run)."""
        from .. import accelerator

        self.driver, self.build = driver, build
        monkeypatch.setattr(accelerator, "driver_cuda_version", lambda: driver)
        monkeypatch.setattr(accelerator, "cuda_build", lambda: build)
        return self

    def _usable(self) -> bool:
        if self.build is None or self.driver is None:
            return False
        return self.driver[0] >= int(self.build.split(".")[0])

    # -- the replaced torch.cuda functions --------------------------------------------------------------

    def is_available(self) -> bool:  # noqa: D102 - as torch.cuda
        self.calls.append(("is_available", ()))
        return bool(self.visible()) and self._usable()

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

    def get_device_properties(self, device: Any = None) -> _Properties:  # noqa: D102
        self.calls.append(("get_device_properties", (device,)))
        physical = self.visible()[self._index(device, optional=True)]
        return _Properties(self.names[physical], self.memory, self.capability)

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
        """Replace the :data:`PATCHED` ``torch.cuda`` functions with this fake for the test (a new machine: the
        engine reads ``CUDA_VISIBLE_DEVICES`` afresh at its first call, as a new process would)."""
        import torch

        from .. import accelerator

        for name in PATCHED:
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))
        accelerator.forget_visible_gpus()
        monkeypatch.setattr(accelerator, "_visible", accelerator._UNREAD)  # and again after the test
        return self.with_driver(monkeypatch, self.driver, self.build)


def install_from_env() -> FakeCuda | None:
    """In a process whose environment has :data:`FAKE_VAR` (``<count>[:<GiB>]``), replace ``torch.cuda``'s
    functions by a :class:`FakeCuda` of that machine for the life of the process; else do nothing."""
    value = os.environ.get(FAKE_VAR)
    if not value:
        return None
    import torch

    count, _, gib = value.partition(":")
    fake = FakeCuda(int(count), memory=int(float(gib) * 2**30) if gib else 80 * 2**30)
    for name in PATCHED:
        setattr(torch.cuda, name, getattr(fake, name))
    return fake


def write_sitecustomize(directory: Any) -> str:
    """Write a ``sitecustomize.py`` that calls :func:`install_from_env` into ``directory``; return the directory
    for ``PYTHONPATH``, so that every Python process started with it (spawned workers included) gets the fake."""
    from pathlib import Path

    path = Path(directory) / "sitecustomize.py"
    path.write_text("from shrinkbench.testing.fake_cuda import install_from_env\n\ninstall_from_env()\n")
    return str(directory)
