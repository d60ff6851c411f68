"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 from local files in torchvision's on-disk formats.

Files are looked for under ``root`` (``--data-root``) or each directory of ``$DATAPATH`` (both may list
several directories, see :mod:`.layouts`), either directly
(``<dir>/MNIST/raw/...``, ``<dir>/cifar-10-batches-py/...``: what ``torchvision.datasets.X(dir,
download=True)`` and ``shrinkbench data download`` write) or in ShrinkBench's per-dataset folder
(``<dir>/CIFAR10/cifar-10-batches-py/...``). Loading never downloads. Normalization and training augmentation
follow ShrinkBench: none for MNIST, random crop 32 with 4 pixels of padding plus horizontal flip for CIFAR.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from shrinkbench.errors import ShrinkBenchError

from .common import ArrayDataset, check_split, find_first
from .layouts import CIFAR, IDX_MAGIC, MNIST_FILES, CifarLayout, check_idx_file, idx_candidates, idx_present

__all__ = ["IDX_MAGIC", "MNIST_FILES", "check_idx_file", "cifar10", "cifar100", "fashion_mnist", "mnist",
           "read_cifar_batches"]

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
CIFAR10_MEAN, CIFAR10_STD = (0.491, 0.482, 0.447), (0.247, 0.243, 0.262)
CIFAR100_MEAN, CIFAR100_STD = (0.507, 0.487, 0.441), (0.267, 0.256, 0.276)


# -- MNIST-style (idx files, read by torchvision) ------------------------------------------------------------


def _idx_dataset(name: str, folder: str, split: str, root: Path | None, mean: tuple, std: tuple) -> ArrayDataset:
    train = check_split(split)
    layout = f"<dir>/{folder}/raw/{{{','.join(MNIST_FILES)}}} (torchvision's {folder} layout, unzipped)"
    # "<dir>/MNIST/MNIST/raw": ShrinkBench's layout
    base = find_first(name, root, idx_candidates(folder), lambda b: idx_present(b, folder), layout)
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


def _cifar(name: str, split: str, root: Path | None, augment: bool, mean: tuple, std: tuple) -> ArrayDataset:
    train = check_split(split)
    layout: CifarLayout = CIFAR[name]
    base = find_first(name, root, ("", layout.sb_dir), layout.present, layout.description)
    files = list(layout.train if train else layout.test)
    images, labels, classes = read_cifar_batches(base / layout.folder, files, layout.meta, layout.meta_key)
    augmented = augment and train
    return ArrayDataset(torch.from_numpy(images), labels, mean, std, classes, crop_padding=4 if augmented else 0,
                        flip=augmented)


def cifar10(split: str, root: Path | None = None, augment: bool = False) -> ArrayDataset:
    """CIFAR-10 (50,000 / 10,000), ``(3, 32, 32)``, from ``<dir>/cifar-10-batches-py``.

    ``augment`` (train split only): random 32x32 crop of the image padded by 4 black pixels, horizontal flip.
    """
    return _cifar("cifar10", split, root, augment, CIFAR10_MEAN, CIFAR10_STD)


def cifar100(split: str, root: Path | None = None, augment: bool = False) -> ArrayDataset:
    """CIFAR-100 (50,000 / 10,000, 100 fine labels), ``(3, 32, 32)``, from ``<dir>/cifar-100-python``.

    ``augment`` (train split only): random 32x32 crop of the image padded by 4 black pixels, horizontal flip.
    """
    return _cifar("cifar100", split, root, augment, CIFAR100_MEAN, CIFAR100_STD)
