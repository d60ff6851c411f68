"""The datasets' ``status`` checks and ``download`` functions, against a local file server standing in for the
dataset hosts (torchvision's own downloader and MD5 checks run; nothing reaches the internet), and the
several-directory search path."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from vision_data_writers import write_cifar, write_idx, write_image_folder
from vision_mirror import PLACES_CATEGORIES, Mirror, offline, serve_cifar, serve_idx, serve_places365

from shrinkbench.errors import DataNotFoundError, ShrinkBenchError
from shrinkbench.plugins import load_registry
from shrinkbench_vision.datasets import download, folders, layouts, status, torchvision_sets

FILE_DATASETS = ["mnist", "fashion-mnist", "cifar10", "cifar100", "imagenet", "places365"]


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local server (nothing else reachable) with torchvision's classes pointed at it by the serve_* helpers."""
    with offline(monkeypatch), Mirror(tmp_path / "server") as server:
        yield server


def _dest(tmp_path: Path, name: str = "dest") -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


# -- the search path --------------------------------------------------------------------------------------------


def test_a_root_may_list_several_directories(tmp_path, no_datapath):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    write_cifar(second)
    both = f"{first}{os.pathsep}{second}"
    assert layouts.search_dirs(both) == [first, second]
    assert len(torchvision_sets.cifar10("test", Path(both))) == 6  # the engine passes Path(--data-root)
    with pytest.raises(DataNotFoundError) as info:
        torchvision_sets.cifar100("test", Path(both))
    assert str(first) in str(info.value) and str(second) in str(info.value) and "\n" not in str(info.value)


