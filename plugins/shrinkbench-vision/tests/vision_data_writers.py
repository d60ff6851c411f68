"""Writers of tiny datasets in the on-disk formats the loaders read (torchvision's / ImageFolder)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from shrinkbench_vision.datasets import synthetic


def write_cifar(root: Path, hundred: bool = False, per_batch: int = 6) -> dict[str, np.ndarray]:
    """A tiny CIFAR-10/100 under ``root`` (see :func:`shrinkbench_vision.datasets.synthetic.write_cifar`)."""
    return synthetic.write_cifar(root, hundred=hundred, train_per_batch=per_batch)


def write_idx(root: Path, folder: str, n_train: int = 12, n_test: int = 5) -> None:
    """Write tiny MNIST-format idx files under ``root/<folder>/raw`` (big-endian header, uint8 data)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 0x0803, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 0x0801, n) + labels.tobytes())


def write_image_folder(base: Path, classes: int = 3, per_class: int = 2, size: tuple[int, int] = (300, 260)) -> None:
    """Write ``base/{train,val}/<class>/*.JPEG`` with generated RGB images."""
    from PIL import Image

    rng = np.random.default_rng(2)
    for split in ("train", "val"):
        for c in range(classes):
            folder = base / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"img_{i}.JPEG", quality=90)
