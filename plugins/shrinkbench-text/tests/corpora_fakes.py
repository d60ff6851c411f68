"""Small stand-ins for WikiText-2, C4 and PTB in their real formats, the published checksums pointed at them, and
a local file server on 127.0.0.1 (``http.server`` in a thread) for the download tests. Nothing reaches the
internet: :func:`serve` sets ``$SHRINKBENCH_TEXT_MIRROR`` to the local server and clears the proxy variables."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from shrinkbench_text.corpora import download, files

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
WIKI_ROWS = {
    "train": " = Train article = \n\n The first line .\n Second line , with @-@ marks .\n\n",
    "valid": " = Valid article = \n\n Validation text .\n",
    "test": " = Test article = \n\n Alpha beta .\n \n Gamma delta .\n",
}


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def wikitext_zip() -> bytes:
    """A ``wikitext-2-raw-v1.zip`` with the real member layout and tiny ``.raw`` files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for split, text in WIKI_ROWS.items():
            zf.writestr(f"wikitext-2-raw/wiki.{split}.raw", text.encode("utf-8"))
    return buffer.getvalue()


def c4_shard(texts: list[str]) -> bytes:
    """A C4 ``.json.gz`` shard: one JSON object (``text``, ``timestamp``, ``url``) per line, gzipped."""
    lines = "".join(json.dumps({"text": t, "timestamp": "2019-04-25T12:00:00Z", "url": f"https://example.org/{i}"})
                    + "\n" for i, t in enumerate(texts))
    return gzip.compress(lines.encode("utf-8"), mtime=0)


C4_TEST_TEXTS = [f"Validation document {i}.\nIt has two lines." for i in range(1105)]
C4_TRAIN_TEXTS = ["Training document one.", "Training document two, longer."]
PTB_LINES = {"train": " the cat sat <unk> \n a dog ran N miles \n", "valid": " valid line \n",
             "test": " test line one \n test line two \n"}


def publish(monkeypatch, name: str, contents: dict[str, bytes]) -> None:
    """Point ``name``'s published checksums (in :data:`files.CORPORA`) at ``contents`` (file name -> bytes)."""
    corpus = files.CORPORA[name]
    if corpus.archive is not None:
        data = contents[corpus.archive.name]
        changed = dataclasses.replace(corpus, archive=files.Published(corpus.archive.name, sha256(data), len(data)))
    else:
        changed = dataclasses.replace(corpus, published=tuple(
            files.Published(p.name, sha256(contents[p.name]), len(contents[p.name])) for p in corpus.published))
    monkeypatch.setitem(files.CORPORA, name, changed)


def write_wikitext(root: Path, keep_zip: bool = True) -> Path:
    """``root/wikitext-2-raw/`` as ``shrinkbench data download`` leaves it (the zip kept unless ``keep_zip``)."""
    folder = root / "wikitext-2-raw"
    folder.mkdir(parents=True)
    data = wikitext_zip()
    for split, text in WIKI_ROWS.items():
        (folder / f"wiki.{split}.raw").write_text(text, encoding="utf-8")
    if keep_zip:
        (folder / "wikitext-2-raw-v1.zip").write_bytes(data)
    return folder


def c4_contents() -> dict[str, bytes]:
    """The two fake C4 shards by file name."""
    return {"c4-validation.00000-of-00008.json.gz": c4_shard(C4_TEST_TEXTS),
            "c4-train.00000-of-01024.json.gz": c4_shard(C4_TRAIN_TEXTS)}


def ptb_contents() -> dict[str, bytes]:
    """The three fake PTB files by file name."""
    return {f"ptb.{split}.txt": text.encode("utf-8") for split, text in PTB_LINES.items()}


def write_files(folder: Path, contents: dict[str, bytes]) -> Path:
    """Write ``contents`` (file name -> bytes) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return folder


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


class Server:
    """``http.server`` serving ``directory`` on 127.0.0.1 in a daemon thread, as a context manager."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(directory)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def serve(monkeypatch, server: Server, contents: dict[str, bytes]) -> None:
    """Put ``contents`` on ``server`` and make every download fetch from it (``$SHRINKBENCH_TEXT_MIRROR``)."""
    write_files(server.directory, contents)
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(download.MIRROR_VAR, server.url)
