"""In-memory image datasets and their augmentation, batched on any device.

A dataset that fits in memory (the MNIST family, CIFAR) can offer its images as one uint8 tensor by giving the
dataset object a ``tensors()`` method that returns :class:`TensorImages`. The engine then keeps the images once
per process on the run's device and makes every batch there: an index gather, the augmentation
(:func:`random_crop_flip`) and the normalisation (:func:`normalize`) -- no worker processes, no per-image Python.

The augmentation has the distribution of torchvision's ``RandomCrop(size, padding=p)`` followed by
``RandomHorizontalFlip()``: the image is padded with ``p`` zero pixels on every side, a window of the original
size is taken at offsets drawn uniformly from ``0..2p`` (rows, then columns), and it is mirrored with
probability 1/2. For a batch of ``B`` images the draws come from ``generator`` in this order: ``B`` row offsets,
``B`` column offsets, ``B`` flip coins -- the same numbers on every call with the same generator state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["TensorImages", "normalize", "random_crop_flip"]


@dataclass(frozen=True)
class TensorImages:
    """A whole image dataset in memory: ``images`` uint8 ``(N, C, H, W)``, ``targets`` int64 ``(N,)``, the
    per-channel ``mean``/``std`` (of pixel values scaled to [0, 1]) that normalise them, and the training
    augmentation: ``crop_padding`` pixels of random-crop padding (0: none) and ``flip`` (random horizontal flip).
    """

    images: Tensor
    targets: Tensor
    mean: Sequence[float]
    std: Sequence[float]
    crop_padding: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be a uint8 (N, C, H, W) tensor, got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if len(self.targets) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.targets)} targets")
        if len(self.mean) != self.images.shape[1] or len(self.std) != self.images.shape[1]:
            raise ValueError(f"mean and std need one value per channel ({self.images.shape[1]})")

    @property
    def augmented(self) -> bool:
        """Whether training batches are augmented."""
        return self.crop_padding > 0 or self.flip

    def to(self, device: torch.device | str) -> TensorImages:
        """The same data with images and targets on ``device``."""
        return TensorImages(self.images.to(device), self.targets.to(device), self.mean, self.std,
                            self.crop_padding, self.flip)


def random_crop_flip(images: Tensor, padding: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Augment a uint8 batch ``(B, C, H, W)`` on its own device: random crop of the zero-padded image, then a
    random horizontal flip (see the module docstring for the distribution and the order of the draws).

    ``generator`` must live on the images' device. Returns a new uint8 tensor of the input's shape.
    """
    batch, _, height, width = images.shape
    device = images.device
    out = images
    if padding > 0:
        rows = torch.randint(0, 2 * padding + 1, (batch,), generator=generator, device=device)
        cols = torch.randint(0, 2 * padding + 1, (batch,), generator=generator, device=device)
        padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
        row_index = (rows[:, None] + torch.arange(height, device=device))[:, None, :, None]  # (B, 1, H, 1)
        col_index = (cols[:, None] + torch.arange(width, device=device))[:, None, None, :]   # (B, 1, 1, W)
        batch_index = torch.arange(batch, device=device)[:, None, None, None]
        channel_index = torch.arange(images.shape[1], device=device)[None, :, None, None]
        out = padded[batch_index, channel_index, row_index, col_index]
    if flip:
        coins = torch.rand((batch,), generator=generator, device=device) < 0.5
        out = torch.where(coins[:, None, None, None], out.flip(-1), out)
    return out


def normalize(images: Tensor, mean: Tensor, std: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """``(images / 255 - mean) / std`` per channel, as ``dtype``; ``mean``/``std`` are ``(C, 1, 1)`` tensors
    on the images' device."""
    return images.to(dtype).div_(255).sub_(mean).div_(std)
