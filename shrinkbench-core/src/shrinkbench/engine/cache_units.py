"""What ShrinkBench's cache directory holds, read without changing it, and its removal (``shrinkbench cache``).

The cache (:func:`shrinkbench.cache.cache_dir`) holds:

- ``dense/<digest>/``: one dense model per unit, as :mod:`shrinkbench.engine.dense` writes it --
  ``weights.safetensors``, ``meta.json`` (its ``key``: dataset, model, pretrain recipe, seed, val_fraction,
  initial weights, rewind epochs, extras; ``dense_top1``; the ``epochs`` log; ``device``) and
  ``epoch<k>.safetensors`` for every rewind epoch of the key. A unit is written whole in one rename, so a
  ``dense/.<digest>.*.tmp`` directory is one being written (or left behind by a training that was killed).
- ``names/``: model-family name lists (:func:`shrinkbench.cache.cached_names`); ``plugins/``: plugin probe
  records (:mod:`shrinkbench.plugin_probe`). Both are recomputed when missing.

:func:`list_dense` never raises for a unit it cannot make sense of: a unit without ``meta.json``, with an
unreadable one, a key that does not match its directory's name, or missing weights is returned with its
:attr:`DenseUnit.problem` set (listed as damaged). :func:`removal_plan` and :func:`remove` delete only those
three folders, never anything else a user keeps under ``$SHRINKBENCH_CACHE``. This module imports neither
torch nor any plugin.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cache import cache_dir
from ..errors import ShrinkBenchError
from .experiment import digest

__all__ = ["DENSE", "META", "NAMES", "PLUGINS", "WEIGHTS", "CacheSummary", "DenseUnit", "Removal", "list_dense",
           "read_unit", "recipe_summary", "remove", "removal_plan", "summarize", "tree_size"]

DENSE, NAMES, PLUGINS = "dense", "names", "plugins"
WEIGHTS, META = "weights.safetensors", "meta.json"  # as in engine/dense.py (which imports torch)
LOCK_SUFFIX = ".lock"
"""A dense unit's lock file, ``.<digest>.lock`` beside it (engine/dense.py): not a unit, never listed."""
KINDS = ("dense", "all")


def tree_size(path: Path) -> tuple[int, int]:
    """``(bytes, files)`` under ``path`` (a file or a directory), symbolic links not followed; entries that
    vanish or cannot be read while walking are skipped."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size, 1
    except OSError:
        return 0, 0
    size = files = 0
    for parent, dirs, names in os.walk(path, onerror=lambda _exc: None):
        for name in [*names, *(d for d in dirs if os.path.islink(os.path.join(parent, d)))]:
            try:
                size += os.lstat(os.path.join(parent, name)).st_size
                files += 1
            except OSError:
                continue
    return size, files


@dataclass(frozen=True)
class DenseUnit:
    """One entry of ``dense/``: where it is, its size, and -- when ``meta.json`` could be read -- what it holds.

    ``status`` is ``ok``, ``damaged`` (``problem`` says why: the unit cannot be used and a sweep that needs it
    trains it again into a fresh unit) or ``unfinished`` (a temporary directory: a unit being written, or one
    left behind by a training that was killed). ``pretrain`` is the recipe as a dict of its fields."""

    path: Path
    size: int
    status: str = "ok"
    problem: str = ""
    dataset: str | None = None
    model: str | None = None
    seed: int | None = None
    pretrain: dict[str, Any] | None = None
    val_fraction: float | None = None
    initial_weights: str | None = None
    rewind_epochs: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    dense_top1: float | None = None
    device: str | None = None
    epochs_logged: int = 0

    @property
    def digest(self) -> str:
        """The unit's directory name (the digest of its key)."""
        return self.path.name

    @property
    def recipe(self) -> str:
        """The pretrain recipe in short (see :func:`recipe_summary`)."""
        return recipe_summary(self.pretrain or {})

    def to_json(self) -> dict[str, Any]:
        """The unit as a JSON-ready dict (``cache list --json``)."""
        return {"path": str(self.path), "digest": self.digest, "status": self.status, "problem": self.problem,
                "dataset": self.dataset, "model": self.model, "seed": self.seed, "pretrain": self.pretrain,
                "pretrain_summary": self.recipe, "val_fraction": self.val_fraction,
                "initial_weights": self.initial_weights, "rewind_epochs": list(self.rewind_epochs),
                "extra": self.extra, "dense_top1": self.dense_top1, "device": self.device,
                "epochs_logged": self.epochs_logged, "size": self.size}


