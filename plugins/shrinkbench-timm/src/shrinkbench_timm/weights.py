"""Where timm weights come from, offline: a local state-dict file, or pretrained weights already in the
Hugging Face / torch hub caches. Nothing here downloads; missing weights raise :class:`WeightsNotFoundError`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from shrinkbench.checkpoints import load_into, read_state_dict, weights_file
from shrinkbench.errors import ShrinkBenchError, WeightsNotFoundError

HUB_FILENAMES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Weights:
    """Resolved pretrained weights: a user's ``file`` (loaded by us) or a cached timm ``tag`` (loaded by timm)."""

    path: Path
    tag: str | None = None  # "arch.tag" for timm's own pretrained weights, None for a user's file


def resolve(name: str, pretrained: str | None) -> Weights | None:
    """The local weights ``pretrained`` asks for, or ``None`` when it is ``None``/empty.

    A path (an existing file, or anything with a path separator or a weights suffix) must exist. Anything
    else is a timm pretrained tag of ``name`` (``default`` = timm's default tag, or e.g. ``a1_in1k``) that
    must already be in the Hugging Face hub cache or torch's hub cache.
    """
    if not pretrained:
        return None
    path = weights_file(pretrained, "pass the path of a local state dict (.pt/.pth/.safetensors) or a timm "
                                    "pretrained tag already in the local cache")
    if path is not None:
        return Weights(path)
    return Weights(cached_pretrained(name, pretrained), tag=pretrained)


def cached_pretrained(name: str, tag: str) -> Path:
    """The cached file of timm's pretrained weights ``name.tag`` (``tag`` ``default``: timm's default tag)."""
    from timm.models import get_pretrained_cfg, list_pretrained

    full = name if tag.lower() == "default" else f"{name}.{tag}"
    try:
        cfg = get_pretrained_cfg(full, allow_unregistered=False)
    except RuntimeError:
        tags = [t.split(".", 1)[1] for t in list_pretrained(f"{name}.*")]
        known = ", ".join(["default", *tags]) if tags else "none"
        raise ShrinkBenchError(f"timm:{name} has no pretrained weights {tag!r}; known tags: {known}") from None
    looked: list[str] = []
    if cfg.file and Path(cfg.file).is_file():
        return Path(cfg.file)
    if cfg.hf_hub_id:
        from huggingface_hub import constants, try_to_load_from_cache

        repo, _, revision = cfg.hf_hub_id.partition("@")
        for filename in [cfg.hf_hub_filename] if cfg.hf_hub_filename else HUB_FILENAMES:
            found = try_to_load_from_cache(repo, filename, cache_dir=constants.HF_HUB_CACHE, revision=revision or None)
            if isinstance(found, str):
                return Path(found)
        looked.append(f"Hugging Face cache {constants.HF_HUB_CACHE} (repo {repo})")
    if cfg.url:
        file = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if file.is_file():
            return file
        looked.append(str(file))
    where = "; ".join(looked) or "no download location is registered"
    raise WeightsNotFoundError(
        f"timm weights {full!r} are not in the local cache ({where}); nothing is downloaded: copy them into the "
        "cache on a machine with network access, or pass the path of a state dict"
    )


def load_file_into(model: nn.Module, path: Path, classifier: str, first_conv: str | None) -> None:
    """Load a user's state dict into ``model`` strictly.

    A classifier of another shape (trained for other classes) keeps the model's fresh head; a first
    convolution trained for other input channels is adapted with timm's ``adapt_input_conv``. Anything else
    that does not fit raises :class:`ShrinkBenchError` naming a few entries.
    """
    from timm.models import adapt_input_conv

    state, own = read_state_dict(path), model.state_dict()
    conv_key = f"{first_conv}.weight" if first_conv else None
    if conv_key in state and conv_key in own and state[conv_key].shape[1] != own[conv_key].shape[1]:
        state[conv_key] = adapt_input_conv(own[conv_key].shape[1], state[conv_key])
    load_into(model, state, str(path), keep_fresh=classifier)
