"""The ``download`` functions of ``wikitext2`` and ``c4`` (see :class:`shrinkbench.DatasetSpec`): fetch with the
standard library into an empty directory ``dest``, checking every file against its published SHA-256 (and
size) while it streams, so that ``dest`` ends up holding exactly the layout the loader reads:

- ``wikitext2``: ``wikitext-2-raw-v1.zip`` (4.7 MB) from :data:`WIKITEXT2_URLS`, tried in order (the original
  Salesforce bucket is gone; Stephen Merity's mirror serves the same archive), extracted into
  ``dest/wikitext-2-raw/`` with the zip kept beside the three files so ``status`` can verify them.
- ``c4``: the validation shard 00000-of-00008 (40 MB) and the train shard 00000-of-01024 (319 MB) of
  allenai/c4 at the revision whose checksums were published (:data:`C4_URL`), into ``dest/c4/en/``.

``$SHRINKBENCH_TEXT_MIRROR`` (a base URL: ``https://host/dir`` or ``file:///srv/mirror``), when set, replaces
every source: each file is fetched as ``<mirror>/<file name>`` and checked against the same published
checksums. Failures raise one line (:class:`shrinkbench.errors.ShrinkBenchError`): the URL and the network
error, or the file whose checksum did not match; the partial file is deleted. A stalled connection times out
after :data:`TIMEOUT_S`. ``ptb`` cannot be downloaded (licence).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import zipfile
from pathlib import Path

from shrinkbench.errors import ShrinkBenchError, one_line

from .files import CORPORA, REVISION, Published

TIMEOUT_S = 60.0
"""Seconds a download may wait for the server before it fails."""
MIRROR_VAR = "SHRINKBENCH_TEXT_MIRROR"
WIKITEXT2_URLS = (
    "https://wikitext.smerity.com/wikitext-2-raw-v1.zip",
    "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip",
)
C4_URL = f"https://huggingface.co/datasets/allenai/c4/resolve/{REVISION}/en/{{name}}"
USER_AGENT = "shrinkbench-text/0.1 (dataset download)"
"""Sent with every request: Merity's mirror refuses urllib's default User-Agent."""


def sources(published: Published, urls: tuple[str, ...]) -> tuple[str, ...]:
    """Where to fetch ``published``: ``$SHRINKBENCH_TEXT_MIRROR/<name>`` when the mirror is set, else ``urls``."""
    mirror = os.environ.get(MIRROR_VAR, "").strip()
    return (f"{mirror.rstrip('/')}/{published.name}",) if mirror else urls


def _why(url: str, exc: BaseException) -> str:
    from urllib.error import HTTPError, URLError

    if isinstance(exc, HTTPError):
        return f"{url}: HTTP {exc.code} {exc.reason}"
    if isinstance(exc, URLError):
        return f"cannot reach {url}: {one_line(exc.reason, with_type=False)}"
    if isinstance(exc, TimeoutError):
        return f"{url}: no answer for {TIMEOUT_S:.0f} s"
    return f"{url}: {one_line(exc)}"


def _progress(name: str, done: int, total: int, last: list[int]) -> None:
    percent = done * 100 // max(total, 1)
    if sys.stderr.isatty() and percent != last[0]:
        last[0] = percent
        print(f"\r{name}: {percent:3d}% of {total / 1e6:.1f} MB", end="" if percent < 100 else "\n",
              file=sys.stderr, flush=True)


def fetch(dataset: str, published: Published, urls: tuple[str, ...], folder: Path) -> Path:
    """Download ``published`` into ``folder`` from the first of ``urls`` that serves it with the published size
    and SHA-256; the file's path. Raises one :class:`ShrinkBenchError` line naming every URL tried and why it
    failed; nothing is left in ``folder`` then."""
    from urllib.request import Request, urlopen

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / published.name
    failures = []
    for url in urls:
        digest, size, last = hashlib.sha256(), 0, [-1]
        try:
            with urlopen(Request(url, headers={"User-Agent": USER_AGENT}), timeout=TIMEOUT_S) as response, \
                    open(path, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    _progress(published.name, size, published.size, last)
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts: OSError; a malformed URL: ValueError
            path.unlink(missing_ok=True)
            failures.append(_why(url, exc))
            continue
        if size == published.size and digest.hexdigest() == published.sha256:
            return path
        path.unlink(missing_ok=True)
        failures.append(f"{url} is not the published file (SHA-256 {digest.hexdigest()}, {size:,} bytes; "
                        f"expected {published.sha256}, {published.size:,} bytes)")
    raise ShrinkBenchError(f"{dataset} download failed: {'; '.join(failures)}")


def wikitext2(dest: Path) -> None:
    """WikiText-2 (raw): ``wikitext-2-raw-v1.zip`` (4.7 MB; 18 MB on disk with the extracted files) into
    ``dest/wikitext-2-raw/``."""
    dest, corpus = Path(dest), CORPORA["wikitext2"]
    archive = corpus.archive
    zip_path = fetch("wikitext2", archive, sources(archive, WIKITEXT2_URLS), dest)
    folder = dest / corpus.candidates[0]
    folder.mkdir()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for name in sorted(set(corpus.files.values())):
                with zf.open(corpus.archive_prefix + name) as src, open(folder / name, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        zip_path.unlink(missing_ok=True)
        raise ShrinkBenchError(f"wikitext2 download failed: cannot extract {archive.name}: {one_line(exc)}") from None
    os.replace(zip_path, folder / archive.name)


def c4(dest: Path) -> None:
    """C4 (en): the validation shard 00000-of-00008 (40 MB) and the train shard 00000-of-01024 (319 MB) into
    ``dest/c4/en/``."""
    corpus = CORPORA["c4"]
    folder = Path(dest) / corpus.candidates[0]
    try:
        for published in sorted(corpus.published, key=lambda p: p.size):
            fetch("c4", published, sources(published, (C4_URL.format(name=published.name),)), folder)
    except BaseException:
        shutil.rmtree(Path(dest) / "c4", ignore_errors=True)
        raise
