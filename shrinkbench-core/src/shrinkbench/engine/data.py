"""Data for a run: the training split minus a seeded, held-out validation split, and the test split.

Honest evaluation: model selection (if any) only ever looks at the validation split, which is carved out of
the training data with a fixed seed and fraction recorded in the config; the test split is only reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from ..pruning import Batch
from ..specs import DatasetSpec

SPLIT_SEED = 1234  # the validation split is the same for every run seed: only the pruning method varies


@dataclass
class Splits:
    """The three splits of a dataset for one sweep."""

    train: Dataset
    val: Dataset | None
    test: Dataset
    num_classes: int
    input_shape: tuple[int, ...]


def load_splits(spec: DatasetSpec, root: str | None, val_fraction: float) -> Splits:
    """Load ``spec``'s train (augmented) and test data and hold out ``val_fraction`` of train as validation.

    The validation examples come from the un-augmented training data and are chosen per class with a fixed
    seed, so every run of a sweep sees the same split.
    """
    load = spec.load()
    path = Path(root) if root else None
    train_aug = load("train", path, True)
    train_plain = load("train", path, False)
    test = load("test", path, False)
    if val_fraction <= 0:
        return Splits(train_aug, None, test, spec.num_classes, spec.input_shape)
    train_idx, val_idx = stratified_split(_labels(train_plain), val_fraction)
    return Splits(Subset(train_aug, train_idx), Subset(train_plain, val_idx), test, spec.num_classes, spec.input_shape)


_splits_cache: dict[tuple[str, str | None, float], Splits] = {}


def cached_splits(spec: DatasetSpec, root: str | None, val_fraction: float) -> Splits:
    """:func:`load_splits`, loaded once per process and reused by every run of the sweep."""
    key = (spec.name, root, val_fraction)
    if key not in _splits_cache:
        _splits_cache[key] = load_splits(spec, root, val_fraction)
    return _splits_cache[key]


def _labels(dataset: Dataset) -> torch.Tensor:
    for attr in ("targets", "labels"):
        values = getattr(dataset, attr, None)
        if values is not None:
            return torch.as_tensor(values)
    return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])


def stratified_split(labels: torch.Tensor, fraction: float, seed: int = SPLIT_SEED) -> tuple[list[int], list[int]]:
    """Indices (train, held-out) with ``fraction`` of every class held out, chosen by a seeded permutation."""
    generator = torch.Generator().manual_seed(seed)
    held: list[int] = []
    for cls in torch.unique(labels):
        idx = (labels == cls).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        held += idx[: round(len(idx) * fraction)].tolist()
    held_set = set(held)
    return [i for i in range(len(labels)) if i not in held_set], sorted(held)


class Loader:
    """Seeded mini-batches of a dataset, in the main process (no worker processes, deterministic on CPU).

    Small datasets are stacked into tensors once when they are not augmented, which makes an epoch a few
    slices instead of thousands of ``__getitem__`` calls.
    """

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0, cache: bool = False) -> None:
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self._stacked: Batch | None = _stack(dataset) if cache else None

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            if self._stacked is not None:
                yield self._stacked[0][idx], self._stacked[1][idx]
            else:
                items = [self.dataset[int(i)] for i in idx]
                yield torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])


_stacked: dict[int, tuple[Dataset, Batch]] = {}


def _stack(dataset: Dataset) -> Batch:
    """All of ``dataset`` as (inputs, targets) tensors, built once per dataset object in this process."""
    cached = _stacked.get(id(dataset))
    if cached is None or cached[0] is not dataset:
        items = [dataset[i] for i in range(len(dataset))]
        cached = (dataset, (torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])))
        _stacked[id(dataset)] = cached
    return cached[1]


CACHE_LIMIT = 20_000  # examples; larger un-augmented datasets are read batch by batch


def eval_loader(dataset: Dataset, batch_size: int) -> Loader:
    """A deterministic, unshuffled loader for evaluation (stacked in memory when small)."""
    return Loader(dataset, batch_size, shuffle=False, cache=len(dataset) <= CACHE_LIMIT)


def train_loader(dataset: Dataset, batch_size: int, seed: int, augmented: bool) -> Loader:
    """A shuffled loader whose order depends only on ``seed``; stacked in memory when small and not augmented."""
    return Loader(dataset, batch_size, shuffle=True, seed=seed, cache=not augmented and len(dataset) <= CACHE_LIMIT)
