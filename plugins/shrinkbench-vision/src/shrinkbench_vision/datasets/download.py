"""The ``download`` functions of the vision datasets (see :class:`shrinkbench.DatasetSpec`): fetch with
torchvision's own downloader (``torchvision.datasets.utils.download_and_extract_archive``: a progress bar on
stderr, then torchvision's MD5 check) from the URLs and with the MD5s of torchvision's dataset classes, into an
empty directory ``dest`` that the caller moves into the data root. When a function returns, ``dest`` holds
exactly the layout the loader reads:

- ``mnist`` / ``fashion_mnist``: ``dest/MNIST/raw/`` (``FashionMNIST``): torchvision's four ``.gz`` archives
  (kept so ``status`` can verify them) and the unzipped idx files, as ``torchvision.datasets.MNIST(download=True)``
  writes them. Every mirror of the class is tried in order.
- ``cifar10`` / ``cifar100``: ``dest/cifar-10-batches-py/`` (``cifar-100-python``); the ``.tar.gz`` is removed
  after extraction and every extracted file is checked against torchvision's per-file MD5s too.
- ``places365``: Places365-Standard at 256x256 (torchvision's ``small=True``): the file lists, ``val_256.tar``
  and ``train_256_places365standard.tar``, rearranged into the ImageFolder tree
  ``dest/places365/{train,val}/<class>/`` (class ``/a/apartment_building/outdoor`` becomes
  ``apartment_building-outdoor``), with ``categories_places365.txt`` and ``shrinkbench-download.json`` (counts and
  archive MD5s) beside; archives are removed as soon as they are extracted.

Failures raise one line (:class:`shrinkbench.errors.ShrinkBenchError`): the URL and the network error, or the
file that failed its MD5 check. A stalled connection times out after :data:`TIMEOUT_S`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

from shrinkbench.errors import ShrinkBenchError, one_line

from .layouts import CIFAR, IDX_FOLDERS
from .status import MARKER, md5_of

TIMEOUT_S = 60.0
"""Seconds a download may wait for the server before it fails (torchvision sets no timeout)."""


def _why(url: str, md5: str | None, exc: BaseException) -> str:
    """One line on why fetching ``url`` failed."""
    from urllib.error import HTTPError, URLError

    if isinstance(exc, HTTPError):
        return f"{url}: HTTP {exc.code} {exc.reason}"
    if isinstance(exc, URLError):
        return f"cannot reach {url}: {one_line(exc.reason, with_type=False)}"
    if isinstance(exc, RuntimeError) and "corrupted" in str(exc):
        return f"{url} failed torchvision's MD5 check (expected {md5})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"{url}: no answer for {TIMEOUT_S:.0f} s"
    return f"{url}: {one_line(exc)}"


@contextlib.contextmanager
def _timeout(seconds: float = TIMEOUT_S) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def fetch(name: str, url: str, dest: Path, md5: str | None, filename: str | None = None,
          remove_archive: bool = False) -> None:
    """torchvision's ``download_and_extract_archive(url, dest, filename=..., md5=...)``, its failures as one
    :class:`ShrinkBenchError` line naming ``name`` and ``url``; a partial or corrupt file is deleted."""
    from torchvision.datasets.utils import download_and_extract_archive

    filename = filename or os.path.basename(url)
    try:
        with _timeout():
            download_and_extract_archive(url, str(dest), filename=filename, md5=md5, remove_finished=remove_archive)
    except (OSError, RuntimeError, ValueError, EOFError, tarfile.TarError) as exc:  # URLError, timeouts: OSError
        (dest / filename).unlink(missing_ok=True)
        raise ShrinkBenchError(f"{name} download failed: {_why(url, md5, exc)}") from None


def _idx(name: str, dest: Path) -> None:
    from torchvision import datasets

    cls = getattr(datasets, IDX_FOLDERS[name])
    raw = dest / cls.__name__ / "raw"
    raw.mkdir(parents=True)
    for filename, md5 in cls.resources:
        failures = []
        for mirror in cls.mirrors:
            try:
                fetch(name, f"{mirror}{filename}", raw, md5, filename)
                break
            except ShrinkBenchError as exc:
                failures.append(str(exc).removeprefix(f"{name} download failed: "))
        else:
            raise ShrinkBenchError(f"{name} download failed: {'; '.join(failures)}")


def mnist(dest: Path) -> None:
    """MNIST: 4 ``.gz`` files (11.6 MB; 67 MB on disk with the unzipped copies) into ``dest/MNIST/raw``."""
    _idx("mnist", Path(dest))


def fashion_mnist(dest: Path) -> None:
    """Fashion-MNIST: 4 ``.gz`` files (30.9 MB; 86 MB on disk) into ``dest/FashionMNIST/raw``."""
    _idx("fashion-mnist", Path(dest))


def _cifar(name: str, dest: Path) -> None:
    from torchvision import datasets

    layout = CIFAR[name]
    cls = getattr(datasets, layout.tv_class)
    fetch(name, cls.url, dest, cls.tgz_md5, cls.filename, remove_archive=True)
    folder = dest / layout.folder
    for filename, md5 in [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]:
        path = folder / filename
        if not path.is_file():
            raise ShrinkBenchError(f"{name} download failed: {cls.filename} from {cls.url} has no {layout.folder}/{filename}")
        if md5_of(path) != md5:
            raise ShrinkBenchError(f"{name} download failed: {layout.folder}/{filename} from {cls.url} failed "
                                   f"torchvision's MD5 check (expected {md5})")
    _keep_only(dest, layout.folder)


def cifar10(dest: Path) -> None:
    """CIFAR-10: ``cifar-10-python.tar.gz`` (170 MB; 178 MB extracted) into ``dest/cifar-10-batches-py``."""
    _cifar("cifar10", Path(dest))


def cifar100(dest: Path) -> None:
    """CIFAR-100: ``cifar-100-python.tar.gz`` (169 MB; 178 MB extracted) into ``dest/cifar-100-python``."""
    _cifar("cifar100", Path(dest))


def _keep_only(dest: Path, keep: str) -> None:
    for entry in dest.iterdir():
        if entry.name != keep:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


# -- Places365 --------------------------------------------------------------------------------------------------


def flat_class(category: str) -> str:
    """A Places365 category as one folder name: ``/a/apartment_building/outdoor`` -> ``apartment_building-outdoor``."""
    parts = category.strip("/").split("/")
    if len(parts) > 1 and len(parts[0]) == 1:
        parts = parts[1:]
    return "-".join(parts)


def places365(dest: Path) -> None:
    """Places365-Standard, 256x256 images: about 25 GB of archives (the train tar alone ~24 GB, ``val_256.tar``
    0.5 GB), about 25 GB on disk; up to ~50 GB free while the train archive is extracted."""
    from torchvision.datasets import Places365

    dest = Path(dest)
    work, out = dest / "torchvision-places365", dest / "places365"
    work.mkdir()
    base = Places365._BASE_URL
    devkit, devkit_md5 = Places365._DEVKIT_META["standard"]
    fetch("places365", urljoin(base, devkit), work, devkit_md5, remove_archive=True)
    archives = {devkit: devkit_md5}
    for split, folder in (("val", "val"), ("train-standard", "train")):
        file, md5 = Places365._IMAGES_META[(split, True)]
        fetch("places365", urljoin(base, file), work, md5, remove_archive=True)
        archives[file] = md5
        if split.startswith("train"):  # what Places365.download_images does after extracting
            os.rename(work / "data_256", work / "data_256_standard")
        try:  # reads torchvision's file lists and categories, checking their MD5s
            listing = Places365(str(work), split=split, small=True, download=False)
        except RuntimeError as exc:
            raise ShrinkBenchError(f"places365 download failed: {one_line(exc, with_type=False)}") from None
        _arrange(listing, out / folder, by_class=split.startswith("train"))
    shutil.copy2(work / Places365._CATEGORIES_META[0], out / Places365._CATEGORIES_META[0])
    shutil.rmtree(work)
    counts = {split: sum(1 for p in (out / split).rglob("*") if p.is_file()) for split in ("train", "val")}
    classes = sum(1 for p in (out / "train").iterdir() if p.is_dir())
    (out / MARKER).write_text(json.dumps({
        "source": f"torchvision.datasets.Places365(small=True) archives from {base}", "archives": archives,
        "classes": classes, "train_images": counts["train"], "val_images": counts["val"]}, indent=2) + "\n")


def _arrange(listing, target: Path, by_class: bool) -> None:
    """Move the images of one split (a torchvision ``Places365``) into ``target/<class>/``, checking that every
    image of torchvision's file list arrived. Training images come in class folders, moved whole (deepest
    category first: a category may sit inside another's folder); validation images one by one."""
    names = {index: flat_class(category) for category, index in listing.class_to_idx.items()}
    target.mkdir(parents=True)
    if by_class:
        images_dir = Path(listing.images_dir)
        for category in sorted(listing.class_to_idx, key=lambda c: -c.count("/")):
            source = images_dir / category.strip("/")
            if source.is_dir():
                os.rename(source, target / names[listing.class_to_idx[category]])
    for name in names.values():
        (target / name).mkdir(exist_ok=True)
    if not by_class:
        for path, index in listing.imgs:
            if os.path.exists(path):
                os.rename(path, target / names[index] / os.path.basename(path))
    expected = Counter(names[index] for _, index in listing.imgs)
    for name, count in expected.items():
        found = sum(1 for p in (target / name).iterdir() if p.is_file())
        if found < count:
            raise ShrinkBenchError(f"places365 download failed: the {target.name} archive has {found:,} images of "
                                   f"class {name}, torchvision's file list {count:,}")
