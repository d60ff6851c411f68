"""Where each dataset's files live on disk: the search path, the layouts the loaders read and their one-line
"not found" error. Shared by the loaders, :mod:`.status` and :mod:`.download`; imports neither torch nor numpy,
so checking what is on disk stays quick.

A data directory ``<dir>`` is ``--data-root`` or an entry of ``$DATAPATH``; either may list several
directories separated by ``os.pathsep`` (``:`` on Linux), searched in order: the first that has the dataset
wins. Inside ``<dir>`` a dataset is found at one of its *candidates* (``""``: directly, as
``torchvision.datasets.X(dir, download=True)`` writes it; or ShrinkBench's per-dataset folder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from shrinkbench.datafiles import (  # noqa: F401 (the search path and "not found" error, re-exported from core)
    DATAPATH_VAR,
    FIX_HINT,
    find_first,
    not_found,
    search_dirs,
)
from shrinkbench.errors import ShrinkBenchError

BUNDLED_FILE = "mnist_5k.npz"
"""The bundled MNIST subset, in ``shrinkbench_vision/data/``."""


# -- MNIST-style idx files -------------------------------------------------------------------------------------

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
"""Dataset name -> torchvision class name, which is also its folder: ``<dir>/<folder>/raw/<files>``."""
IDX_MAGIC = {1: 0x0801, 3: 0x0803}  # unsigned bytes, 1 dimension (labels) / 3 dimensions (images)


def idx_candidates(folder: str) -> tuple[str, str]:
    """``<dir>/MNIST/raw`` (torchvision) or ``<dir>/MNIST/MNIST/raw`` (ShrinkBench's per-dataset folder)."""
    return "", folder


def idx_present(base: Path, folder: str) -> bool:
    """All four unzipped idx files are in ``base/<folder>/raw``."""
    return all((base / folder / "raw" / f).is_file() for f in MNIST_FILES)


def idx_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete idx file of uint8 values (a 4-byte magic number, one big-endian 4-byte size
    per dimension, then the values), or ``None`` when it is one. Reads only the header and the file size."""
    dims = 3 if "idx3" in path.name else 1
    with open(path, "rb") as f:
        header = f.read(4 + 4 * dims)
    magic = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
    if magic != IDX_MAGIC[dims]:
        found = f"0x{magic:08x}" if magic is not None else f"{len(header)} bytes"
        return f"is not an MNIST idx file (magic number {found}, expected 0x{IDX_MAGIC[dims]:08x})"
    sizes = [int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    expected, actual = 4 + 4 * dims + math.prod(sizes), path.stat().st_size
    if actual != expected:
        return (f"is truncated or damaged: {actual:,} bytes, its header says {expected:,} "
                f"({' x '.join(map(str, sizes))} values)")
    return None


def check_idx_file(dataset: str, path: Path) -> None:
    """Raise a one-line :class:`ShrinkBenchError` naming ``path`` unless it is a complete idx file."""
    problem = idx_problem(path)
    if problem:
        raise ShrinkBenchError(f"cannot read {dataset}: {path} {problem}; replace it with the original unzipped file")


# -- CIFAR python batches --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CifarLayout:
    """One CIFAR variant: ``<dir>/<folder>/{train..., test..., meta}`` (or under ``<dir>/<sb_dir>/``)."""

    folder: str
    sb_dir: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    meta_key: str
    tv_class: str

    @property
    def files(self) -> tuple[str, ...]:
        """Every file the loader needs."""
        return (*self.train, *self.test, self.meta)

    @property
    def description(self) -> str:
        """The expected layout, for error messages."""
        listing = ",".join(self.files) if len(self.files) < 5 else f"data_batch_1..5,test_batch,{self.meta}"
        return f"<dir>/{self.folder}/{{{listing}}} (the CIFAR python version, extracted)"

    def present(self, base: Path) -> bool:
        """Every needed file is in ``base/<folder>``."""
        return all((base / self.folder / f).is_file() for f in self.files)


CIFAR = {
    "cifar10": CifarLayout("cifar-10-batches-py", "CIFAR10", tuple(f"data_batch_{i}" for i in range(1, 6)),
                           ("test_batch",), "batches.meta", "label_names", "CIFAR10"),
    "cifar100": CifarLayout("cifar-100-python", "CIFAR100", ("train",), ("test",), "meta", "fine_label_names",
                            "CIFAR100"),
}


# -- ImageFolder trees -----------------------------------------------------------------------------------------

FOLDER_CANDIDATES = {
    "imagenet": ("imagenet", "ImageNet"),
    "places365": ("places365", "places365/places365_standard", "Places365/places365_standard", "places365_standard"),
}
SPLIT_DIRS = {"train": "train", "test": "val"}


def split_present(folder: Path) -> bool:
    """``folder`` (a split directory) holds at least one class folder."""
    try:
        return folder.is_dir() and any(p.is_dir() for p in folder.iterdir())
    except OSError:
        return False


def folder_layout(candidate: str, sub: str) -> str:
    """The expected ImageFolder layout, for error messages."""
    return f"<dir>/{candidate}/{sub}/<class>/<image>.JPEG (ImageFolder tree; 'val' is the test split)"
