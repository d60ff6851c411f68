"""Loading local weight files into a freshly built model (never a download)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from shrinkbench.errors import ShrinkBenchError, WeightsNotFoundError

CLASSIFIER_ATTR = "shrinkbench_classifier"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file or a ``torch.save`` state dict (read with ``weights_only=True``).

    A checkpoint dict holding ``state_dict`` or ``model`` is unwrapped, and a ``module.`` prefix left by
    ``nn.DataParallel`` is removed. Raises :class:`WeightsNotFoundError` when the file does not exist.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"pretrained weights file {str(path)!r} does not exist; pass the path of a local state dict "
            "(.pt/.pth/.safetensors) or leave pretrained unset to train from scratch"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Mapping = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise ShrinkBenchError(f"cannot read weights from {path}: {type(exc).__name__}: {exc}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping):
        raise ShrinkBenchError(f"{path} does not hold a state dict (found {type(state).__name__})")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def load_weights(model: nn.Module, path: str | Path, skip_prefix: str | None = None) -> nn.Module:
    """Load the state dict at ``path`` into ``model`` strictly and return the model.

    Entries under ``skip_prefix`` (the classifier) whose shapes differ from the model's are dropped, keeping
    the fresh head: weights trained for another number of classes load with their head replaced. Any other
    missing, unexpected or mis-shaped entry raises :class:`ShrinkBenchError` naming a few of them.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    if skip_prefix:
        for key in [k for k in state if k.startswith(skip_prefix + ".")]:
            if key in own and own[key].shape != state[key].shape:
                state[key] = own[key]
    bad = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items() if k in own and v.shape != own[k].shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if bad or missing or unexpected:
        parts = [f"{label}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}"
                 for label, items in (("shape mismatch", bad), ("missing", missing), ("unexpected", unexpected)) if items]
        raise ShrinkBenchError(f"weights in {path} do not fit {type(model).__name__} ({'; '.join(parts)})")
    model.load_state_dict(state)
    return model


def finish(model: nn.Module, classifier: str, pretrained: str | None) -> nn.Module:
    """Record ``classifier`` as the model's ``shrinkbench_classifier`` and load ``pretrained`` if given."""
    setattr(model, CLASSIFIER_ATTR, classifier)
    if pretrained is not None:
        load_weights(model, pretrained)
    return model
