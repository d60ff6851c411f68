"""Every torchvision classification model as ``torchvision:<name>`` (``torchvision:resnet18``, ...).

Models are built with ``num_classes`` for the dataset (a fresh head) and the first convolution adapted to the
dataset's channels. ``pretrained`` is either the path of a local state dict, or the name of torchvision weights
(``DEFAULT``, ``IMAGENET1K_V1``, ``ResNet18_Weights.IMAGENET1K_V2``) that must already be in torch's hub cache
(``$TORCH_HOME/hub/checkpoints``). Nothing is downloaded: missing weights raise :class:`WeightsNotFoundError`.
When the weights were trained for another number of classes, their head is dropped and a fresh one kept.
A one-example forward pass at build time turns "this architecture cannot take these images" (too small for its
down-sampling, a fixed size) into an :class:`IncompatibleError` before any training starts.
"""

from __future__ import annotations

import math
import os
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from torch import nn

from shrinkbench import find_classifier, set_classifier
from shrinkbench.cache import cached_names
from shrinkbench.checkpoints import weights_file
from shrinkbench.errors import IncompatibleError, ShrinkBenchError, UnknownNameError, WeightsNotFoundError
from shrinkbench.modules import check_forward

from .weights import load_weights


def names() -> list[str]:
    """torchvision's classification model names (``torchvision.models.list_models``), cached per version."""

    def compute() -> list[str]:
        from torchvision import models

        return list(models.list_models(module=models))

    return cached_names("torchvision", metadata.version("torchvision"), compute)


def default_shape(name: str) -> tuple[int, int, int] | None:
    """``(3, crop, crop)``: the evaluation crop of ``name``'s ``DEFAULT`` torchvision weights (their
    ``transforms().crop_size``, e.g. 224, 299 for Inception v3, 518 for ViT-H/14), read from metadata: nothing
    is downloaded or built. ``None`` for a name without registered weights."""
    from torchvision import models

    try:
        weights = models.get_model_weights(name).DEFAULT
    except (KeyError, ValueError, AttributeError):
        return None
    crop = list(getattr(weights.transforms(), "crop_size", None) or [])
    if not crop:
        return None
    height, width = (crop[0], crop[0]) if len(crop) == 1 else crop[:2]
    return (3, int(height), int(width))


def build(name: str, num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """Build torchvision's ``name`` for ``num_classes`` and ``(C, H, W)`` inputs, optionally with local weights.

    Raises :class:`IncompatibleError` when the model cannot take that input shape (found by building it and
    running one example), :class:`WeightsNotFoundError` when ``pretrained`` names weights that are not on this
    machine.
    """
    from torchvision import models

    if name not in models.list_models(module=models):
        raise UnknownNameError("model", f"torchvision:{name}", [f"torchvision:{n}" for n in names()])
    channels, height, width = input_shape
    weights_file = resolve_pretrained(name, pretrained)
    try:
        model = models.get_model(name, weights=None, num_classes=num_classes, **_size_kwargs(name, height, width))
    except (AssertionError, ValueError) as exc:
        raise IncompatibleError(f"model 'torchvision:{name}' cannot take {height}x{width} images: {exc}") from None
    classifier = find_classifier(model, num_classes)
    if classifier is None:
        raise ShrinkBenchError(f"cannot find the classifier of torchvision:{name} (no layer with {num_classes} outputs)")
    if weights_file is not None:
        load_weights(model, weights_file, skip_prefix=classifier)
    if channels != 3:
        adapt_first_conv(model, channels)
    check_forward(model, f"torchvision:{name}", input_shape)
    return set_classifier(model, classifier)


def _size_kwargs(name: str, height: int, width: int) -> dict:
    """Constructor arguments that depend on the image size or silence deprecated defaults."""
    if name.startswith("vit_"):
        if height != width:
            raise IncompatibleError(f"model 'torchvision:{name}' takes square images, the dataset's are {height}x{width}")
        return {"image_size": height}
    if name.startswith("maxvit_"):
        return {"input_size": (height, width)}
    if name in ("googlenet", "inception_v3"):
        return {"aux_logits": False, "init_weights": True}
    return {}


def resolve_pretrained(name: str, pretrained: str | None) -> Path | None:
    """The local file holding ``pretrained`` for model ``name``, or ``None`` when no weights are asked for.

    A path (existing, or containing a path separator, or ending like a weights file) is returned as is when it
    exists. Anything else is looked up as torchvision weights of ``name`` in torch's hub cache.
    """
    if pretrained is None or pretrained == "":
        return None
    path = weights_file(pretrained, "pass the path of a local state dict")
    return path if path is not None else cached_torchvision_weights(name, pretrained)


def cached_torchvision_weights(name: str, tag: str) -> Path:
    """The hub-cache file of torchvision weights ``tag`` (``DEFAULT``, ``IMAGENET1K_V1`` or ``Enum.MEMBER``)."""
    import torch
    from torchvision import models

    enum = models.get_model_weights(name)
    member = tag.split(".")[-1]
    try:
        weights = enum[member] if member != "DEFAULT" else enum.DEFAULT
    except KeyError:
        known = ", ".join(dict.fromkeys(["DEFAULT", *enum.__members__]))
        raise ShrinkBenchError(
            f"torchvision:{name} has no weights {tag!r}; known: {known} (or pass the path of a state dict)"
        ) from None
    file = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)
    if not file.is_file():
        raise WeightsNotFoundError(
            f"torchvision weights {enum.__name__}.{weights.name} for torchvision:{name} are not in the local cache "
            f"({file}); nothing is downloaded: copy the file there (or set TORCH_HOME), or pass the path of a state dict"
        )
    return file


def adapt_first_conv(model: nn.Module, channels: int) -> None:
    """Replace the first 3-channel ``Conv2d`` by one taking ``channels`` inputs, keeping its other settings.

    Its weights are derived from the old ones (summed over RGB for 1 channel, else tiled and scaled by
    3 / channels), which keeps pretrained filters meaningful and the initial output scale unchanged.
    """
    found = next(((n, m) for n, m in model.named_modules()
                  if isinstance(m, nn.Conv2d) and m.in_channels == 3 and m.groups == 1), None)
    if found is None:
        raise IncompatibleError(f"{type(model).__name__} has no 3-channel input convolution to adapt to {channels} channels")
    module_name, module = found
    new = nn.Conv2d(channels, module.out_channels, module.kernel_size, module.stride, module.padding,
                    module.dilation, 1, module.bias is not None, module.padding_mode)
    weight = module.weight.detach()
    if channels == 1:
        weight = weight.sum(dim=1, keepdim=True)
    else:
        weight = weight.repeat(1, math.ceil(channels / 3), 1, 1)[:, :channels] * (3 / channels)
    new.weight.data.copy_(weight)
    if module.bias is not None:
        new.bias.data.copy_(module.bias.detach())
    parent_name, _, attr = module_name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
