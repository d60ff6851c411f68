"""The engine's on-device CIFAR augmentation against torchvision's ``RandomCrop(32, padding=4)`` +
``RandomHorizontalFlip()``: exactly a per-image reference for the same draws, and the same distribution."""

from __future__ import annotations

import torch
from torchvision import transforms
from torchvision.transforms import functional as TF

from shrinkbench.engine.data import TensorLoader, make_loader
from shrinkbench.images import random_crop_flip
from shrinkbench_vision.datasets import torchvision_sets
from shrinkbench_vision.datasets.synthetic import write_cifar

N = 4000  # draws per distribution


def test_batched_crop_and_flip_equal_a_per_image_reference_for_the_same_draws():
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = random_crop_flip(images, 4, True, torch.Generator().manual_seed(5))
    draws = torch.Generator().manual_seed(5)  # rows, then columns, then coins, as documented
    rows = torch.randint(0, 9, (16,), generator=draws)
    cols = torch.randint(0, 9, (16,), generator=draws)
    coins = torch.rand(16, generator=draws) < 0.5
    for i in range(16):
        reference = TF.crop(TF.pad(images[i], [4]), int(rows[i]), int(cols[i]), 32, 32)
        if coins[i]:
            reference = TF.hflip(reference)
        assert torch.equal(out[i], reference), i
    assert 0 < int(coins.sum()) < 16 and len(set(rows.tolist())) > 3


def coordinates() -> torch.Tensor:
    """A 32x32 image whose channel 0 holds row + 1 and channel 1 column + 1 (0 marks padding)."""
    grid = torch.arange(1, 33, dtype=torch.uint8)
    return torch.stack([grid[:, None].expand(32, 32), grid[None, :].expand(32, 32), torch.zeros(32, 32, dtype=torch.uint8)])


def decode(view: torch.Tensor) -> tuple[int, int, int]:
    """(row offset 0..8, column offset 0..8, flipped) of one augmented view of :func:`coordinates`."""
    row_values, col_values = view[0, :, 16].long(), view[1, 16, :].long()
    inside = col_values[col_values > 0]
    flipped = int(inside[0] > inside[-1])
    cols = col_values.flip(0) if flipped else col_values

    def offset(values: torch.Tensor) -> int:
        first = int((values > 0).nonzero()[0])  # output position of the first original pixel
        return int(values[first]) - 1 - first + 4

    return offset(row_values), offset(cols), flipped


def table(samples: list[tuple[int, int, int]]) -> torch.Tensor:
    counts = torch.zeros(9, 9, 2)
    for row, col, flipped in samples:
        counts[row, col, flipped] += 1
    return counts


def chi_square(a: torch.Tensor, b: torch.Tensor) -> float:
    """Two-sample chi-square statistic of homogeneity for two count vectors."""
    a, b = a.flatten().double(), b.flatten().double()
    total = a + b
    keep = total > 0
    ea, eb = total * a.sum() / total.sum(), total * b.sum() / total.sum()
    return float((((a - ea) ** 2 / ea) + ((b - eb) ** 2 / eb))[keep].sum())


def test_offsets_and_flips_have_torchvision_s_distribution():
    image = coordinates()
    torch.manual_seed(0)
    reference = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()])
    theirs = table([decode(reference(image)) for _ in range(N)])
    ours_views = random_crop_flip(image.expand(N, 3, 32, 32).contiguous(), 4, True, torch.Generator().manual_seed(0))
    ours = table([decode(v) for v in ours_views])
    assert theirs.sum() == ours.sum() == N
    # marginals (critical values at p = 0.001: 26.1 for 8 degrees of freedom, 10.8 for 1) and the joint table
    assert chi_square(ours.sum((1, 2)), theirs.sum((1, 2))) < 26.1  # row offsets
    assert chi_square(ours.sum((0, 2)), theirs.sum((0, 2))) < 26.1  # column offsets
    assert chi_square(ours.sum((0, 1)), theirs.sum((0, 1))) < 10.8  # flips
    assert chi_square(ours, theirs) < 210.0  # all 162 cells (161 degrees of freedom, p = 0.001: 211)
    assert (ours > 0).all() and (theirs > 0).all()


def test_cifar_training_batches_are_augmented_on_the_device_and_test_batches_not(tmp_path):
    write_cifar(tmp_path, train_per_batch=20)
    train = torchvision_sets.cifar10("train", tmp_path, augment=True)
    test = torchvision_sets.cifar10("test", tmp_path, augment=False)
    assert train.tensors().augmented and train.tensors().crop_padding == 4 and not test.tensors().augmented
    loader = make_loader(train, 25, True, seed=3)
    assert isinstance(loader, TensorLoader)
    (x1, _y1), (x2, _y2) = next(iter(loader)), next(iter(make_loader(train, 25, True, seed=3)))
    assert x1.shape == (25, 3, 32, 32) and x1.dtype == torch.float32 and torch.equal(x1, x2)  # seeded
    plain = torch.stack([test[i][0] for i in range(20)])
    torch.testing.assert_close(torch.cat([x for x, _ in make_loader(test, 8, False)]), plain)  # same normalisation
