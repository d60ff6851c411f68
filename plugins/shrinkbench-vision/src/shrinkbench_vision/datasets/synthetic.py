"""Synthetic CIFAR files: random images written in the CIFAR python layout, so the real loader, the engine and
the benchmarks run on CIFAR-shaped data without the download (tests, ``benchmarks/epoch_time.py``, smoke tests).

Example::

    from shrinkbench_vision.datasets.synthetic import write_cifar
    write_cifar("/tmp/fake-cifar", train_per_batch=9000, test_size=10000)   # then --data-root /tmp/fake-cifar
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

__all__ = ["write_cifar"]


def write_cifar(root: str | Path, hundred: bool = False, train_per_batch: int = 6, test_size: int | None = None,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Write a CIFAR-10 (``cifar-10-batches-py``: five training batches) or CIFAR-100 (``cifar-100-python``)
    of random uint8 images under ``root``; return the arrays written (``train_images`` (N, 3, 32, 32),
    ``train_labels``, ``test_images``, ``test_labels``).

    ``train_per_batch`` images per training batch file (CIFAR-100 has one), ``test_size`` test images
    (default ``train_per_batch``). Labels are uniform, and every file holds the first and the last class.
    """
    rng = np.random.default_rng(seed)
    classes = 100 if hundred else 10
    folder = Path(root) / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True, exist_ok=True)
    batches = {"train": ["train"], "test": ["test"]} if hundred else {
        "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    sizes = {"train": train_per_batch, "test": test_size or train_per_batch}
    out: dict[str, list] = {}
    for split, files in batches.items():
        for name in files:
            n = sizes[split]
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, classes, n)]
            labels[: min(2, n)] = [0, classes - 1][: min(2, n)]
            entry = {"data": data, "filenames": [f"img{i}.png" for i in range(n)]}
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
