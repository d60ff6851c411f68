"""The DATAPATH loaders read tiny datasets written here in the real on-disk formats; missing files give one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from vision_data_writers import write_cifar, write_idx, write_image_folder

from shrinkbench.errors import DataNotFoundError
from shrinkbench.plugins import load_registry
from shrinkbench.testing import check_dataset
from shrinkbench_vision.datasets import folders, torchvision_sets
from shrinkbench_vision.datasets.torchvision_sets import CIFAR10_MEAN, CIFAR10_STD

FILE_DATASETS = ["mnist", "fashion-mnist", "cifar10", "cifar100", "imagenet", "places365"]


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_cifar10_reads_python_batches(tmp_path, no_datapath, registry):
    written = write_cifar(tmp_path)
    train = torchvision_sets.cifar10("train", tmp_path)
    test = torchvision_sets.cifar10("test", tmp_path)
    assert (len(train), len(test)) == (30, 6)
    assert train.targets.tolist() == written["train_labels"].tolist()
    assert train.classes == [f"c{i}" for i in range(10)]
    x, y = test[3]
    assert x.shape == (3, 32, 32) and y == written["test_labels"][3]
    mean, std = torch.tensor(CIFAR10_MEAN).view(3, 1, 1), torch.tensor(CIFAR10_STD).view(3, 1, 1)
    expected = (torch.from_numpy(written["test_images"][3]).float() / 255 - mean) / std
    torch.testing.assert_close(x, expected)
    assert check_dataset(registry.dataset("cifar10"), root=tmp_path) == {"train": 30, "test": 6}


def test_cifar_augmentation_crops_and_flips(tmp_path, no_datapath):
    write_cifar(tmp_path)
    plain = torchvision_sets.cifar10("train", tmp_path, augment=False)
    augmented = torchvision_sets.cifar10("train", tmp_path, augment=True)
    torch.manual_seed(0)
    views = [augmented[0][0] for _ in range(8)]
    assert all(v.shape == (3, 32, 32) for v in views)
    assert any(not torch.equal(v, plain[0][0]) for v in views)
    black = (0 - torch.tensor(CIFAR10_MEAN)) / torch.tensor(CIFAR10_STD)  # padding is black, then normalized
    assert any(torch.allclose(v[:, :, 0], black.view(3, 1).expand(3, 32)) or
               torch.allclose(v[:, 0, :], black.view(3, 1).expand(3, 32)) for v in views)
    # the test split is never augmented
    assert torchvision_sets.cifar10("test", tmp_path, augment=True).augment is None


def test_cifar100_reads_fine_labels(tmp_path, no_datapath, registry):
    written = write_cifar(tmp_path, hundred=True)
    train = torchvision_sets.cifar100("train", tmp_path)
    assert len(train) == 6 and train.targets.tolist() == written["train_labels"].tolist()
    assert max(train.targets) == 99 and len(train.classes) == 100
    assert check_dataset(registry.dataset("cifar100"), root=tmp_path) == {"train": 6, "test": 6}


def test_shrinkbench_layout_and_datapath(tmp_path, monkeypatch):
    """``$DATAPATH`` (a list of directories) is searched, including ShrinkBench's ``<dir>/CIFAR10/...``."""
    write_cifar(tmp_path / "second" / "CIFAR10")
    (tmp_path / "first").mkdir()
    monkeypatch.setenv("DATAPATH", f"{tmp_path / 'first'}:{tmp_path / 'second'}")
    assert len(torchvision_sets.cifar10("test", None)) == 6


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_idx_files(tmp_path, no_datapath, registry, name, folder):
    write_idx(tmp_path, folder)
    load = registry.dataset(name).load()
    train, test = load("train", tmp_path, False), load("test", tmp_path, True)
    assert (len(train), len(test)) == (12, 5)
    x, y = train[11]
    assert x.shape == (1, 28, 28) and y == 1
    assert check_dataset(registry.dataset(name), root=tmp_path) == {"train": 12, "test": 5}


@pytest.mark.parametrize("name, subdir", [("imagenet", "imagenet"), ("places365", "places365"),
                                          ("places365", "Places365/places365_standard")])
def test_image_folder_trees(tmp_path, no_datapath, registry, name, subdir):
    write_image_folder(tmp_path / subdir)
    load = registry.dataset(name).load()
    train = load("train", tmp_path, True)
    test = load("test", tmp_path, False)
    assert len(train) == len(test) == 6
    assert train.classes == [f"n{c:08d}" for c in range(3)]
    x, y = test[5]
    assert x.shape == (3, 224, 224) and y == 2
    torch.testing.assert_close(test[5][0], x)  # evaluation preprocessing is deterministic
    assert check_dataset(registry.dataset(name), root=tmp_path) == {"train": 6, "test": 6}


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_missing_files_give_one_line(tmp_path, no_datapath, registry, name):
    with pytest.raises(DataNotFoundError) as info:
        registry.dataset(name).load()("train", tmp_path, False)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "expected" in message and "DATAPATH" in message and "--data-root" in message


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_no_root_and_no_datapath(no_datapath, registry, name):
    with pytest.raises(DataNotFoundError, match="DATAPATH is not set"):
        registry.dataset(name).load()("test", None, False)


def test_incomplete_cifar_is_missing(tmp_path, no_datapath):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataNotFoundError, match="data_batch_1..5"):
        torchvision_sets.cifar10("train", tmp_path)


def test_class_folders_without_images(tmp_path, no_datapath):
    (tmp_path / "imagenet" / "val" / "n0001").mkdir(parents=True)
    with pytest.raises(DataNotFoundError) as info:
        folders.imagenet("test", tmp_path)
    assert "\n" not in str(info.value)


def test_bad_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="split"):
        torchvision_sets.cifar10("val", tmp_path)


def test_uint8_pixels_round_trip(tmp_path, no_datapath):
    """Check the channel-major CIFAR layout: pixel (c, h, w) of the file is pixel (c, h, w) of the tensor."""
    written = write_cifar(tmp_path)
    images = torchvision_sets.cifar10("test", tmp_path).images
    assert images.dtype == torch.uint8 and np.array_equal(images.numpy(), written["test_images"])


def test_cli_reports_missing_data_in_one_line_exit_2(tmp_path, no_datapath, monkeypatch):
    main = pytest.importorskip("shrinkbench_cli.main")
    from click.testing import CliRunner

    from shrinkbench.plugins import reset_registry

    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SHRINKBENCH_PLUGINS", "keep_all_plugin")  # no strategy plugin is needed
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    args = ["bench", "-d", "cifar10", "-m", "resnet20", "-s", "keep-all", "-c", "1", "--data-root", str(tmp_path),
            "--out", str(tmp_path / "out"), "--no-report"]
    reset_registry()
    try:
        result = CliRunner().invoke(main.cli, args)
    finally:
        reset_registry()
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cifar10 data not found" in errors[0] and str(tmp_path) in errors[0]
    assert "Traceback" not in result.output
