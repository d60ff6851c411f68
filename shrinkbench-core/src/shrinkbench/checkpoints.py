"""Reading weight files into models: safetensors or ``torch.save`` state dicts, never unpickling code.

Shared by the engine (dense checkpoints, per-run weights) and model plugins (local pretrained weights).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .errors import ShrinkBenchError, WeightsNotFoundError

WRAPPER_KEYS = ("state_dict", "model", "state_dict_ema")
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".tar")
SAVE_HINT = "save weights with torch.save(model.state_dict(), path) or safetensors.torch.save_model(model, path)"


def _file_kind(path: Path) -> str:
    """``safetensors``, ``torch`` (a torch.save zip archive or legacy pickle) or ``unknown``, by content."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size:
        return "safetensors"
    return "unknown"


def weights_file(pretrained: str, hint: str) -> Path | None:
    """The local file ``pretrained`` names, or ``None`` when it is not a path (e.g. a pretrained tag).

    A value is a path when it exists, contains a path separator or ends like a weights file. A path that is
    not an existing file raises :class:`WeightsNotFoundError`; ``hint`` finishes its message with the fix.
    """
    path = Path(pretrained).expanduser()
    if not (path.exists() or os.sep in pretrained or pretrained.endswith(WEIGHT_SUFFIXES)):
        return None
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {pretrained!r} does not exist; {hint}")
    return path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file or a ``torch.save`` state dict (read with ``weights_only=True``).

    A checkpoint dict holding ``state_dict``/``model``/``state_dict_ema`` is unwrapped, and a ``module.``
    prefix left by ``nn.DataParallel`` is removed. Raises :class:`WeightsNotFoundError` for a missing file and
    :class:`ShrinkBenchError` for one that cannot be read or holds no state dict.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {str(path)!r} does not exist; pass the path of a local state "
                                   "dict (.pt/.pth/.safetensors)")
    kind = _file_kind(path)
    try:
        if kind == "safetensors":
            from safetensors.torch import load_file

            state: object = load_file(str(path))
        elif kind == "torch":
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise ShrinkBenchError(f"{path} is not a weights file (neither safetensors nor torch.save); {SAVE_HINT}")
    except ShrinkBenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        if "weights_only" in str(exc) or "Weights only load failed" in str(exc):
            raise ShrinkBenchError(f"{path} holds pickled Python objects (a whole model?), not only tensors, and is "
                                   f"not unpickled for safety; {SAVE_HINT}") from None
        detail = " ".join(str(exc).split()).split(". ")[0][:160]
        raise ShrinkBenchError(f"cannot read weights from {path} ({type(exc).__name__}: {detail}); the file may be "
                               f"truncated or damaged; {SAVE_HINT}") from None
    for key in WRAPPER_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ShrinkBenchError(f"{path} does not hold a state dict of tensors (found {type(state).__name__}); {SAVE_HINT}")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def load_into(model: nn.Module, state: Mapping[str, torch.Tensor], source: str, keep_fresh: str | None = None) -> nn.Module:
    """Load ``state`` into ``model`` strictly and return the model.

    Entries under the module prefix ``keep_fresh`` (a classifier trained for another number of classes) whose
    shapes differ keep the model's fresh values. Any other missing, unexpected or mis-shaped entry raises
    :class:`ShrinkBenchError` naming ``source`` and a few of the entries.
    """
    own = model.state_dict()
    state = dict(state)
    if keep_fresh:
        for key in [k for k in state if k.startswith(keep_fresh + ".")]:
            if key in own and own[key].shape != state[key].shape:
                state[key] = own[key]
    bad = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items() if k in own and v.shape != own[k].shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if bad or missing or unexpected:
        parts = [f"{label}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}"
                 for label, items in (("shape mismatch", bad), ("missing", missing), ("unexpected", unexpected)) if items]
        raise ShrinkBenchError(f"weights in {source} do not fit {type(model).__name__} ({'; '.join(parts)})")
    model.load_state_dict(state)
    return model


def load_shrunken(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    """Load the state of a structurally pruned model into a freshly built dense ``model``, first shrinking its
    tensors (parameters and buffers) to the stored shapes and the layers' size attributes with them: linear
    (``in/out_features``), convolutions (``in/out_channels``, depthwise ``groups``, transposed too), batch norm
    (``num_features``), group norm, layer norm and PReLU; return the model. Other layers whose shapes change
    (attention, embeddings, recurrent layers) load their tensors but keep stale size attributes.

    Raises :class:`ShrinkBenchError` naming ``source`` when the keys differ (another architecture).
    """
    own = model.state_dict()
    if set(own) != set(state):
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise ShrinkBenchError(f"weights in {source} do not fit {type(model).__name__} (missing: {missing[:3]}; "
                               f"unexpected: {unexpected[:3]})")
    modules = dict(model.named_modules())
    for key, value in state.items():
        if own[key].shape == value.shape:
            continue
        owner_name, _, attr = key.rpartition(".")
        owner = modules[owner_name]
        current = getattr(owner, attr)
        replacement = torch.empty(value.shape, dtype=current.dtype, device=current.device)
        if isinstance(current, nn.Parameter):
            setattr(owner, attr, nn.Parameter(replacement, requires_grad=current.requires_grad))
        else:
            owner.register_buffer(attr, replacement)
        _resize_attributes(owner, attr, value.shape)
    model.load_state_dict(state)
    return model


def _resize_attributes(module: nn.Module, attr: str, shape: torch.Size) -> None:
    if isinstance(module, nn.Linear) and attr == "weight":
        module.out_features, module.in_features = shape
    elif isinstance(module, nn.modules.conv._ConvNd) and attr == "weight":
        depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
        if depthwise:  # weight (channels, 1, ...): every channel is its own group
            module.groups = module.in_channels = module.out_channels = shape[0]
        elif module.transposed:  # weight (in, out / groups, ...)
            module.in_channels, module.out_channels = shape[0], shape[1] * module.groups
        else:  # weight (out, in / groups, ...)
            module.out_channels, module.in_channels = shape[0], shape[1] * module.groups
    elif isinstance(module, nn.modules.batchnorm._NormBase) and attr in ("weight", "running_mean"):
        module.num_features = shape[0]
    elif isinstance(module, nn.GroupNorm) and attr == "weight":
        module.num_channels = shape[0]
    elif isinstance(module, nn.LayerNorm) and attr == "weight":
        module.normalized_shape = tuple(shape)
    elif isinstance(module, nn.PReLU) and attr == "weight":
        module.num_parameters = shape[0]
