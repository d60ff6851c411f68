"""The bundled MNIST subset holds real, balanced digits, split within each class."""

from __future__ import annotations

import hashlib
import time

import pytest
import torch
from torch import nn

from shrinkbench.testing import check_dataset
from shrinkbench_vision.datasets.bundled import mnist_5k


@pytest.fixture(scope="module")
def splits():
    return mnist_5k("train"), mnist_5k("test")


def test_shapes_labels_and_class_balance(splits):
    train, test = splits
    assert (len(train), len(test)) == (4000, 1000)
    x, y = train[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and isinstance(y, int)
    for dataset, per_class in ((train, 400), (test, 100)):
        assert dataset.targets.min() == 0 and dataset.targets.max() == 9
        assert torch.bincount(dataset.targets, minlength=10).tolist() == [per_class] * 10
    # the stored order is shuffled: the first 100 training examples are not one digit (the source is sorted)
    assert len(set(train.targets[:100].tolist())) == 10


def test_pixels_look_like_mnist(splits):
    train, _ = splits
    raw = train.images.float() / 255
    assert raw.min() == 0 and raw.max() == 1
    # MNIST's statistics (0.1307, 0.3081) hold for this subset within a few percent
    assert abs(raw.mean().item() - 0.1307) < 0.01 and abs(raw.std().item() - 0.3081) < 0.01
    normalized = torch.stack([train[i][0] for i in range(500)])
    assert abs(normalized.mean().item()) < 0.1 and abs(normalized.std().item() - 1) < 0.1


def test_train_and_test_are_disjoint(splits):
    train, test = splits
    digest = lambda images: {hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in images}  # noqa: E731
    assert not digest(train.images) & digest(test.images)


def test_conforms_to_the_dataset_contract():
    assert check_dataset("mnist-5k") == {"train": 4000, "test": 1000}


def test_small_mlp_learns_the_digits(splits, one_thread):
    """Proves the data is real: an MLP reaches >= 85% test accuracy after a few epochs."""
    train, test = splits
    start = time.perf_counter()
    torch.manual_seed(0)
    x_train = torch.stack([train[i][0] for i in range(len(train))]).flatten(1)
    x_test = torch.stack([test[i][0] for i in range(len(test))]).flatten(1)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(5):
        for idx in torch.randperm(len(x_train)).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x_train[idx]), train.targets[idx]).backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == test.targets).float().mean().item()
    assert accuracy >= 0.85, accuracy
    assert time.perf_counter() - start < 20
