"""The ``status`` checks of the vision datasets (see :class:`shrinkbench.DatasetSpec`): what is in ONE data
directory, found exactly as the loaders find it, and whether the files verify.

- MNIST / Fashion-MNIST: present when the four unzipped idx files are in ``<dir>/<Folder>/raw``; verified when
  torchvision's four ``.gz`` archives sit next to them, match torchvision's MD5s, and unzip to exactly the idx
  files (``None`` when the archives are gone: the idx headers are checked, nothing else can be).
- CIFAR-10/100: verified when every batch and the meta file match torchvision's per-file MD5s.
- ImageNet / Places365 (ImageFolder trees): no checksums exist for the extracted images, so the check counts
  classes and images: ``False`` when they differ from the published counts, else ``None``. A Places365 tree
  written by ``shrinkbench data download`` carries ``shrinkbench-download.json`` (its archives passed
  torchvision's MD5s); matching its counts makes it ``True``.
- mnist-5k: bundled, always present.

torch and torchvision are imported only to read torchvision's checksum tables, and only when something is there
to verify; nothing here writes.
"""

from __future__ import annotations

import gzip
import json
import os
from importlib import resources
from pathlib import Path

from shrinkbench.datafiles import md5_of, tree_size
from shrinkbench.specs import DataStatus

from .layouts import (
    BUNDLED_FILE,
    CIFAR,
    FOLDER_CANDIDATES,
    IDX_FOLDERS,
    MNIST_FILES,
    idx_candidates,
    idx_present,
    idx_problem,
    split_present,
)

MARKER = "shrinkbench-download.json"
"""Written by :func:`shrinkbench_vision.datasets.download.places365` next to ``train/`` and ``val/``."""
PUBLISHED = {"imagenet": (1000, 1_281_167, 50_000), "places365": (365, 1_803_460, 36_500)}
"""(classes, train images, val images) of the full ImageNet-1k and Places365-Standard."""


def _base(root: Path, candidate: str) -> Path:
    return root / candidate if candidate else root


# -- MNIST-style ------------------------------------------------------------------------------------------------


def _idx(name: str, root: Path, verify: bool) -> DataStatus:
    folder = IDX_FOLDERS[name]
    for candidate in idx_candidates(folder):
        base = _base(root, candidate)
        if idx_present(base, folder):
            raw = base / folder / "raw"
            if not verify:
                return DataStatus(True, None, tree_size(raw), raw, root, "4 idx files (not verified)")
            verified, detail = _verify_idx(folder, raw)
            return DataStatus(True, verified, tree_size(raw), raw, root, detail)
    for candidate in idx_candidates(folder):
        raw = _base(root, candidate) / folder / "raw"
        if raw.is_dir():
            missing = [f for f in MNIST_FILES if not (raw / f).is_file()]
            return DataStatus(False, None, tree_size(raw), raw, root, f"incomplete: {raw} lacks {', '.join(missing)}")
    return DataStatus(False, root=root, detail=f"no {folder}/raw/ with the 4 unzipped idx files")


def _verify_idx(folder: str, raw: Path) -> tuple[bool | None, str]:
    problems = [f"{f} {problem}" for f in MNIST_FILES if (problem := idx_problem(raw / f))]
    if problems:
        return False, problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    from torchvision import datasets

    archives = [(raw / filename, md5) for filename, md5 in getattr(datasets, folder).resources]
    if not all(path.is_file() for path, _ in archives):
        return None, "idx files complete; torchvision's .gz archives are not there to check against its MD5s"
    for path, md5 in archives:
        actual = md5_of(path)
        if actual != md5:
            return False, f"{path.name}: MD5 {actual} is not torchvision's {md5}"
        unzipped = raw / path.name.removesuffix(".gz")
        if md5_of(path, gzip.open) != md5_of(unzipped):
            return False, f"{unzipped.name} differs from the content of {path.name}"
    return True, f"{len(archives)} archives match torchvision's MD5s and unzip to the idx files"


def mnist(root: Path | None, verify: bool = True) -> DataStatus:
    """MNIST in ``root``: ``<root>/MNIST/raw`` (or ``<root>/MNIST/MNIST/raw``)."""
    return _idx("mnist", Path(root or "."), verify)


def fashion_mnist(root: Path | None, verify: bool = True) -> DataStatus:
    """Fashion-MNIST in ``root``: ``<root>/FashionMNIST/raw`` (or ``<root>/FashionMNIST/FashionMNIST/raw``)."""
    return _idx("fashion-mnist", Path(root or "."), verify)


# -- CIFAR ------------------------------------------------------------------------------------------------------


