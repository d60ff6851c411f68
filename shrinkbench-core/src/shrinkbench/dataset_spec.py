"""The dataset spec a ``shrinkbench_datasets`` hook returns, and what its ``status`` check reports
(re-exported by :mod:`shrinkbench.specs`). Importable without torch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .recipe import Recipe
from .spec_base import Target, _Spec, resolve
from .task_spec import CLASSIFICATION, check_task_name

__all__ = ["DataStatus", "DatasetSpec"]


@dataclass(frozen=True)
class DataStatus:
    """What a dataset's ``status`` check found in one data directory (see :class:`DatasetSpec`).

    ``present``: the loader would find its files there. ``verified``: ``True`` when every file matched its
    published checksum (or a check as strong), ``False`` when a file is damaged or does not match, ``None`` when
    nothing could be checked (no checksums exist, or the check was skipped). ``size``: bytes on disk of what was
    found (0 when unknown). ``path``: the folder holding the files (``<root>/cifar-10-batches-py``), also set for
    an incomplete folder when ``present`` is false; ``root``: the data directory to pass as ``--data-root``
    (``None`` for bundled data). ``detail``: one line for people, e.g. ``"6 files match torchvision's MD5s"``
    or ``"missing data_batch_4"``.
    """

    present: bool
    verified: bool | None = None
    size: int = 0
    path: Path | None = None
    root: Path | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if "\n" in self.detail:
            raise ValueError("DataStatus.detail must be one line")


@dataclass(frozen=True)
class DatasetSpec(_Spec):
    """A dataset of one learning task (:attr:`task`, a :class:`shrinkbench.TaskSpec` name; default
    ``classification``).

    ``build(split: "train" | "test", root: pathlib.Path | None, augment: bool)`` returns the split in the form its
    task's ``prepare`` takes: for ``classification`` a ``torch.utils.data.Dataset`` of ``(image_tensor,
    int_label)`` pairs, normalized (``augment`` turns on the training augmentation), with ``num_classes`` and
    ``input_shape`` (C, H, W) set; for ``causal-lm`` the split's text as one ``str`` (its documents joined as the
    dataset's evaluation protocol joins them), which the task tokenizes with the model's tokenizer.
    ``root`` is where the files are (``None``: ``$DATAPATH`` or bundled data); a ``root`` whose text holds
    ``os.pathsep`` (``a:b``, as ``$DATAPATH`` may) names several directories searched in order, the first that
    has the dataset wins. Missing files raise :class:`shrinkbench.errors.DataNotFoundError` naming every
    directory searched and the expected layout; a loader never downloads. ``bundled``: the data ships with the
    package (no ``root`` needed); ``augmented``: ``augment=True`` changes the data (``False`` lets the engine keep
    it stacked in memory).

    Optional, for ``shrinkbench data`` (both lazily imported, so listing stays instant):

    - ``status(root: pathlib.Path | None, verify: bool = True) -> DataStatus`` looks at ONE data directory
      (``None`` for bundled data) exactly as the loader would and reports what is there; with ``verify`` it
      also checks the files (checksums), which may take seconds; without, it only locates them. It never
      raises for missing or damaged files (that is what the status says) and never writes.
    - ``download(dest: pathlib.Path) -> None`` fetches the dataset into ``dest``, an empty directory on the
      same file system as the data root, checking every file against its published checksum. When it returns,
      ``dest`` holds exactly what belongs in the data root (e.g. ``dest/cifar-10-batches-py/``: the layout the
      loader reads, archives removed); the caller then checks ``status(dest)`` and moves the entries into place,
      and deletes ``dest`` whatever happens, so nothing is left half-written. Failures (network, checksum) raise
      a one-line :class:`shrinkbench.errors.ShrinkBenchError`. It may show progress on stderr.
      ``None``: the data cannot be downloaded (e.g. a licence); ``source`` says where to get it.
    - ``source``: one line saying what ``download`` fetches (URLs, size) or where to get the data by hand.
    - ``download_size``: about how many bytes ``download`` needs on disk at its peak (0: unknown); callers
      refuse to start when less is free.

    ``recipes``: the dataset's standard (pretrain, finetune) :class:`shrinkbench.Recipe` s, used unless the user
    gives others (``None``: core's generic small recipes, and the sweep says so). ``licence``: one line naming the
    data's licence (recorded for text corpora). ``eval_windows``: for a text dataset, how many windows of its test
    stream perplexity is measured on unless the sweep says otherwise (``--eval-windows``; ``None``: all of them).

    Example: ``DatasetSpec("cifar10", "CIFAR-10 from DATAPATH", "shrinkbench_vision.datasets:cifar10",
    num_classes=10, input_shape=(3, 32, 32), status="my_pkg.data:cifar10_status",
    download="my_pkg.data:cifar10_download", source="cifar-10-python.tar.gz (170 MB) from cs.toronto.edu")``
    """

    name: str
    description: str
    build: Target
    num_classes: int = 0
    input_shape: tuple[int, ...] = ()
    bundled: bool = False
    augmented: bool = True
    status: Target | None = None
    download: Target | None = None
    source: str = ""
    download_size: int = 0
    task: str = CLASSIFICATION
    recipes: tuple[Recipe, Recipe] | None = None
    licence: str = ""
    eval_windows: int | None = None

    _kind = "dataset"
    _work = "build"

    def __post_init__(self) -> None:
        super().__post_init__()
        if "\n" in self.source:
            raise ValueError(f"dataset {self.name!r}: source must be one line")
        check_task_name(self.task)
        if self.eval_windows is not None and self.eval_windows < 1:
            raise ValueError(f"dataset {self.name!r}: eval_windows must be at least 1 (None: all), got {self.eval_windows}")
        if self.recipes is not None and not (len(self.recipes) == 2 and all(isinstance(r, Recipe) for r in self.recipes)):
            raise ValueError(f"dataset {self.name!r}: recipes must be a (pretrain, finetune) pair of Recipe")

    def locate(self, roots: Sequence[Path], verify: bool = True) -> DataStatus | None:
        """Where the loader would find this dataset among ``roots`` (searched in order, the first directory
        that has it wins), as a :class:`DataStatus`; ``None`` when the dataset declares no ``status`` check.

        Bundled data is checked once with ``root=None``. When no directory has the dataset, the status is not
        present, its ``detail`` names every directory searched, and its ``path`` is the first incomplete folder
        found, if any.
        """
        if self.status is None:
            return None
        check = resolve(self.status)
        if self.bundled:
            return check(None, verify=verify)
        if not roots:
            return DataStatus(False, detail="no data directory given ($DATAPATH is not set and no --root)")
        missing: list[DataStatus] = []
        for root in roots:
            found = check(Path(root), verify=verify)
            if found.present:
                return found
            missing.append(found)
        partial = next((m for m in missing if m.path is not None), missing[0])
        where = ", ".join(str(r) for r in roots)
        return DataStatus(False, size=partial.size, path=partial.path, root=partial.root if partial.path else None,
                          detail=f"looked in {where}: {partial.detail}" if partial.detail else f"looked in {where}")

    def fetcher(self) -> Callable[[Path], None] | None:
        """The download callable (imported on first use), or ``None`` when the data cannot be downloaded."""
        return None if self.download is None else resolve(self.download)
