"""Building ``timm:<name>`` models offline, with the head and stem fitted to the dataset.

``timm.create_model(name, num_classes=..., in_chans=C)`` gives the dataset's head and input channels;
architectures that take an ``img_size`` (ViTs, Swin, ...) get the dataset's image size. The classifier is
found by core's :func:`shrinkbench.find_classifier` (timm's ``pretrained_cfg['classifier']``, then
``get_classifier()``) and recorded as ``shrinkbench_classifier``. A one-example forward pass at build time turns "this architecture cannot take
these images" into an :class:`IncompatibleError` before any training starts.
"""

from __future__ import annotations

from types import ModuleType

from torch import nn

from shrinkbench import find_classifier, set_classifier
from shrinkbench.errors import IncompatibleError, ShrinkBenchError, UnknownNameError, one_line
from shrinkbench.modules import check_forward

from . import weights
from .offline import import_timm

_BUILD_ERRORS = (AssertionError, ValueError, RuntimeError, IndexError, ZeroDivisionError)


def build(name: str, num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """Build timm's ``name`` for ``num_classes`` and ``(C, H, W)`` inputs; ``pretrained`` as in :func:`weights.resolve`.

    Raises :class:`UnknownNameError` for a name timm does not know, :class:`IncompatibleError` when the
    architecture cannot take the input shape, :class:`weights.WeightsNotFoundError` for missing weights.
    """
    timm = import_timm()
    if not timm.is_model(name):
        from .names import names

        raise UnknownNameError("model", f"timm:{name}", [f"timm:{n}" for n in names()])
    channels, height, width = input_shape
    source = weights.resolve(name, pretrained)
    kwargs: dict = {"num_classes": num_classes, "in_chans": channels}
    arch = name
    if source is not None and source.tag is not None:  # timm's own weights, from the local cache only
        arch = name if source.tag.lower() == "default" else f"{name}.{source.tag}"
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(source.path)})
    model = _create(timm, arch, kwargs, (height, width))
    classifier = find_classifier(model, num_classes)
    if classifier is None:
        raise ShrinkBenchError(f"cannot find the classifier of timm:{name} (no layer with {num_classes} outputs)")
    if source is not None and source.tag is None:
        first_conv = (getattr(model, "pretrained_cfg", None) or {}).get("first_conv")
        weights.load_file_into(model, source.path, classifier, first_conv if isinstance(first_conv, str) else None)
    check_forward(model, f"timm:{name}", input_shape)
    return set_classifier(model, classifier)


def default_shape(name: str) -> tuple[int, int, int] | None:
    """The ``(C, H, W)`` input timm's default pretrained config of ``name`` declares (``input_size``: 224 for
    most, 240 for ``crossvit_15_dagger_240``, 384 for ``vit_base_patch16_384``), read from timm's registry:
    no weights are downloaded, no model is built. ``None`` for a name without a pretrained config."""
    size = import_timm().models.get_pretrained_cfg_value(name, "input_size")
    return tuple(int(n) for n in size) if size is not None and len(size) == 3 else None


def _create(timm: ModuleType, arch: str, kwargs: dict, size: tuple[int, int]) -> nn.Module:
    """``timm.create_model``, passing ``img_size`` when the default input size differs and the model takes it."""
    default = timm.models.get_pretrained_cfg_value(arch, "input_size")
    where = f"model 'timm:{arch.split('.')[0]}'"
    if default is not None and tuple(default[1:]) != size:
        img_size = size[0] if size[0] == size[1] else size
        try:
            return timm.create_model(arch, img_size=img_size, **kwargs)
        except TypeError:
            pass  # a convolutional network: takes any size, has no img_size argument
        except _BUILD_ERRORS as exc:
            raise IncompatibleError(f"{where} cannot take {size[0]}x{size[1]} images: {one_line(exc, 200, with_type=False)}") from None
    try:
        return timm.create_model(arch, **kwargs)
    except _BUILD_ERRORS as exc:
        raise IncompatibleError(f"{where} cannot be built for this dataset: {one_line(exc, 200, with_type=False)}") from None