def _cifar(name: str, root: Path, verify: bool) -> DataStatus:
    layout = CIFAR[name]
    candidates = ("", layout.sb_dir)
    for candidate in candidates:
        base = _base(root, candidate)
        if layout.present(base):
            folder = base / layout.folder
            if not verify:
                return DataStatus(True, None, tree_size(folder), folder, root, f"{len(layout.files)} files (not verified)")
            from torchvision import datasets

            cls = getattr(datasets, layout.tv_class)
            expected = [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]
            for filename, md5 in expected:
                path = folder / filename
                if not path.is_file():
                    return DataStatus(True, False, tree_size(folder), folder, root, f"{filename} is missing")
                actual = md5_of(path)
                if actual != md5:
                    return DataStatus(True, False, tree_size(folder), folder, root,
                                      f"{filename}: MD5 {actual} is not torchvision's {md5}")
            return DataStatus(True, True, tree_size(folder), folder, root,
                              f"{len(expected)} files match torchvision's MD5s")
    for candidate in candidates:
        folder = _base(root, candidate) / layout.folder
        if folder.is_dir():
            missing = [f for f in layout.files if not (folder / f).is_file()]
            return DataStatus(False, None, tree_size(folder), folder, root,
                              f"incomplete: {folder} lacks {', '.join(missing)}")
    return DataStatus(False, root=root, detail=f"no {layout.folder}/ with {', '.join(layout.files)}")


def cifar10(root: Path | None, verify: bool = True) -> DataStatus:
    """CIFAR-10 in ``root``: ``<root>/cifar-10-batches-py`` (or ``<root>/CIFAR10/cifar-10-batches-py``)."""
    return _cifar("cifar10", Path(root or "."), verify)


def cifar100(root: Path | None, verify: bool = True) -> DataStatus:
    """CIFAR-100 in ``root``: ``<root>/cifar-100-python`` (or ``<root>/CIFAR100/cifar-100-python``)."""
    return _cifar("cifar100", Path(root or "."), verify)


# -- ImageFolder trees ------------------------------------------------------------------------------------------


def count_tree(split_dir: Path) -> tuple[int, int, int]:
    """(class folders, image files, bytes) of one ImageFolder split directory."""
    classes = images = size = 0
    for entry in os.scandir(split_dir):
        if entry.is_dir(follow_symlinks=False):
            classes += 1
            for dirpath, _dirs, files in os.walk(entry.path):
                images += len(files)
                size += sum(os.lstat(os.path.join(dirpath, f)).st_size for f in files)
    return classes, images, size


def _folders(name: str, root: Path, verify: bool) -> DataStatus:
    for candidate in FOLDER_CANDIDATES[name]:
        base = root / candidate
        train, val = split_present(base / "train"), split_present(base / "val")
        if train and val:
            if not verify:
                return DataStatus(True, None, 0, base, root, "ImageFolder tree (not counted)")
            return _count_folders(name, root, base)
        if train or val:
            have, lack = ("train", "val") if train else ("val", "train")
            return DataStatus(False, None, 0, base, root, f"incomplete: {base} has {have}/ but no {lack}/ class folders")
    layout = f"{FOLDER_CANDIDATES[name][0]}/{{train,val}}/<class>/<image>"
    return DataStatus(False, root=root, detail=f"no {layout} tree")


def _count_folders(name: str, root: Path, base: Path) -> DataStatus:
    (train_classes, train_images, train_bytes) = count_tree(base / "train")
    (val_classes, val_images, val_bytes) = count_tree(base / "val")
    found = (train_classes, train_images, val_images)
    size = train_bytes + val_bytes + sum(p.stat().st_size for p in base.iterdir() if p.is_file())
    summary = f"{train_images:,} train / {val_images:,} val images in {train_classes:,} classes"
    marker = _read_marker(base / MARKER)
    if marker is not None:
        expected, source = (marker["classes"], marker["train_images"], marker["val_images"]), "its download"
    else:
        expected, source = PUBLISHED[name], "the published dataset"
    if train_classes != val_classes or found != expected:
        want = f"{expected[1]:,} train / {expected[2]:,} val images in {expected[0]:,} classes"
        return DataStatus(True, False, size, base, root, f"{summary} (val: {val_classes:,} classes); {source} has {want}")
    if marker is not None:
        return DataStatus(True, True, size, base, root, f"{summary}, as downloaded (archives matched torchvision's MD5s)")
    return DataStatus(True, None, size, base, root, f"{summary}, as published (no checksums for extracted images)")


def _read_marker(path: Path) -> dict | None:
    try:
        marker = json.loads(path.read_text())
        return {k: int(marker[k]) for k in ("classes", "train_images", "val_images")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def imagenet(root: Path | None, verify: bool = True) -> DataStatus:
    """ImageNet in ``root``: ``<root>/imagenet/{train,val}/<wnid>/`` (or ``<root>/ImageNet/...``)."""
    return _folders("imagenet", Path(root or "."), verify)


def places365(root: Path | None, verify: bool = True) -> DataStatus:
    """Places365 in ``root``: ``<root>/places365/{train,val}/<class>/`` (or ShrinkBench's layouts)."""
    return _folders("places365", Path(root or "."), verify)


# -- bundled ----------------------------------------------------------------------------------------------------


def mnist_5k(root: Path | None = None, verify: bool = True) -> DataStatus:
    """The bundled MNIST subset: always present (``root`` is ignored)."""
    path = Path(str(resources.files("shrinkbench_vision") / "data" / BUNDLED_FILE))
    if not path.is_file():
        return DataStatus(False, None, 0, path.parent, None, f"{path} is missing: reinstall shrinkbench-vision")
    return DataStatus(True, None, path.stat().st_size, path.parent, None,
                      "bundled with shrinkbench-vision (4,000 train / 1,000 test); nothing to download")
