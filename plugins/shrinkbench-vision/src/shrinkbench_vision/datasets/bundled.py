"""``mnist-5k``: 5,000 real MNIST digits shipped inside the package (no download, no DATAPATH).

4,000 training and 1,000 test images, 400 / 100 of each digit, split within each class (the source file is
sorted by label). See ``scripts/make_mnist_5k.py`` and the README for provenance and licence.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .common import ArrayDataset, check_split
from .layouts import BUNDLED_FILE
from .torchvision_sets import MNIST_MEAN, MNIST_STD

DIGITS = [str(d) for d in range(10)]
DATA_FILE = BUNDLED_FILE


def _read(split: str) -> tuple[np.ndarray, np.ndarray]:
    path = resources.files("shrinkbench_vision") / "data" / DATA_FILE
    with resources.as_file(path) as local, np.load(local) as arrays:
        return arrays[f"{split}_images"], arrays[f"{split}_labels"]


def mnist_5k(split: str, root: Path | None = None, augment: bool = False) -> ArrayDataset:
    """The bundled MNIST subset: ``(1, 28, 28)`` float images normalized with MNIST's mean/std, labels 0-9.

    ``root`` is ignored (the data is inside the package); ``augment`` adds nothing, as in ShrinkBench's MNIST.
    """
    check_split(split)
    images, labels = _read(split)
    return ArrayDataset(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels), MNIST_MEAN, MNIST_STD, DIGITS)
