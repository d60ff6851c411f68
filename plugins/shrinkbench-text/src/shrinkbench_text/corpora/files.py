"""WikiText-2, C4 and Penn Treebank read from a data directory: where their files are, their published
checksums, and the loaders, which join each split's documents as SparseGPT's and Wanda's ``datautils`` do.

A data directory ``<dir>`` is ``--data-root`` or an entry of ``$DATAPATH`` (several separated by ``os.pathsep``
are searched in order; the first that has the dataset wins). Inside it:

- ``wikitext2``: ``<dir>/wikitext-2-raw/wiki.{train,valid,test}.raw``, as ``wikitext-2-raw-v1.zip`` extracts
  (the zip may stay beside them, ``shrinkbench data download`` keeps it there so the files can be verified).
- ``c4``: ``<dir>/c4/en/c4-validation.00000-of-00008.json.gz`` and ``c4-train.00000-of-01024.json.gz``, the
  layout of the allenai/c4 repository on the Hugging Face Hub (also found under ``<dir>/allenai/c4/en/``).
- ``ptb``: ``<dir>/ptb/ptb.{train,valid,test}.txt``, the Mikolov "simple-examples" files (also found under
  ``<dir>/simple-examples/data/``).

The loaders never download (see :mod:`.download`) and never tokenize.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from shrinkbench.datafiles import find_first

C4_TEST_DOCUMENTS = 1100
"""C4's test text is the first 1,100 documents of the validation shard, as SparseGPT and Wanda evaluate."""
C4_TRAIN_DOCUMENTS = 20_000
"""C4's train text is the first 20,000 documents of train shard 00000 (about 45 MB of text, some 10M tokens), not
all ~356,000 (0.8 GB): calibration draws 128 windows from it, and tokenizing the whole shard for them took minutes
and gigabytes (the papers draw their 128 sequences from random documents of the same shard)."""
REVISION = "1ddc917116b730e1859edef32896ec5c16be51d0"
"""The allenai/c4 revision whose SHA-256s Hugging Face ``datasets`` published (``datasets/c4/dataset_infos.json``)."""


