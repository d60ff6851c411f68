"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 from local files in torchvision's on-disk formats.

Files are looked for under ``root`` (``--data-root``) or each directory of ``$DATAPATH``, either directly
(``<dir>/MNIST/raw/...``, ``<dir>/cifar-10-batches-py/...``: what ``torchvision.datasets.X(dir,
download=True)`` writes) or in ShrinkBench's per-dataset folder (``<dir>/CIFAR10/cifar-10-batches-py/...``).
Nothing is ever downloaded. Normalization and training augmentation follow ShrinkBench: none for MNIST,
random crop 32 with 4 pixels of padding plus horizontal flip for CIFAR.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import torch

from shrinkbench.errors import ShrinkBenchError

from .common import ArrayDataset, check_split, find_first

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
CIFAR10_MEAN, CIFAR10_STD = (0.491, 0.482, 0.447), (0.247, 0.243, 0.262)
CIFAR100_MEAN, CIFAR100_STD = (0.507, 0.487, 0.441), (0.267, 0.256, 0.276)

CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"], "meta": "batches.meta"}
CIFAR100_FILES = {"train": ["train"], "test": ["test"], "meta": "meta"}


# -- MNIST-style (idx files, read by torchvision) ------------------------------------------------------------


def _idx_dataset(name: str, folder: str, split: str, root: Path | None, mean: tuple, std: tuple) -> ArrayDataset:
    train = check_split(split)
    layout = f"<dir>/{folder}/raw/{{{','.join(MNIST_FILES)}}} (torchvision's {folder} layout, unzipped)"

    def exists(base: Path) -> bool:
        return all((base / folder / "raw" / f).is_file() for f in MNIST_FILES)

    base = find_first(name, root, ("", folder), exists, layout)  # "<dir>/MNIST/MNIST/raw": ShrinkBench's layout
    prefix = "train" if train else "t10k"
    for kind in ("images", "labels"):
        check_idx_file(name, base / folder / "raw" / f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte")
    from torchvision import datasets

    cls = {"MNIST": datasets.MNIST, "FashionMNIST": datasets.FashionMNIST}[folder]
    try:
        raw = cls(str(base), train=train, download=False)
    except (RuntimeError, AssertionError, ValueError, TypeError) as exc:
        raise ShrinkBenchError(f"cannot read {name} from {base / folder / 'raw'}: {type(exc).__name__}: {exc}") from None
    return ArrayDataset(raw.data.unsqueeze(1), raw.targets, mean, std, raw.classes)


IDX_MAGIC = {1: 0x0801, 3: 0x0803}  # unsigned bytes, 1 dimension (labels) / 3 dimensions (images)


def check_idx_file(dataset: str, path: Path) -> None:
    """Raise a one-line :class:`ShrinkBenchError` naming ``path`` unless it is a complete idx file of uint8 values
    (a 4-byte magic number, then one big-endian 4-byte size per dimension, then the values)."""
    dims = 3 if "idx3" in path.name else 1
    data = path.read_bytes()
    where = f"cannot read {dataset}: {path}"
    header = 4 + 4 * dims
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic != IDX_MAGIC[dims]:
        found = f"0x{magic:08x}" if magic is not None else f"{len(data)} bytes"
        raise ShrinkBenchError(f"{where} is not an MNIST idx file (magic number {found}, expected "
                               f"0x{IDX_MAGIC[dims]:08x}); replace it with the original unzipped file")
    sizes = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    expected = header + math.prod(sizes)
    if len(data) != expected:
        raise ShrinkBenchError(f"{where} is truncated or damaged: {len(data):,} bytes, its header says {expected:,} "
                               f"({' x '.join(map(str, sizes))} values); replace it with the original unzipped file")


def mnist(split: str, root: Path | None = None, augment: bool = False) -> ArrayDataset:
    """MNIST (60,000 / 10,000 digits), ``(1, 28, 28)``, from ``<dir>/MNIST/raw``; no augmentation."""
    return _idx_dataset("mnist", "MNIST", split, root, MNIST_MEAN, MNIST_STD)


def fashion_mnist(split: str, root: Path | None = None, augment: bool = False) -> ArrayDataset:
    """Fashion-MNIST (60,000 / 10,000), ``(1, 28, 28)``, from ``<dir>/FashionMNIST/raw``; no augmentation."""
    return _idx_dataset("fashion-mnist", "FashionMNIST", split, root, FASHION_MEAN, FASHION_STD)


# -- CIFAR (python pickle batches) ----------------------------------------------------------------------------


def read_cifar_batches(folder: Path, files: list[str], meta: str, meta_key: str) -> tuple[np.ndarray, list[int], list[str]]:
    """Read CIFAR python-format batches: ``(images uint8 (N, 3, 32, 32), labels, class names)``.

    Each batch file is a pickled dict with ``data`` (N x 3072 uint8, channel-major) and ``labels``
    (CIFAR-10) or ``fine_labels`` (CIFAR-100); the meta file holds the class names under ``meta_key``.
    Only existence is checked, not the md5 sums torchvision checks, so re-packed or test copies load.
    """
    data, labels = [], []
    try:
        for name in files:
            with open(folder / name, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            data.append(np.asarray(entry["data"], dtype=np.uint8))
            labels.extend(int(y) for y in entry["labels" if "labels" in entry else "fine_labels"])
        with open(folder / meta, "rb") as f:
            classes = list(pickle.load(f, encoding="latin1")[meta_key])
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise ShrinkBenchError(f"cannot read CIFAR files in {folder}: {type(exc).__name__}: {exc}") from None
    return np.concatenate(data).reshape(-1, 3, 32, 32), labels, classes


def _cifar(name: str, folder: str, sb_dir: str, files: dict, meta_key: str, split: str, root: Path | None,
           augment: bool, mean: tuple, std: tuple) -> ArrayDataset:
    train = check_split(split)
    needed = [*files["train"], *files["test"], files["meta"]]
    listing = ",".join(needed) if len(needed) < 5 else f"data_batch_1..5,test_batch,{files['meta']}"
    layout = f"<dir>/{folder}/{{{listing}}} (the CIFAR python version, extracted)"

    def exists(base: Path) -> bool:
        return all((base / folder / f).is_file() for f in needed)

    base = find_first(name, root, ("", sb_dir), exists, layout)
    images, labels, classes = read_cifar_batches(base / folder, files[split], files["meta"], meta_key)
    augmented = augment and train
    return ArrayDataset(torch.from_numpy(images), labels, mean, std, classes, crop_padding=4 if augmented else 0,
                        flip=augmented)


def cifar10(split: str, root: Path | None = None, augment: bool = False) -> ArrayDataset:
    """CIFAR-10 (50,000 / 10,000), ``(3, 32, 32)``, from ``<dir>/cifar-10-batches-py``.

    ``augment`` (train split only): random 32x32 crop of the image padded by 4 black pixels, horizontal flip.
    """
    return _cifar("cifar10", "cifar-10-batches-py", "CIFAR10", CIFAR10_FILES, "label_names", split, root, augment,
                  CIFAR10_MEAN, CIFAR10_STD)


def cifar100(split: str, root: Path | None = None, augment: bool = False) -> ArrayDataset:
    """CIFAR-100 (50,000 / 10,000, 100 fine labels), ``(3, 32, 32)``, from ``<dir>/cifar-100-python``.

    ``augment`` (train split only): random 32x32 crop of the image padded by 4 black pixels, horizontal flip.
    """
    return _cifar("cifar100", "cifar-100-python", "CIFAR100", CIFAR100_FILES, "fine_label_names", split, root,
                  augment, CIFAR100_MEAN, CIFAR100_STD)
