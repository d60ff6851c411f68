"""A local file server on 127.0.0.1 standing in for the dataset hosts, and torchvision's download URLs and MD5s
pointed at small files it serves in the real formats, so downloads run torchvision's own downloader and
checksum code without the internet. :func:`offline` refuses every other connection.

Example::

    def test_download(tmp_path, monkeypatch):
        with offline(monkeypatch), Mirror(tmp_path / "srv") as mirror:
            serve_cifar(mirror, monkeypatch, tmp_path / "src")
            download.cifar10(tmp_path / "dest")
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from vision_data_writers import write_cifar, write_idx

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def md5(data: bytes) -> str:
    """Hex MD5 of ``data``."""
    return hashlib.md5(data).hexdigest()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """Stay quiet when a client hangs up early: torchvision's redirect probe is a GET it never reads."""


class Mirror:
    """``http.server`` serving ``directory`` on 127.0.0.1 in a thread; ``url`` ends with ``/``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.server = _Server(("127.0.0.1", 0), partial(_Quiet, directory=str(self.directory)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, relative: str, data: bytes) -> str:
        """Serve ``data`` at ``url + relative``; returns its MD5."""
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return md5(data)

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def offline(monkeypatch) -> Iterator[None]:
    """Refuse any connection or name lookup that is not this machine's loopback; ignore proxy settings."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(address, tuple) and host not in LOCAL_HOSTS:
            raise OSError(f"test tried to reach {address}: tests never use the internet")
        return real_connect(self, address)

    def lookup(host, *args, **kwargs):
        if host not in LOCAL_HOSTS:
            raise socket.gaierror(f"test tried to look up {host}: tests never use the internet")
        return real_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield


def _tar(entries: dict[str, bytes], compression: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def serve_idx(mirror: Mirror, monkeypatch, folder: str, scratch: Path, dead_first: bool = False) -> None:
    """Serve tiny gzipped idx files for torchvision's ``MNIST`` / ``FashionMNIST`` (``folder``) and point the
    class's mirrors and MD5s at them; ``dead_first`` puts a mirror that answers 404 in front."""
    from torchvision import datasets

    write_idx(scratch, folder)
    resources = []
    for path in sorted((scratch / folder / "raw").iterdir()):
        resources.append((path.name + ".gz", mirror.add(f"{folder}/{path.name}.gz", gzip.compress(path.read_bytes()))))
    cls = getattr(datasets, folder)
    monkeypatch.setattr(cls, "mirrors", [mirror.url + "missing/"] * dead_first + [mirror.url + folder + "/"])
    monkeypatch.setattr(cls, "resources", resources)


def serve_cifar(mirror: Mirror, monkeypatch, scratch: Path, hundred: bool = False, per_batch: int = 6) -> dict:
    """Serve a tiny CIFAR-10/100 ``.tar.gz`` in the real layout and point torchvision's class at it (URL, archive
    MD5 and the per-file MD5s); returns the arrays written."""
    from torchvision import datasets

    written = write_cifar(scratch, hundred=hundred, per_batch=per_batch)
    cls = datasets.CIFAR100 if hundred else datasets.CIFAR10
    folder = scratch / cls.base_folder
    files = {f"{cls.base_folder}/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
    archive_md5 = mirror.add(cls.filename, _tar(files, "gz"))

    def sums(names):
        return [[name, md5((folder / name).read_bytes())] for name, _ in names]

    monkeypatch.setattr(cls, "url", mirror.url + cls.filename)
    monkeypatch.setattr(cls, "tgz_md5", archive_md5)
    monkeypatch.setattr(cls, "train_list", sums(cls.train_list))
    monkeypatch.setattr(cls, "test_list", sums(cls.test_list))
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5((folder / cls.meta["filename"]).read_bytes())})
    return written


PLACES_CATEGORIES = ("/a/airfield", "/a/apartment_building/outdoor", "/c/church/indoor")


def serve_places365(mirror: Mirror, monkeypatch, per_class: int = 2) -> None:
    """Serve tiny Places365 archives (file lists, 256px train and val tars) in torchvision's layout and point
    ``torchvision.datasets.Places365`` at them: 3 categories, two of them nested (``church/indoor``)."""
    from PIL import Image
    from torchvision.datasets import Places365

    rng = np.random.default_rng(3)

    def jpeg() -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(buffer, "JPEG")
        return buffer.getvalue()

    categories = "".join(f"{c} {i}\n" for i, c in enumerate(PLACES_CATEGORIES))
    train = {f"{c}/{k:08d}.jpg": i for i, c in enumerate(PLACES_CATEGORIES) for k in range(1, per_class + 1)}
    val = {f"Places365_val_{n + 1:08d}.jpg": n % len(PLACES_CATEGORIES) for n in range(per_class * 3)}
    lists = {"places365_train_standard.txt": "".join(f"{p} {i}\n" for p, i in train.items()),
             "places365_val.txt": "".join(f"{p} {i}\n" for p, i in val.items()),
             "categories_places365.txt": categories}
    devkit = "filelist_places365-standard.tar"
    devkit_md5 = mirror.add(devkit, _tar({name: text.encode() for name, text in lists.items()}))
    train_md5 = mirror.add("train_256_places365standard.tar", _tar({f"data_256{p}": jpeg() for p in train}))
    val_md5 = mirror.add("val_256.tar", _tar({f"val_256/{p}": jpeg() for p in val}))
    monkeypatch.setattr(Places365, "_BASE_URL", mirror.url)
    monkeypatch.setattr(Places365, "_DEVKIT_META", {**Places365._DEVKIT_META, "standard": (devkit, devkit_md5)})
    monkeypatch.setattr(Places365, "_CATEGORIES_META", ("categories_places365.txt", md5(categories.encode())))
    monkeypatch.setattr(Places365, "_FILE_LIST_META", {
        **Places365._FILE_LIST_META,
        "train-standard": ("places365_train_standard.txt", md5(lists["places365_train_standard.txt"].encode())),
        "val": ("places365_val.txt", md5(lists["places365_val.txt"].encode()))})
    monkeypatch.setattr(Places365, "_IMAGES_META", {
        **Places365._IMAGES_META, ("train-standard", True): ("train_256_places365standard.tar", train_md5),
        ("val", True): ("val_256.tar", val_md5)})