def test_datapath_first_directory_that_has_the_dataset_wins(tmp_path, monkeypatch):
    write_cifar(tmp_path / "a", per_batch=2)
    write_cifar(tmp_path / "b", per_batch=4)
    monkeypatch.setenv("DATAPATH", f"{tmp_path / 'missing'}{os.pathsep}{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    assert len(torchvision_sets.cifar10("test", None)) == 2


def test_locate_searches_roots_in_order_and_names_them_all(tmp_path, registry):
    spec = registry.dataset("mnist")
    write_idx(tmp_path / "b", "MNIST")
    found = spec.locate([tmp_path / "a", tmp_path / "b"], verify=False)
    assert found.present and found.root == tmp_path / "b" and found.path == tmp_path / "b" / "MNIST" / "raw"
    absent = spec.locate([tmp_path / "a", tmp_path / "c"])
    assert not absent.present and str(tmp_path / "a") in absent.detail and str(tmp_path / "c") in absent.detail


# -- status -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_status_of_an_empty_directory(tmp_path, registry, name):
    found = registry.dataset(name).locate([tmp_path])
    assert not found.present and found.path is None and found.verified is None and found.detail
    assert "\n" not in found.detail


def test_bundled_subset_is_always_present(registry):
    found = registry.dataset("mnist-5k").locate([])
    assert found.present and found.size > 500_000 and (found.path / "mnist_5k.npz").is_file()


def test_mnist_without_archives_cannot_be_verified_but_damage_shows(tmp_path):
    write_idx(tmp_path, "MNIST")
    found = status.mnist(tmp_path)
    assert found.present and found.verified is None and "archives" in found.detail
    raw = tmp_path / "MNIST" / "raw"
    (raw / "t10k-images-idx3-ubyte").write_bytes((raw / "t10k-images-idx3-ubyte").read_bytes()[:-10])
    damaged = status.mnist(tmp_path)
    assert damaged.present and damaged.verified is False and "truncated" in damaged.detail


def test_shrinkbench_per_dataset_folders_are_found(tmp_path):
    write_idx(tmp_path / "FashionMNIST", "FashionMNIST")
    write_cifar(tmp_path / "CIFAR100", hundred=True)
    assert status.fashion_mnist(tmp_path, verify=False).path == tmp_path / "FashionMNIST" / "FashionMNIST" / "raw"
    assert status.cifar100(tmp_path, verify=False).path == tmp_path / "CIFAR100" / "cifar-100-python"


def test_imagenet_tree_is_counted_not_checksummed(tmp_path):
    write_image_folder(tmp_path / "imagenet")
    found = status.imagenet(tmp_path)
    assert found.present and found.verified is False and "1,000 classes" in found.detail and found.size > 0
    assert status.imagenet(tmp_path, verify=False).verified is None
    (tmp_path / "places365" / "train" / "x").mkdir(parents=True)
    assert "incomplete" in status.places365(tmp_path).detail


# -- downloads --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_download_verifies_and_loads(tmp_path, mirror, monkeypatch, hundred):
    written = serve_cifar(mirror, monkeypatch, tmp_path / "source", hundred=hundred)
    dest = _dest(tmp_path)
    (download.cifar100 if hundred else download.cifar10)(dest)
    folder = "cifar-100-python" if hundred else "cifar-10-batches-py"
    assert [p.name for p in dest.iterdir()] == [folder]  # the archive is gone
    found = (status.cifar100 if hundred else status.cifar10)(dest)
    assert found.present and found.verified is True and found.path == dest / folder
    loaded = (torchvision_sets.cifar100 if hundred else torchvision_sets.cifar10)("train", dest)
    assert loaded.targets.tolist() == written["train_labels"].tolist()

    batch = dest / folder / ("test" if hundred else "test_batch")
    batch.write_bytes(batch.read_bytes()[:-1] + b"\0")
    damaged = (status.cifar100 if hundred else status.cifar10)(dest)
    assert damaged.present and damaged.verified is False and batch.name in damaged.detail and "MD5" in damaged.detail
    batch.unlink()
    gone = (status.cifar100 if hundred else status.cifar10)(dest)
    assert not gone.present and gone.path == dest / folder and batch.name in gone.detail


@pytest.mark.parametrize("folder", ["MNIST", "FashionMNIST"])
def test_idx_download_tries_each_mirror(tmp_path, mirror, monkeypatch, registry, folder):
    serve_idx(mirror, monkeypatch, folder, tmp_path / "source", dead_first=True)
    dest = _dest(tmp_path)
    name = {"MNIST": "mnist", "FashionMNIST": "fashion-mnist"}[folder]
    registry.dataset(name).fetcher()(dest)
    found = registry.dataset(name).locate([dest])
    assert found.present and found.verified is True, found.detail
    assert len(registry.dataset(name).load()("train", dest, False)) == 12
    archive = dest / folder / "raw" / "train-labels-idx1-ubyte.gz"
    archive.write_bytes(archive.read_bytes() + b"x")
    assert registry.dataset(name).locate([dest]).verified is False


def test_checksum_failure_is_one_line_and_leaves_no_archive(tmp_path, mirror, monkeypatch):
    from torchvision.datasets import CIFAR10

    serve_cifar(mirror, monkeypatch, tmp_path / "source")
    monkeypatch.setattr(CIFAR10, "tgz_md5", "0" * 32)
    dest = _dest(tmp_path)
    with pytest.raises(ShrinkBenchError) as info:
        download.cifar10(dest)
    message = str(info.value)
    assert "\n" not in message and "MD5" in message and CIFAR10.url in message
    assert list(dest.iterdir()) == []


def test_every_mirror_failing_names_each(tmp_path, mirror, monkeypatch):
    from torchvision.datasets import MNIST

    serve_idx(mirror, monkeypatch, "MNIST", tmp_path / "source")
    monkeypatch.setattr(MNIST, "mirrors", [mirror.url + "nowhere/", mirror.url + "elsewhere/"])
    with pytest.raises(ShrinkBenchError) as info:
        download.mnist(_dest(tmp_path))
    assert "nowhere" in str(info.value) and "elsewhere" in str(info.value) and "404" in str(info.value)


def test_unreachable_host_is_one_line(tmp_path, mirror, monkeypatch):
    from torchvision.datasets import CIFAR10

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(CIFAR10, "url", f"http://127.0.0.1:{port}/cifar-10-python.tar.gz")
    with pytest.raises(ShrinkBenchError, match="cannot reach") as info:
        download.cifar10(_dest(tmp_path))
    assert "\n" not in str(info.value)


def test_places365_download_is_an_image_folder_tree(tmp_path, mirror, monkeypatch):
    serve_places365(mirror, monkeypatch)
    dest = _dest(tmp_path)
    download.places365(dest)
    assert [p.name for p in dest.iterdir()] == ["places365"]
    tree = dest / "places365"
    classes = sorted(p.name for p in (tree / "train").iterdir())
    assert classes == ["airfield", "apartment_building-outdoor", "church-indoor"] == [
        download.flat_class(c) for c in PLACES_CATEGORIES]
    assert sorted(p.name for p in (tree / "val").iterdir()) == classes
    train, test = folders.places365("train", dest), folders.places365("test", dest)
    assert (len(train), len(test)) == (6, 6) and train.classes == test.classes == classes
    found = status.places365(dest)
    assert found.present and found.verified is True and found.path == tree
    next((tree / "val" / "airfield").iterdir()).unlink()
    assert status.places365(dest).verified is False