@dataclass(frozen=True)
class Published:
    """A file and its published SHA-256 and size."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Corpus:
    """Where one corpus lives in a data directory and which files it needs.

    ``candidates``: folders under ``<dir>`` searched in order; ``files``: split -> file name in that folder;
    ``published``: the files (or, for ``archive``, the archive they come from) with their published SHA-256s,
    ``checksums_from`` saying who published them.
    """

    name: str
    candidates: tuple[str, ...]
    files: dict[str, str]
    published: tuple[Published, ...]
    checksums_from: str
    archive: Published | None = None
    archive_prefix: str = ""

    @property
    def layout(self) -> str:
        """The expected layout, for error messages."""
        names = sorted(set(self.files.values()))
        listed = names[0] if len(names) == 1 else "{" + ",".join(names) + "}"
        return f"<dir>/{self.candidates[0]}/{listed}"

    def present(self, folder: Path) -> bool:
        """Every file the loader reads is in ``folder``."""
        return all((folder / f).is_file() for f in set(self.files.values()))

    def path(self, split: str, root: Path | str | None) -> Path:
        """The file of ``split``, found in the first search directory that has the whole corpus; a one-line
        :class:`shrinkbench.errors.DataNotFoundError` naming every directory searched when none has it."""
        if split not in self.files:
            raise ValueError(f"{self.name} has the splits {', '.join(self.files)}, not {split!r}")
        folder = find_first(self.name, root, self.candidates, self.present, self.layout)
        return folder / self.files[split]


WIKITEXT2 = Corpus(
    "wikitext2", ("wikitext-2-raw",),
    {"train": "wiki.train.raw", "validation": "wiki.valid.raw", "test": "wiki.test.raw"},
    published=(), checksums_from="Hugging Face datasets' published SHA-256 (datasets/wikitext/dataset_infos.json)",
    archive=Published("wikitext-2-raw-v1.zip", "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11",
                      4_721_645),
    archive_prefix="wikitext-2-raw/",
)
C4 = Corpus(
    "c4", ("c4/en", "allenai/c4/en"),
    {"train": "c4-train.00000-of-01024.json.gz", "test": "c4-validation.00000-of-00008.json.gz"},
    published=(
        Published("c4-train.00000-of-01024.json.gz",
                  "8ef8d75b0e045dec4aa5123a671b4564466b0707086a7ed1ba8721626dfffbc9", 319_308_785),
        Published("c4-validation.00000-of-00008.json.gz",
                  "1f25b6af12da84115301d4ee93ea5246c8fea5bb4a2008472794d95b917cc97f", 40_471_190),
    ),
    checksums_from=f"Hugging Face datasets' published SHA-256s of allenai/c4@{REVISION[:7]}",
)
PTB = Corpus(
    "ptb", ("ptb", "simple-examples/data"),
    {"train": "ptb.train.txt", "validation": "ptb.valid.txt", "test": "ptb.test.txt"},
    published=(
        Published("ptb.train.txt", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf", 5_101_618),
        Published("ptb.valid.txt", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", 399_782),
        Published("ptb.test.txt", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", 449_945),
    ),
    checksums_from="Hugging Face datasets' published SHA-256s (datasets/ptb_text_only/dataset_infos.json)",
)
CORPORA = {c.name: c for c in (WIKITEXT2, C4, PTB)}
"""Name -> :class:`Corpus`, looked up on every call by the loaders, :mod:`.status` and :mod:`.download`."""


def wikitext_rows(path: Path) -> list[str]:
    """The rows of a WikiText ``.raw`` file as Hugging Face's ``wikitext`` dataset yields them: every line with
    its ``\\n``, blank lines as ``""``."""
    with open(path, encoding="utf-8") as f:
        return [row if row.strip() else "" for row in f]


def c4_texts(path: Path, limit: int | None = None) -> list[str]:
    """The ``text`` of the first ``limit`` documents (all: ``None``) of a C4 ``.json.gz`` shard, in file order."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in islice(f, limit)]


def ptb_sentences(path: Path) -> list[str]:
    """The sentences of a PTB ``.txt`` file as Hugging Face's ``ptb_text_only`` yields them: each line stripped."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f]


def wikitext2(split: str, root: Path | str | None = None, augment: bool = False) -> str:
    """WikiText-2 (raw) ``split`` as one string: the test and validation rows joined by ``"\\n\\n"``, the
    training rows by ``" "`` (SparseGPT / Wanda ``get_wikitext2``). ``augment`` is ignored."""
    rows = wikitext_rows(CORPORA["wikitext2"].path(split, root))
    return (" " if split == "train" else "\n\n").join(rows)


def c4(split: str, root: Path | str | None = None, augment: bool = False) -> str:
    """C4 (en) ``split`` as one string. ``test``: the first 1,100 documents of
    ``c4-validation.00000-of-00008.json.gz`` joined by ``" "`` (SparseGPT / Wanda, who then keep the first
    256 windows of the evaluation length); ``train``: the first :data:`C4_TRAIN_DOCUMENTS` documents of
    ``c4-train.00000-of-01024.json.gz`` joined by ``"\\n\\n"``, for calibration and finetuning. ``augment`` is ignored."""
    path = CORPORA["c4"].path(split, root)
    if split == "test":
        return " ".join(c4_texts(path, C4_TEST_DOCUMENTS))
    return "\n\n".join(c4_texts(path, C4_TRAIN_DOCUMENTS))


def ptb(split: str, root: Path | str | None = None, augment: bool = False) -> str:
    """Penn Treebank ``split`` (Mikolov's preprocessed text, ``<unk>`` and ``N`` included) as one string: the
    sentences joined by ``" "``, as SparseGPT's ``get_ptb_new`` joins them. ``augment`` is ignored."""
    return " ".join(ptb_sentences(CORPORA["ptb"].path(split, root)))
