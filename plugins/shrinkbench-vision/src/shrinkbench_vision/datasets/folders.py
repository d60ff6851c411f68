"""ImageNet and Places365 as ImageFolder trees: ``<dir>/<name>/{train,val}/<class>/<image>``.

``<dir>`` is ``root`` (``--data-root``) or each directory of ``$DATAPATH`` (several may be listed, see
:mod:`.layouts`). The test split is the ``val``
folder, which must also be sorted into class folders (for ImageNet, the usual ``valprep.sh`` layout; torchvision's
``ImageNet`` class writes the same tree). Augmentation and normalization follow ShrinkBench: training uses
RandomResizedCrop(224) + horizontal flip, evaluation Resize(256) + CenterCrop(224); both use ImageNet's mean/std
(Places365 models were trained with ImageNet's statistics too).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from shrinkbench.errors import DataNotFoundError

from .common import check_split, find_first
from .layouts import FOLDER_CANDIDATES, SPLIT_DIRS, folder_layout, split_present

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def imagenet_transform(train: bool, augment: bool):
    """ShrinkBench's ImageNet preprocessing: a ``torchvision.transforms.Compose`` for PIL images."""
    from torchvision import transforms

    if train and augment:
        steps = [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip()]
    else:
        steps = [transforms.Resize(256), transforms.CenterCrop(224)]
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def image_folder(name: str, candidates: tuple[str, ...], split: str, root: Path | None, augment: bool):
    """A ``torchvision.datasets.ImageFolder`` over ``<dir>/<candidate>/{train|val}``, first match wins.

    Raises the one-line :class:`DataNotFoundError` when no candidate holds a class folder with images.
    """
    train = check_split(split)
    sub = SPLIT_DIRS[split]
    layout = folder_layout(candidates[0], sub)
    base = find_first(name, root, candidates, lambda b: split_present(b / sub), layout)
    from torchvision.datasets import ImageFolder

    warnings.filterwarnings("ignore", "(Possibly )?corrupt EXIF data", UserWarning)
    try:
        return ImageFolder(str(base / sub), transform=imagenet_transform(train, augment))
    except FileNotFoundError as exc:  # class folders without any image
        raise DataNotFoundError(f"{name} data not found: {' '.join(str(exc).split())}; expected {layout}") from None


def imagenet(split: str, root: Path | None = None, augment: bool = False):
    """ImageNet (ILSVRC 2012) from ``<dir>/imagenet/{train,val}/<wnid>/*.JPEG``, ``(3, 224, 224)``, 1,000 classes."""
    return image_folder("imagenet", FOLDER_CANDIDATES["imagenet"], split, root, augment)


def places365(split: str, root: Path | None = None, augment: bool = False):
    """Places365-Standard from ``<dir>/places365/{train,val}/<class>/*.jpg``, ``(3, 224, 224)``, 365 classes.

    ShrinkBench's ``<dir>/Places365/places365_standard/{train,val}`` layout is found too.
    """
    return image_folder("places365", FOLDER_CANDIDATES["places365"], split, root, augment)
