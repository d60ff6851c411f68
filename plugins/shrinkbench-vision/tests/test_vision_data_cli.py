"""``shrinkbench data list / path / download`` with the vision datasets, in process, against a local file
server (torchvision's downloader and MD5 checks run; nothing reaches the internet). Bad input: one line on
stderr, exit 2, nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from vision_data_writers import write_cifar, write_idx
from vision_mirror import Mirror, offline, serve_cifar, serve_idx

from shrinkbench.plugins import reset_registry

main = pytest.importorskip("shrinkbench_cli.main")


@pytest.fixture
def data(monkeypatch, tmp_path, no_datapath):
    """Run ``shrinkbench data ARGS`` in process with every installed plugin; returns click's Result."""
    from click.testing import CliRunner

    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("SHRINKBENCH_DISABLE_PLUGINS", "SHRINKBENCH_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    reset_registry()

    def run(*args: str):
        return CliRunner().invoke(main.cli, ["data", *args])

    yield run
    reset_registry()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    with offline(monkeypatch), Mirror(tmp_path / "server") as server:
        yield server


def one_error(result) -> str:
    """The single ``error:`` line of a failed command (exit 2, nothing else on stderr but progress bars)."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output, result.output
    return errors[0]


def listing(result) -> dict[str, dict]:
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)["datasets"]}


def test_download_then_list_path_and_idempotence(tmp_path, data, mirror, monkeypatch):
    serve_cifar(mirror, monkeypatch, tmp_path / "source")
    root = tmp_path / "data"  # created by the download
    first = data("download", "cifar10", "--root", str(root))
    assert first.exit_code == 0, first.output
    assert f"downloaded and verified into {root / 'cifar-10-batches-py'}" in first.stdout
    assert f"shrinkbench bench -d cifar10 --data-root {root}" in first.stdout
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]  # no temporary directory left

    again = data("download", "cifar10", "--root", str(root))
    assert again.exit_code == 0 and "already present and verified" in again.stdout

    rows = listing(data("list", "--root", str(root), "--json"))
    assert rows["cifar10"]["present"] is True and rows["cifar10"]["verified"] is True
    assert rows["cifar10"]["path"] == str(root / "cifar-10-batches-py") and rows["cifar10"]["size"] > 100_000
    assert rows["mnist"]["present"] is False and rows["mnist"]["downloadable"] is True
    assert rows["imagenet"]["downloadable"] is False and "image-net.org" in rows["imagenet"]["source"]
    assert rows["mnist-5k"]["present"] is True and rows["mnist-5k"]["bundled"] is True

    found = data("path", "cifar10", "--root", str(root))
    assert found.exit_code == 0 and found.stdout == f"{root / 'cifar-10-batches-py'}\n"
    absent = data("path", "cifar100", "--root", str(root))
    assert absent.exit_code == 1 and absent.stdout == "" and str(root) in absent.stderr

    table = data("list", "--root", str(root))
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    start = next(i for i, x in enumerate(lines) if " cifar10 " in x)
    row = [lines[start]]
    for x in lines[start + 1:]:  # a long path folds onto the next lines of the same row (empty first cell)
        if not x.startswith("│") or x.split("│")[1].strip():
            break
        row.append(x)
    assert " yes " in row[0]
    assert "".join(x.split("│")[-2].strip() for x in row).startswith(f"{root / 'cifar-10-batches-py'}:")


def test_damaged_copy_needs_force_and_force_replaces_it(tmp_path, data, mirror, monkeypatch):
    serve_idx(mirror, monkeypatch, "FashionMNIST", tmp_path / "source")
    root = tmp_path / "data"
    assert data("download", "fashion-mnist", "--root", str(root)).exit_code == 0
    archive = root / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    archive.write_bytes(b"damaged")
    assert listing(data("list", "--json", "--root", str(root)))["fashion-mnist"]["verified"] is False

    error = one_error(data("download", "fashion-mnist", "--root", str(root)))
    assert "does not verify" in error and "--force" in error and archive.read_bytes() == b"damaged"
    forced = data("download", "fashion-mnist", "--root", str(root), "--force")
    assert forced.exit_code == 0, forced.output
    assert listing(data("list", "--json", "--root", str(root)))["fashion-mnist"]["verified"] is True
    assert sorted(p.name for p in root.iterdir()) == ["FashionMNIST"]


def test_failed_checksum_leaves_nothing(tmp_path, data, mirror, monkeypatch):
    from torchvision.datasets import CIFAR10

    serve_cifar(mirror, monkeypatch, tmp_path / "source")
    monkeypatch.setattr(CIFAR10, "tgz_md5", "f" * 32)
    root = tmp_path / "new"
    error = one_error(data("download", "cifar10", "--root", str(root)))
    assert "MD5" in error and "cifar-10-python.tar.gz" in error
    assert not root.exists()  # the root it would have created is gone too
    existing = tmp_path / "existing"
    existing.mkdir()
    one_error(data("download", "cifar10", "--root", str(existing)))
    assert list(existing.iterdir()) == []


def test_network_error_leaves_nothing(tmp_path, data, mirror, monkeypatch):
    from torchvision.datasets import MNIST

    serve_idx(mirror, monkeypatch, "MNIST", tmp_path / "source")
    monkeypatch.setattr(MNIST, "mirrors", ["http://192.0.2.1/mnist/"])  # refused by the offline guard
    root = tmp_path / "data"
    root.mkdir()
    error = one_error(data("download", "mnist", "--root", str(root)))
    assert "mnist download failed" in error and "192.0.2.1" in error
    assert list(root.iterdir()) == []


def test_partial_folder_in_the_way(tmp_path, data, mirror, monkeypatch):
    serve_cifar(mirror, monkeypatch, tmp_path / "source")
    write_cifar(tmp_path / "data")
    (tmp_path / "data" / "cifar-10-batches-py" / "data_batch_2").unlink()
    error = one_error(data("download", "cifar10", "--root", str(tmp_path / "data")))
    assert "incomplete" in error and "--force" in error
    assert data("download", "cifar10", "--root", str(tmp_path / "data"), "--force").exit_code == 0
    assert listing(data("list", "--json", "--root", str(tmp_path / "data")))["cifar10"]["verified"] is True


def test_datapath_with_several_directories(tmp_path, data, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    write_idx(second, "MNIST")
    monkeypatch.setenv("DATAPATH", f"{first}{os.pathsep}{second}")
    found = data("path", "mnist")
    assert found.exit_code == 0 and found.stdout.strip() == str(second / "MNIST" / "raw")
    result = data("list", "--json")
    assert json.loads(result.stdout)["roots"] == [str(first), str(second)]
    rows = listing(result)
    assert rows["mnist"]["root"] == str(second) and rows["mnist"]["verified"] is None
    absent = data("path", "cifar10")
    assert absent.exit_code == 1 and str(first) in absent.stderr and str(second) in absent.stderr


def test_bundled_dataset_needs_no_download(data):
    result = data("download", "mnist-5k")
    assert result.exit_code == 0 and "bundled" in result.stdout
    assert Path(data("path", "mnist-5k").stdout.strip(), "mnist_5k.npz").is_file()


BAD = [
    (("download", "cifar-10", "--root", "{d}"), "did you mean 'cifar10'"),
    (("path", "mnits"), "did you mean 'mnist'"),
    (("download", "imagenet", "--root", "{d}"), "image-net.org"),
    (("download", "cifar10", "--root", "{d}/file"), "is a file"),
    (("download", "cifar10", "--root", "{d}/file/below"), "is a file"),
    (("download", "cifar10", "--root", f"{{d}}/a{os.pathsep}{{d}}/b"), "one directory"),
    (("download", "cifar10"), "pass --root"),
    (("list", "--root", "{d}/file"), "is a file"),
    (("list", "--root", "{d}/nowhere"), "does not exist"),
    (("path", "cifar10", "--root", "{d}/nowhere"), "does not exist"),
    (("download",), "Missing argument"),
]


@pytest.mark.parametrize("args, expected", BAD, ids=[" ".join(a[:2]) + f"-{i}" for i, (a, _) in enumerate(BAD)])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, data, args, expected):
    work = tmp_path / "work"  # the fixture's plugin cache is beside it
    work.mkdir()
    (work / "file").write_text("not a directory")
    error = one_error(data(*[a.format(d=work) for a in args]))
    assert expected in error
    assert sorted(work.rglob("*")) == [work / "file"]


def test_unwritable_root(tmp_path, data, monkeypatch):
    """A root that refuses files (a read-only mount; permission bits do not stop root): refused before any
    download starts."""
    import shrinkbench.atomic as atomic

    def refuse(**_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    error = one_error(data("download", "cifar10", "--root", str(tmp_path)))
    assert f"data directory {tmp_path} is not writable (Permission denied); choose another --root" in error


def test_not_enough_space(tmp_path, data, monkeypatch):
    import shutil

    import shrinkbench_cli.commands.data as command

    monkeypatch.setattr(command.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12, 10**6))
    error = one_error(data("download", "places365", "--root", str(tmp_path)))
    assert "needs about 52 GB free" in error and "1.0 MB available" in error
