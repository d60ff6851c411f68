"""Data for a run: the training split minus a seeded, held-out validation split, the test split, and loaders
that deliver batches on the run's device.

Honest evaluation: model selection (if any) only ever looks at the validation split, which is carved out of
the training data with a fixed seed and fraction recorded in the config; the test split is only reported.

Three ways to batch, chosen per dataset (:func:`make_loader`):

- **on the device** -- datasets that offer :class:`shrinkbench.images.TensorImages` (``dataset.tensors()``) are
  held once per process as uint8 tensors on the device; a batch is an index gather, the augmentation from a
  seeded generator on the device, and the normalisation. No worker process, no host round trip.
- **stacked** -- other small datasets without augmentation are read once into tensors on the device.
- **DataLoader** -- everything else (image folders) goes through ``torch.utils.data.DataLoader`` with worker
  processes, pinned memory on CUDA, persistent workers and seeded worker initialisation.

The order of the batches depends only on the seed (a CPU generator), so it is the same on every device.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..images import TensorImages, normalize, random_crop_flip
from ..pruning import Batch
from ..specs import DatasetSpec
from ..task_spec import PrepareContext, Prepared

__all__ = ["CACHE_LIMIT", "Splits", "cached_splits", "load_splits", "make_loader", "stratified_split"]

SPLIT_SEED = 1234  # the validation split is the same for every run seed: only the pruning method varies
CACHE_LIMIT = 20_000  # examples; larger un-augmented datasets without tensors() are read batch by batch


@dataclass
class Splits:
    """The three splits of a dataset for one sweep, and for a task that prepares its items (``causal-lm``) what
    rows record about how (``protocol``) and the evaluation batch that suits them (``eval_batch_size``)."""

    train: Dataset
    val: Dataset | None
    test: Dataset
    num_classes: int
    input_shape: tuple[int, ...]
    protocol: dict[str, Any] = field(default_factory=dict)
    eval_batch_size: int | None = None

    def example_input(self) -> torch.Tensor:
        """One input of batch size 1 for counting and timing: zeros of the images' shape, or the first test
        item (token ids) where the dataset declares no input shape."""
        if self.input_shape:
            return torch.zeros(1, *self.input_shape)
        return torch.as_tensor(self.test[0][0]).unsqueeze(0)


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


def prepared_splits(spec: DatasetSpec, root: str | None, val_fraction: float, prepare: Callable[..., Prepared],
                    context: PrepareContext) -> Splits:
    """The splits of a dataset whose task prepares its items (``causal-lm``): ``build`` gives each split raw
    (the text), ``prepare`` turns it into items with ``context`` (the model's tokenizer, the context length),
    and a seeded ``val_fraction`` of the training items is held out as validation."""
    path = Path(root) if root else None
    load = spec.load()
    train = prepare(load("train", path, False), replace(context, split="train"))
    test = prepare(load("test", path, False), replace(context, split="test"))
    protocol = {**train.protocol, **test.protocol}
    if val_fraction <= 0:
        return Splits(train.dataset, None, test.dataset, spec.num_classes, tuple(spec.input_shape), protocol,
                      test.eval_batch_size)
    order = torch.randperm(len(train.dataset), generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
    held = sorted(order[: round(len(order) * val_fraction)])
    held_set = set(held)
    kept = [i for i in range(len(train.dataset)) if i not in held_set]
    return Splits(Subset(train.dataset, kept), Subset(train.dataset, held), test.dataset, spec.num_classes,
                  tuple(spec.input_shape), protocol, test.eval_batch_size)


_splits_cache: dict[tuple[Any, ...], Splits] = {}


def cached_splits(spec: DatasetSpec, root: str | None, val_fraction: float,
                  prepare: Callable[..., Prepared] | None = None, context: PrepareContext | None = None) -> Splits:
    """:func:`load_splits` (or :func:`prepared_splits` when the task has a ``prepare``), loaded once per process
    and reused by every run of the sweep."""
    tokenizer = getattr(context.tokenizer, "name", None) if context is not None else None
    key = (spec.name, root, val_fraction, tokenizer, context.context_length if context is not None else None,
           context.max_windows if context is not None else None)
    if key not in _splits_cache:
        _splits_cache[key] = (load_splits(spec, root, val_fraction) if prepare is None
                              else prepared_splits(spec, root, val_fraction, prepare, context or PrepareContext("train")))
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


# -- loaders ------------------------------------------------------------------------------------------------


class TensorLoader:
    """Seeded mini-batches of tensors held on the device (see the module docstring).

    ``inputs`` are uint8 images (normalised per batch, augmented when ``data`` says so) or, for stacked
    datasets, ready float inputs. ``drop_last`` drops a short last batch (static shapes for compiled models).
    """

    def __init__(self, data: TensorImages, normalise: bool, indices: torch.Tensor | None, batch_size: int,
                 shuffle: bool, seed: int, device: torch.device, drop_last: bool = False) -> None:
        self.data, self.normalise, self.batch_size, self.shuffle, self.drop_last = data, normalise, batch_size, shuffle, drop_last
        self.indices = indices.to(device) if indices is not None else None
        self.size = len(indices) if indices is not None else len(data.images)
        self.order_generator = torch.Generator().manual_seed(seed)
        self.augment_generator = torch.Generator(device=device).manual_seed(seed) if data.augmented else None
        self.device = device
        shape = (-1, 1, 1)
        self.mean = torch.tensor(data.mean, dtype=torch.float32, device=device).view(shape) if normalise else None
        self.std = torch.tensor(data.std, dtype=torch.float32, device=device).view(shape) if normalise else None

    def __len__(self) -> int:
        return self.size // self.batch_size if self.drop_last else -(-self.size // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n = self.size
        order = torch.randperm(n, generator=self.order_generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        if self.indices is not None:
            order = self.indices[order]
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start : start + self.batch_size]
            inputs = self.data.images[idx]
            if self.augment_generator is not None:
                inputs = random_crop_flip(inputs, self.data.crop_padding, self.data.flip, self.augment_generator)
            if self.normalise:
                inputs = normalize(inputs, self.mean, self.std)
            yield inputs, self.data.targets[idx]


class DeviceDataLoader:
    """``torch.utils.data.DataLoader`` over a map-style dataset, delivering batches on the device."""

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool, seed: int, device: torch.device,
                 workers: int, drop_last: bool = False) -> None:
        self.device = device
        self.loader = DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed),
            num_workers=workers, pin_memory=device.type == "cuda", persistent_workers=workers > 0,
            worker_init_fn=_seed_worker, drop_last=drop_last,
        )

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        for inputs, targets in self.loader:
            yield inputs.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)


def _seed_worker(_worker_id: int) -> None:
    """Seed Python's and NumPy's generators in a DataLoader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a dependency, but transforms need not use it
        pass


Loader = TensorLoader | DeviceDataLoader

_on_device: dict[tuple[int, str, bool], tuple[Dataset, TensorImages]] = {}


def _device_tensors(base: Dataset, device: torch.device) -> TensorImages | None:
    """``base``'s images on ``device``, once per process (``None`` when it offers no tensors)."""
    key = (id(base), str(device), True)
    if key not in _on_device or _on_device[key][0] is not base:
        tensors = getattr(base, "tensors", None)
        if not callable(tensors):
            return None
        with torch.inference_mode(False):
            _on_device[key] = (base, tensors().to(device))
    return _on_device[key][1]


def _stacked(base: Dataset, device: torch.device) -> TensorImages:
    """All of a small dataset stacked into (float inputs, targets) on ``device``, once per process."""
    key = (id(base), str(device), False)
    if key not in _on_device or _on_device[key][0] is not base:
        with torch.inference_mode(False):
            items = [base[i] for i in range(len(base))]
            inputs = torch.stack([x for x, _ in items]).to(device)
            targets = torch.stack([torch.as_tensor(y).long() for _, y in items]).to(device)  # labels, or token windows
            _on_device[key] = (base, _Stacked(inputs, targets))
    return _on_device[key][1]


@dataclass(frozen=True)
class _Stacked:
    """Ready (already normalised) inputs in the shape of :class:`TensorImages` for :class:`TensorLoader`."""

    images: torch.Tensor
    targets: torch.Tensor
    mean: tuple = ()
    std: tuple = ()
    crop_padding: int = 0
    flip: bool = False
    augmented: bool = False


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0, device: str | torch.device = "cpu",
                augmented: bool = True, workers: int = 0, drop_last: bool = False) -> Loader:
    """Batches of ``dataset`` on ``device`` in a seeded order (shuffled or not); see the module docstring for
    which of the three ways is used. ``augmented``: the dataset's items change from one read to the next (a
    dataset without ``tensors()`` is then never stacked); ``workers``: DataLoader worker processes."""
    device = torch.device(device)
    base, indices = dataset, None
    if isinstance(dataset, Subset):
        base, indices = dataset.dataset, torch.as_tensor(dataset.indices, dtype=torch.int64)
    tensors = _device_tensors(base, device)
    if tensors is not None:
        return TensorLoader(tensors, True, indices, batch_size, shuffle, seed, device, drop_last)
    if not augmented and len(base) <= CACHE_LIMIT:
        return TensorLoader(_stacked(base, device), False, indices, batch_size, shuffle, seed, device, drop_last)
    return DeviceDataLoader(dataset, batch_size, shuffle, seed, device, workers, drop_last)