def recipe_summary(recipe: Mapping[str, Any]) -> str:
    """A recipe's fields in short, e.g. ``10 ep sgd lr 0.05 cosine bs 64`` (weight decay and label smoothing
    when not the defaults; ``-`` for an empty mapping)."""
    r = recipe
    if not r:
        return "-"
    text = (f"{r.get('epochs', '?')} ep {r.get('optimizer', '?')} lr {_g(r.get('lr'))} {r.get('lr_schedule', '?')} "
            f"bs {r.get('batch_size', '?')}")
    if r.get("weight_decay") not in (None, 5e-4):
        text += f" wd {_g(r.get('weight_decay'))}"
    if r.get("label_smoothing"):
        text += f" ls {_g(r.get('label_smoothing'))}"
    return text


def _g(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def read_unit(path: Path) -> DenseUnit:
    """The :class:`DenseUnit` at ``path`` (never raises: what cannot be read makes it damaged)."""
    size, _ = tree_size(path)
    if path.name.startswith(".") and path.name.endswith(".tmp"):
        return DenseUnit(path, size, "unfinished", "being written, or left by a training that was interrupted")
    if path.is_symlink() or not path.is_dir():
        return DenseUnit(path, size, "damaged", "not a directory")
    try:
        meta = json.loads((path / META).read_text())
    except FileNotFoundError:
        return DenseUnit(path, size, "damaged", f"no {META}")
    except (OSError, UnicodeDecodeError) as exc:
        return DenseUnit(path, size, "damaged", f"cannot read {META}: {getattr(exc, 'strerror', None) or exc}")
    except ValueError:
        return DenseUnit(path, size, "damaged", f"{META} is not valid JSON")
    key = meta.get("key") if isinstance(meta, dict) else None
    if not isinstance(key, dict):
        return DenseUnit(path, size, "damaged", f"{META} has no key")
    top1 = meta.get("dense_top1")
    rewinds = key.get("rewind_epochs") or ()
    unit = DenseUnit(
        path, size, "ok", "", _text(key.get("dataset")), _text(key.get("model")),
        key.get("seed") if isinstance(key.get("seed"), int) else None,
        key.get("pretrain") if isinstance(key.get("pretrain"), dict) else None,
        key.get("val_fraction") if isinstance(key.get("val_fraction"), (int, float)) else None,
        _text(key.get("initial_weights")),
        tuple(e for e in rewinds if isinstance(e, int)) if isinstance(rewinds, list) else (),
        key.get("extra") if isinstance(key.get("extra"), dict) else {},
        float(top1) if isinstance(top1, (int, float)) and not isinstance(top1, bool) else None,
        _text(meta.get("device")), len(meta.get("epochs") or []) if isinstance(meta.get("epochs"), list) else 0,
    )
    problem = _problem(path, key, unit)
    return unit if not problem else DenseUnit(**{**unit.__dict__, "status": "damaged", "problem": problem})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _problem(path: Path, key: dict[str, Any], unit: DenseUnit) -> str:
    """Why a unit whose meta.json was read cannot be used (empty when it can)."""
    if unit.dataset is None or unit.model is None or unit.seed is None or unit.pretrain is None:
        return f"{META} key lacks dataset, model, seed or pretrain"
    if digest(key) != path.name:
        return "its key does not match the directory name (moved, copied or edited)"
    if not (path / WEIGHTS).is_file():
        return f"no {WEIGHTS}"
    missing = [f"epoch{e}.safetensors" for e in unit.rewind_epochs if not (path / f"epoch{e}.safetensors").is_file()]
    if missing:
        return f"no {missing[0]} (a rewind checkpoint of its key)"
    return ""


def list_dense(root: Path | None = None) -> list[DenseUnit]:
    """Every entry of ``<cache>/dense`` (``root`` defaults to :func:`cache_dir`), sorted by dataset, model,
    seed and path; damaged and unfinished entries included. Raises a one-line :class:`ShrinkBenchError` when
    the cache or its ``dense`` folder is not a directory or cannot be read."""
    folder = _checked_root(root) / DENSE
    if not folder.exists() and not folder.is_symlink():
        return []
    if not folder.is_dir():
        raise ShrinkBenchError(f"{folder} is not a directory: it should hold the cached dense models; move it away")
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise ShrinkBenchError(f"cannot read the cache folder {folder}: {exc.strerror or exc}") from None
    units = [read_unit(p) for p in entries if not p.name.endswith(LOCK_SUFFIX)]  # a unit's lock is not a unit
    return sorted(units, key=lambda u: (u.status != "ok", u.dataset or "", u.model or "", u.seed or 0, str(u.path)))


def _checked_root(root: Path | None) -> Path:
    root = Path(root) if root is not None else cache_dir()
    anchor = root.absolute()
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir():
        where = "is a file" if anchor == root.absolute() else f"cannot exist: {anchor} is a file"
        raise ShrinkBenchError(f"cache directory {root} {where}; set SHRINKBENCH_CACHE to a directory")
    return root


@dataclass(frozen=True)
class CacheSummary:
    """The whole cache: its ``root``, the dense units, the bytes and files of ``names/`` and ``plugins/``, and
    other entries at the top (not ShrinkBench's: never removed)."""

    root: Path
    units: list[DenseUnit]
    names: tuple[int, int]
    plugins: tuple[int, int]
    other: list[str]

    @property
    def total(self) -> int:
        """Bytes of everything ShrinkBench keeps in the cache."""
        return sum(u.size for u in self.units) + self.names[0] + self.plugins[0]

    def to_json(self) -> dict[str, Any]:
        """The summary as a JSON-ready dict (``cache list --json``)."""
        return {"cache": str(self.root), "dense": [u.to_json() for u in self.units],
                "names": {"path": str(self.root / NAMES), "bytes": self.names[0], "files": self.names[1]},
                "plugins": {"path": str(self.root / PLUGINS), "bytes": self.plugins[0], "files": self.plugins[1]},
                "other": self.other, "total_bytes": self.total}


def summarize(root: Path | None = None) -> CacheSummary:
    """What the cache at ``root`` (default :func:`cache_dir`) holds (see :class:`CacheSummary`)."""
    root = _checked_root(root)
    units = list_dense(root)
    try:
        other = sorted(p.name for p in root.iterdir() if p.name not in (DENSE, NAMES, PLUGINS)) if root.exists() else []
    except OSError as exc:
        raise ShrinkBenchError(f"cannot read the cache directory {root}: {exc.strerror or exc}") from None
    return CacheSummary(root, units, tree_size(root / NAMES) if (root / NAMES).exists() else (0, 0),
                        tree_size(root / PLUGINS) if (root / PLUGINS).exists() else (0, 0), other)


@dataclass(frozen=True)
class Removal:
    """One thing ``cache clear`` removes: its ``path``, a ``label`` for the user and its ``size`` in bytes."""

    path: Path
    label: str
    size: int


def removal_plan(kind: str = "dense", root: Path | None = None) -> list[Removal]:
    """What clearing ``kind`` (``dense``: every dense unit, damaged and unfinished ones included; ``all``:
    also the name lists and plugin probe records) would remove. Reads only."""
    if kind not in KINDS:
        raise ShrinkBenchError(f"cache clear: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    summary = summarize(root)
    plan = [Removal(u.path, _describe(u), u.size) for u in summary.units]
    if kind == "all":
        for name, label, (size, files) in ((NAMES, "model name lists", summary.names),
                                           (PLUGINS, "plugin probe records", summary.plugins)):
            if (summary.root / name).exists():
                plan.append(Removal(summary.root / name, f"{label} ({files} file{'s' if files != 1 else ''})", size))
    return plan


def _describe(unit: DenseUnit) -> str:
    if unit.status != "ok":
        return f"{unit.status} unit: {unit.problem}"
    return f"dense {unit.model} on {unit.dataset}, seed {unit.seed}"


def _check_removable(paths: Iterable[Path]) -> None:
    """A one-line error, before anything is removed, when a folder that holds something to remove is not
    writable by this process."""
    for path in paths:
        folders = [path.parent]
        if path.is_dir() and not path.is_symlink():
            folders += [Path(p) for p, _, _ in os.walk(path)]
        for folder in folders:
            if not os.access(folder, os.W_OK | os.X_OK):
                raise ShrinkBenchError(f"cannot remove {path}: {folder} is not writable; nothing was removed")


def remove(plan: Sequence[Removal]) -> int:
    """Delete every entry of ``plan`` (checked first: nothing is removed when one cannot be); return the bytes
    freed. An entry that vanished meanwhile counts as removed."""
    _check_removable(r.path for r in plan)
    freed = 0
    for item in plan:
        try:
            if item.path.is_dir() and not item.path.is_symlink():
                shutil.rmtree(item.path)
            else:
                item.path.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ShrinkBenchError(f"cannot remove {item.path}: {exc.strerror or exc}; {freed} bytes were freed "
                                   "before it") from None
        freed += item.size
    return freed
