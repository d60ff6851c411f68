"""How a run executes on its device: placement, mixed precision, memory format, determinism and compilation.

The sweep configuration says *what* to run; a :class:`Runtime` says *how fast and where*, in the process that
runs it. Nothing here changes what is computed beyond floating-point rounding, except ``precision`` (which is
part of the configuration's fingerprint) and ``compile`` (which trains on full batches only: the last, short
batch of an epoch is dropped so every step has the same shape).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ..devices import local_device
from .config import PRECISIONS, SweepConfig

__all__ = ["PRECISIONS", "Runtime"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Runtime:
    """Execution settings of a run in this process.

    ``device``: a resolved device (``cpu``, ``cuda``, ``cuda:N``, ``mps``); ``precision``: ``fp32``, or autocast
    to ``bf16``/``fp16`` (fp16 with a gradient scaler); ``channels_last``: convolutional models and their
    inputs in NHWC memory format; ``deterministic``: deterministic algorithms and cuDNN settings on CUDA;
    ``compile``: ``torch.compile`` (CUDA graphs on CUDA) with a fused optimizer; ``compile_backend`` is the
    ``torch.compile`` backend (tests use ``"eager"``, which checks the plumbing without generating code).
    """

    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    deterministic: bool = False
    compile: bool = False
    compile_backend: str = "inductor"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @classmethod
    def of(cls, config: SweepConfig) -> Runtime:
        """The runtime of a sweep whose device the sweep has resolved (see :func:`shrinkbench.engine.sweep.validate`)."""
        return cls(config.device, config.precision, config.channels_last, config.deterministic, config.compile)

    @property
    def torch_device(self) -> torch.device:
        """The device of this process (``cuda:0`` in a worker pinned to one GPU)."""
        return torch.device(local_device(self.device))

    @property
    def is_cuda(self) -> bool:
        """Whether the run executes on a CUDA GPU."""
        return self.torch_device.type == "cuda"

    def setup(self) -> None:
        """Apply process-wide settings before the run's first CUDA operation: deterministic algorithms and
        cuDNN flags (``deterministic``), or cuDNN autotuning (fixed shapes benefit) otherwise."""
        if not self.is_cuda:
            return
        if self.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = self.deterministic
        torch.backends.cudnn.benchmark = not self.deterministic
        torch.cuda.set_device(self.torch_device)

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
        """Use the fused (single-kernel) optimizer: on CUDA, where per-parameter kernel launches dominate."""
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
        the eager model (see :func:`shrinkbench.engine.train.train`)."""
        kwargs = {"mode": "reduce-overhead"} if self.is_cuda and self.compile_backend == "inductor" else {}
        return torch.compile(model, backend=self.compile_backend, **kwargs)

    def step_begin(self) -> None:
        """Mark a new training step for CUDA-graph trees (outputs of the previous replay may be overwritten)."""
        if self.compile and self.is_cuda:
            torch.compiler.cudagraph_mark_step_begin()

    def synchronize(self) -> None:
        """Wait for the device's queued work (for timing)."""
        if self.is_cuda:
            torch.cuda.synchronize(self.torch_device)
