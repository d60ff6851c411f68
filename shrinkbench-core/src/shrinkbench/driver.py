"""Whether this torch build can use this machine's NVIDIA driver, and why torch sees no GPU when it does not.

The rule is CUDA's own: a torch built for CUDA X.Y runs on a driver that supports CUDA X.0 or newer (minor-version
compatibility within a major version); a driver of an older major version cannot run it, and torch then sees no
GPU -- without a word, unless someone asks. :mod:`shrinkbench.devices` words its errors with it and
:mod:`shrinkbench.environment` its explanations. Every CUDA call goes through :mod:`shrinkbench.accelerator`.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import accelerator

__all__ = ["GPU_QUICK_START", "Compatibility", "compatibility", "no_cuda", "version_text"]

GPU_QUICK_START = "README: On a GPU"


@dataclass(frozen=True)
class Compatibility:
    """Whether this torch build can use the installed NVIDIA driver: ``ok`` is ``None`` where the question does
    not arise (a CPU-only build); ``text`` says why, ``fix`` what to do when it is ``False``."""

    ok: bool | None
    text: str
    fix: str = ""


def version_text(pair: tuple[int, int] | None) -> str | None:
    """``(12, 4)`` as ``"12.4"``; ``None`` stays ``None``."""
    return None if pair is None else f"{pair[0]}.{pair[1]}"


def compatibility(build: str | None, driver: tuple[int, int] | None) -> Compatibility:
    """The verdict for a torch built for CUDA ``build`` (``None``: CPU-only) on a driver supporting CUDA up to
    ``driver`` (``None``: no NVIDIA driver found)."""
    if build is None:
        driver_text = f"; the driver supports CUDA {version_text(driver)}" if driver else ""
        return Compatibility(None, f"torch is a CPU-only build{driver_text}",
                             "install a CUDA build of torch to use a GPU (" + GPU_QUICK_START + ")" if driver else "")
    if driver is None:
        return Compatibility(False, f"torch is a CUDA {build} build but no NVIDIA driver was found",
                             "on a machine with an NVIDIA GPU, install its driver (check `nvidia-smi`)")
    major = int(build.split(".")[0])
    if driver[0] < major:
        return Compatibility(False, f"torch is a CUDA {build} build but the driver supports CUDA {version_text(driver)}",
                             f"install torch built for CUDA {version_text(driver)} or older (`uv pip install torch "
                             f"--torch-backend auto`, {GPU_QUICK_START}) or update the NVIDIA driver")
    return Compatibility(True, f"torch is a CUDA {build} build and the driver supports CUDA {version_text(driver)}")


def no_cuda() -> tuple[str, str]:
    """Why this process's torch sees no CUDA GPU, and what to do about it (two texts, no trailing period)."""
    verdict = compatibility(accelerator.cuda_build(), accelerator.driver_cuda_version())
    if verdict.ok is False or verdict.ok is None:
        return verdict.text, verdict.fix or "install a CUDA build of torch and the NVIDIA driver to use a GPU"
    visible = accelerator.visible_gpus()
    if visible == []:
        return f"{verdict.text}, but CUDA_VISIBLE_DEVICES is empty", "set CUDA_VISIBLE_DEVICES to the GPUs to use"
    where = f" (CUDA_VISIBLE_DEVICES={','.join(visible)})" if visible else ""
    return f"{verdict.text}, but torch sees no GPU{where}", "check `nvidia-smi` and CUDA_VISIBLE_DEVICES"
