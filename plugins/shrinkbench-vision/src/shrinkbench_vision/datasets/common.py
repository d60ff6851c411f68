"""Shared pieces of the loaders: the split check, the search path and the one-line "not found" error (from
:mod:`.layouts`, re-exported), and an in-memory dataset of uint8 images that normalizes (and optionally
augments) on access."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

from shrinkbench.images import TensorImages

from .layouts import DATAPATH_VAR, FIX_HINT, find_first, not_found, search_dirs

__all__ = ["DATAPATH_VAR", "FIX_HINT", "ArrayDataset", "check_split", "find_first", "not_found", "search_dirs"]

SPLITS = ("train", "test")


def check_split(split: str) -> bool:
    """``True`` for the training split, ``False`` for the test split; anything else is a ``ValueError``."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split == "train"


class ArrayDataset(Dataset):
    """Images held in memory as a uint8 tensor (N, C, H, W) with int labels.

    ``__getitem__`` returns ``((augment(image) / 255 - mean) / std, label)``: the training augmentation, if any
    (``crop_padding`` pixels of zero padding and a random crop of the original size, then a random horizontal
    ``flip``: torchvision's ``RandomCrop(size, padding)`` + ``RandomHorizontalFlip()``), works on the uint8
    image, then the image is scaled and normalized per channel. ``targets`` (int64 tensor) and ``classes`` are
    exposed like torchvision datasets. :meth:`tensors` hands the whole dataset to the engine, which batches and
    augments it on the run's device with the same distribution.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor | Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        classes: Sequence[str],
        crop_padding: int = 0,
        flip: bool = False,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be a uint8 (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.targets = torch.as_tensor(targets, dtype=torch.int64)
        if len(self.targets) != len(images):
            raise ValueError(f"{len(images)} images but {len(self.targets)} labels")
        self.mean_values, self.std_values = tuple(mean), tuple(std)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.classes = list(classes)
        self.crop_padding, self.flip = crop_padding, flip
        self.augment = _torchvision_augmentation(images.shape[-2:], crop_padding, flip)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.augment is not None:
            image = self.augment(image)
        return (image.float().div_(255) - self.mean) / self.std, int(self.targets[index])

    def tensors(self) -> TensorImages:
        """The whole dataset for the engine's on-device batches (see :mod:`shrinkbench.images`)."""
        return TensorImages(self.images, self.targets, self.mean_values, self.std_values, self.crop_padding, self.flip)


def _torchvision_augmentation(size: Sequence[int], crop_padding: int, flip: bool) -> Callable | None:
    """torchvision's per-image ``RandomCrop(size, padding)`` + ``RandomHorizontalFlip()``, or ``None``."""
    if not crop_padding and not flip:
        return None
    from torchvision import transforms

    steps = [transforms.RandomCrop(tuple(size), padding=crop_padding)] if crop_padding else []
    steps += [transforms.RandomHorizontalFlip()] if flip else []
    return transforms.Compose(steps)
