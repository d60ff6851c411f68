"""Writers of tiny datasets in the on-disk formats the loaders read (torchvision's / ImageFolder)."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def write_cifar(root: Path, hundred: bool = False, per_batch: int = 6) -> dict[str, np.ndarray]:
    """Write a tiny CIFAR-10 (``cifar-10-batches-py``) or CIFAR-100 (``cifar-100-python``) under ``root``.

    Returns the arrays written: ``train``/``test`` images (N, 3, 32, 32) uint8 and their labels.
    """
    rng = np.random.default_rng(0)
    classes = 100 if hundred else 10
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    batches = {"train": ["train"], "test": ["test"]} if hundred else {
        "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    out: dict[str, list] = {}
    for split, files in batches.items():
        for name in files:
            data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, classes, per_batch)]
            labels[:2] = [0, classes - 1]
            entry = {"data": data, "filenames": [f"img{i}.png" for i in range(per_batch)]}
            if hundred:
                entry.update(fine_labels=labels, coarse_labels=[v // 5 for v in labels])
            else:
                entry["labels"] = labels
            with open(folder / name, "wb") as f:
                pickle.dump(entry, f)
            out.setdefault(f"{split}_images", []).append(data.reshape(-1, 3, 32, 32))
            out.setdefault(f"{split}_labels", []).extend(labels)
    meta = {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": [f"s{i}" for i in range(20)]} \
        if hundred else {"label_names": [f"c{i}" for i in range(10)], "num_vis": 3072}
    with open(folder / ("meta" if hundred else "batches.meta"), "wb") as f:
        pickle.dump(meta, f)
    return {k: np.concatenate(v) if k.endswith("images") else np.array(v) for k, v in out.items()}


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
