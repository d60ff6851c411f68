"""How a run executes on its device: placement, mixed precision, memory format, determinism and compilation.

The experiment says *what* to run; :class:`RunSettings` (decided by the sweep) and a :class:`Runtime` (made
from them where the run executes) say *how fast and where*. Nothing here changes what is computed beyond
floating-point rounding, except ``precision`` (part of the experiment) -- and compiled models train on full
batches only, which the experiment records as ``full_batches``.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import accelerator
from ..allocator import keep_freed_memory
from ..devices import cpu_cores, local_device, resolve_device
from .config import PRECISIONS

__all__ = ["PRECISIONS", "RunSettings", "Runtime"]


@dataclass(frozen=True)
class RunSettings:
    """How the runs of a sweep execute, as the sweep decided on the driver: ``device`` as requested (``auto``,
    ``cuda``...: resolved where each run executes, so a CPU-only driver can send GPU runs to GPU workers),
    ``threads`` (torch threads = the CPUs a run reserved), ``workers`` (DataLoader processes for folder
    datasets; ``None``: min(8, threads)), ``eval_batch_size`` (``None``: 1024 on CUDA, else 256) and the
    switches of :class:`Runtime` (``channels_last`` ``None``: on where the run executes on the CPU, see
    :meth:`Runtime.of`). None of it changes what a run computes beyond floating-point rounding.
    ``device_reason`` says why the driver chose ``device`` (:func:`shrinkbench.environment.choose_device`;
    empty where the device is resolved on each worker)."""

    device: str = "auto"
    threads: int | None = None
    workers: int | None = None
    eval_batch_size: int | None = None
    compile: bool = False
    channels_last: bool | None = None
    deterministic: bool = False
    tf32: bool = True
    device_reason: str = ""

    @property
    def loader_workers(self) -> int:
        """DataLoader worker processes of a run: the given number, else min(8, the run's threads or cores)."""
        return self.workers if self.workers is not None else min(8, self.threads or cpu_cores())


_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Runtime:
    """Execution settings of a run in this process.

    ``device``: a resolved device (``cpu``, ``cuda``, ``cuda:N``, ``mps``); ``precision``: ``fp32``, or autocast
    to ``bf16``/``fp16`` (fp16 with a gradient scaler) for training *and* evaluation (test and validation
    accuracy, loss, measured latency) -- strategies score and MACs are counted in fp32; ``channels_last``:
    convolutional models and their inputs in NHWC memory format; ``deterministic``: deterministic algorithms
    (and cuDNN's deterministic mode on CUDA) -- an operation that has no deterministic implementation warns,
    and :meth:`watch_determinism` reports it; ``tf32``: on CUDA, float32 matmuls and convolutions may use
    TensorFloat-32 (Ampere and newer; torch's own default keeps matmuls in full float32); ``compile``:
    ``torch.compile`` (CUDA graphs on CUDA); ``compile_backend`` is the ``torch.compile`` backend (tests use
    ``"eager"``, which checks the plumbing without generating code).
    """

    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    deterministic: bool = False
    compile: bool = False
    compile_backend: str = "inductor"
    tf32: bool = True
    eval_batch: int | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @classmethod
    def of(cls, experiment: Any, settings: RunSettings) -> Runtime:
        """The runtime of a run of ``experiment`` (its precision) under ``settings`` in this process: the
        requested device resolved here (an unavailable one raises a one-line error). ``channels_last`` left to
        auto (``None``) is on when that device is the CPU: oneDNN's NHWC convolutions train faster there
        (``benchmarks/channels_last.py``); models without 2-d convolutions are unaffected. It stays off on GPUs,
        where it has not been measured."""
        device = resolve_device(settings.device)
        channels_last = settings.channels_last
        if channels_last is None:
            channels_last = torch.device(local_device(device)).type == "cpu"
        return cls(device, experiment.precision, channels_last,
                   settings.deterministic, settings.compile, tf32=settings.tf32, eval_batch=settings.eval_batch_size)

    @property
    def eval_batch_size(self) -> int:
        """The evaluation batch size: as given, else 1024 on CUDA and 256 elsewhere."""
        return self.eval_batch or (1024 if self.is_cuda else 256)

    @property
    def torch_device(self) -> torch.device:
        """The device of this process (``cuda:0`` in a worker pinned to one GPU)."""
        return torch.device(local_device(self.device))

    @property
    def is_cuda(self) -> bool:
        """Whether the run executes on a CUDA GPU."""
        return self.torch_device.type == "cuda"

    @property
    def uses_tf32(self) -> bool:
        """Whether float32 matmuls and convolutions of this run may use TensorFloat-32 (recorded in rows)."""
        return self.tf32 and self.is_cuda and self.precision == "fp32"

    def setup(self) -> None:
        """Apply process-wide settings before the run's first device operation: deterministic algorithms,
        cuDNN's deterministic mode or autotuning (fixed shapes benefit), TF32, and the current CUDA device; on the
        CPU, the host allocator keeps freed blocks for the next step (:func:`shrinkbench.allocator.keep_freed_memory`)."""
        accelerator.configure(self.torch_device, self.deterministic, self.tf32)
        if self.torch_device.type == "cpu":
            keep_freed_memory()

    @contextlib.contextmanager
    def watch_determinism(self) -> Iterator[list[str]]:
        """Collect, for the block, the operations that warned they have no deterministic implementation
        (only with ``deterministic``): a run that used one is not bit-reproducible, and its row says so."""
        found: list[str] = []
        if not self.deterministic:
            yield found
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield found
        for warning in caught:
            match = _NONDETERMINISTIC.search(str(warning.message))
            if match:
                found.append(match.group(1))
            else:  # not ours to swallow
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        found[:] = list(dict.fromkeys(found))

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast to the run's precision for the block (a no-op for fp32)."""
        if self.precision == "fp32":
            yield
            return
        with torch.autocast(self.torch_device.type, dtype=_DTYPES[self.precision]):
            yield

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16 (``None`` otherwise): fp16 gradients underflow without one."""
        if self.precision != "fp16":
            return None
        return torch.amp.GradScaler(self.torch_device.type)

    @property
    def fused_optimizer(self) -> bool:
        """Use the fused (single-kernel) optimizer: on CUDA only, where per-parameter kernel launches dominate
        (whether or not the model is compiled; the CPU and MPS keep the foreach implementation)."""
        return self.is_cuda

    def place(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to the device (and to channels_last when asked and it has 2-d convolutions)."""
        model = model.to(self.torch_device)
        if self.channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules()):
            model = model.to(memory_format=torch.channels_last)
        return model

    def prepare_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Inputs in the model's memory format."""
        if self.channels_last and inputs.dim() == 4:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def compiled(self, model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """``torch.compile(model)``; on CUDA with ``mode="reduce-overhead"`` (CUDA graphs: static shapes, far
        fewer kernel launches). Compilation happens on the first call, which may raise: callers fall back to
        the eager model (see :func:`shrinkbench.engine.train.train`). Dynamo keeps its compiled graphs for the
        process, so a later run of the same architecture reuses them (its row says so); past its recompile
        limit Dynamo would silently run eager, which :meth:`compile_guard` turns into an error."""
        kwargs = {"mode": "reduce-overhead"} if self.is_cuda and self.compile_backend == "inductor" else {}
        return torch.compile(model, backend=self.compile_backend, **kwargs)

    def compile_guard(self) -> contextlib.AbstractContextManager:
        """A block in which Dynamo raises (:data:`RECOMPILE_LIMIT_ERRORS`) instead of silently falling back to
        eager when a function recompiles more often than its limit allows."""
        if not self.compile:
            return contextlib.nullcontext()
        config = torch._dynamo.config
        key = next((k for k in _FAIL_ON_LIMIT if hasattr(config, k)), None)
        return config.patch(**{key: True}) if key else contextlib.nullcontext()

    @staticmethod
    def compiled_graphs() -> int:
        """How many distinct graphs Dynamo has compiled in this process so far."""
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])

    def step_begin(self) -> None:
        """Mark a new training step for CUDA-graph trees (outputs of the previous replay may be overwritten)."""
        if self.compile and self.is_cuda:
            accelerator.mark_step_begin()

    def synchronize(self) -> None:
        """Wait for the device's queued work (for timing): CUDA and MPS run asynchronously."""
        accelerator.synchronize(self.torch_device)


_NONDETERMINISTIC = re.compile(r"(\S+) does not have a deterministic implementation")
"""torch's warning for an operation without a deterministic implementation under ``warn_only=True``."""

_FAIL_ON_LIMIT = ("fail_on_recompile_limit_hit", "fail_on_cache_limit_hit")  # torch >= 2.6, older
