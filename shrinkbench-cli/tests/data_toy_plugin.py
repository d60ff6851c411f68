"""A plugin whose datasets exercise ``shrinkbench data`` without torch or a network: ``toy-files`` declares a
``status`` check and a ``download`` (which copies one file, behaving as ``$TOY_DOWNLOAD`` says: ``ok``, ``fail``,
``crash``, ``wrong``, ``interrupt``); ``toy-nostatus`` declares neither, ``toy-broken``'s status check raises,
``toy-kept`` is bundled without a status check."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from shrinkbench import DatasetSpec, hookimpl
from shrinkbench.errors import ShrinkBenchError
from shrinkbench.specs import DataStatus

CONTENT = b"toy data\n"
FOLDER = "toy-files"


def build(split, root, augment):
    raise NotImplementedError("never loaded by these tests")


def status(root: Path | None, verify: bool = True) -> DataStatus:
    folder = Path(root) / FOLDER
    data = folder / "data.txt"
    if not data.is_file():
        return DataStatus(False, path=folder if folder.is_dir() else None, root=root, detail=f"no {FOLDER}/data.txt")
    good = hashlib.md5(data.read_bytes()).hexdigest() == hashlib.md5(CONTENT).hexdigest()
    return DataStatus(True, good if verify else None, data.stat().st_size, folder, root,
                      "MD5 matches" if good else "MD5 mismatch")


def download(dest: Path) -> None:
    mode = os.environ.get("TOY_DOWNLOAD", "ok")
    (dest / FOLDER).mkdir()
    (dest / FOLDER / "data.txt").write_bytes(CONTENT if mode != "wrong" else b"other")
    if mode == "fail":
        raise ShrinkBenchError("toy-files download failed: http://127.0.0.1:9/data.txt: HTTP 404 Not Found")
    if mode == "crash":
        raise ValueError("unexpected")
    if mode == "interrupt":
        raise KeyboardInterrupt


def broken_status(root: Path | None, verify: bool = True) -> DataStatus:
    raise RuntimeError("boom")


@hookimpl
def shrinkbench_datasets():
    common = {"num_classes": 2, "input_shape": (1, 4, 4)}
    return [
        DatasetSpec("toy-files", "One file, downloadable", build, status=status, download=download,
                    source="data.txt (9 bytes) from nowhere", **common),
        DatasetSpec("toy-nostatus", "Declares no status check", build, **common),
        DatasetSpec("toy-broken", "Its status check raises", build, status=broken_status, **common),
        DatasetSpec("toy-kept", "Bundled, no status check", build, bundled=True, **common),
    ]
