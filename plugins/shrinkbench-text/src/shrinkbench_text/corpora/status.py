"""The ``status`` checks of ``wikitext2``, ``c4`` and ``ptb`` (see :class:`shrinkbench.DatasetSpec`): what is in
ONE data directory, found exactly as the loaders of :mod:`.files` find it, and whether it verifies.

- ``c4`` and ``ptb``: verified when every file matches the SHA-256 Hugging Face ``datasets`` published for it.
- ``wikitext2``: checksums exist only for ``wikitext-2-raw-v1.zip``. Verified when that zip sits in the folder
  (``shrinkbench data download`` keeps it there), matches its published SHA-256, and holds exactly the three
  ``.raw`` files; ``None`` when the zip is not there (the files are present but cannot be checked).

Never raises for missing or damaged files, never writes.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from shrinkbench.datafiles import sha256_of
from shrinkbench.specs import DataStatus

from .files import CORPORA, Corpus


def _size(folder: Path, names: list[str]) -> int:
    return sum((folder / n).stat().st_size for n in names if (folder / n).is_file())


def _names(corpus: Corpus) -> list[str]:
    names = sorted(set(corpus.files.values()))
    return [*names, corpus.archive.name] if corpus.archive else names


def _check_files(corpus: Corpus, folder: Path) -> tuple[bool, str]:
    for published in corpus.published:
        actual = sha256_of(folder / published.name)
        if actual != published.sha256:
            return False, f"{published.name}: SHA-256 {actual} is not the published {published.sha256}"
    return True, f"{len(corpus.published)} files match {corpus.checksums_from}"


def _member_sha256(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_archive(corpus: Corpus, folder: Path) -> tuple[bool | None, str]:
    published = corpus.archive
    path = folder / published.name
    if not path.is_file():
        return None, (f"{len(corpus.files)} files present; {published.name} is not there to check them against "
                      "its published SHA-256")
    actual = sha256_of(path)
    if actual != published.sha256:
        return False, f"{published.name}: SHA-256 {actual} is not the published {published.sha256}"
    try:
        with zipfile.ZipFile(path) as archive:
            for name in sorted(set(corpus.files.values())):
                if _member_sha256(archive, corpus.archive_prefix + name) != sha256_of(folder / name):
                    return False, f"{name} differs from {corpus.archive_prefix + name} in {published.name}"
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        return False, f"{published.name} cannot be read: {exc}"
    return True, f"{published.name} matches {corpus.checksums_from} and holds exactly the {len(corpus.files)} files"


def check(corpus: Corpus, root: Path | None, verify: bool = True) -> DataStatus:
    """What of ``corpus`` is in the data directory ``root`` (see the module docstring)."""
    root = Path(root or ".")
    names = _names(corpus)
    for candidate in corpus.candidates:
        folder = root / candidate
        if corpus.present(folder):
            size = _size(folder, names)
            if not verify:
                return DataStatus(True, None, size, folder, root, f"{len(set(corpus.files.values()))} files (not verified)")
            verified, detail = _check_archive(corpus, folder) if corpus.archive else _check_files(corpus, folder)
            return DataStatus(True, verified, size, folder, root, detail)
    for candidate in corpus.candidates:
        folder = root / candidate
        if folder.is_dir():
            missing = sorted(n for n in set(corpus.files.values()) if not (folder / n).is_file())
            return DataStatus(False, None, _size(folder, names), folder, root,
                              f"incomplete: {folder} lacks {', '.join(missing)}")
    return DataStatus(False, root=root, detail=f"no {corpus.layout}")


def wikitext2(root: Path | None, verify: bool = True) -> DataStatus:
    """WikiText-2 (raw) in ``root``: ``<root>/wikitext-2-raw/wiki.{train,valid,test}.raw``."""
    return check(CORPORA["wikitext2"], root, verify)


def c4(root: Path | None, verify: bool = True) -> DataStatus:
    """C4 in ``root``: the two shards in ``<root>/c4/en/`` (or ``<root>/allenai/c4/en/``)."""
    return check(CORPORA["c4"], root, verify)


def ptb(root: Path | None, verify: bool = True) -> DataStatus:
    """Penn Treebank in ``root``: ``<root>/ptb/ptb.{train,valid,test}.txt`` (or ``<root>/simple-examples/data/``)."""
    return check(CORPORA["ptb"], root, verify)
