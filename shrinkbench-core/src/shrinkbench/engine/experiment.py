"""The resolved identities of a sweep's work: an :class:`Experiment` (one dataset, model and variant, with
everything fixed for its rows), a :class:`RunSpec` (one run of it) and a :class:`DenseKey` (one dense model).

Only the pruning method may vary inside an experiment: everything in :meth:`Experiment.fixed_part` is the
same for all its rows, and its :meth:`Experiment.fingerprint` is stored with the results so that rows of a
different configuration are never mixed with them. This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..task_spec import CLASSIFICATION
from .config import DEFAULT_SCHEDULE, DEFAULT_VARIANT, Recipe, slug

__all__ = ["DEFAULT_CALIBRATION_SAMPLES", "LATER_FIELDS", "DenseKey", "Experiment", "RunSpec", "compression_label", "digest",
           "slug_clash"]


DEFAULT_CALIBRATION_SAMPLES = 128
"""Calibration inputs of a post-training strategy (the papers' 128 sequences)."""
LATER_FIELDS: dict[str, Any] = {"task": CLASSIFICATION, "context_length": None,
                                "calibration_samples": DEFAULT_CALIBRATION_SAMPLES, "calibration_source": None,
                                "eval_windows": None}
"""Fields of :class:`Experiment` left out of its fixed part (and fingerprint) while they hold this default."""


@dataclass(frozen=True)
class Experiment:
    """One (dataset, model, variant) of a sweep and everything that is fixed for its rows.

    ``checkpoint`` / ``pretrained`` and their SHA-256 say where the dense weights start from;
    ``dense_seed_offset`` is added to a run's seed to pick its dense model; ``rewind_epochs`` are the dense
    pretraining epochs whose weights rewinding schedules need (saved with the dense model);
    ``schedule_options`` are the options of every schedule the sweep runs; ``full_batches``: training drops
    the short last batch of an epoch (compiled models need static shapes). ``data_root`` says where the files
    are, not what they are, and is not part of the fixed part. ``task``: the dataset's learning task;
    ``context_length``: the token window of a text task (``None``: the model's own); ``calibration_samples`` and
    ``calibration_source`` (``None``: the dataset itself): the calibration set of post-training strategies
    (:mod:`.calibration`); ``eval_windows``: the most test windows a text task evaluates (``None``: all). Fields added after the
    first release (:data:`LATER_FIELDS`) enter the fixed part only when they differ from their default, so a
    results store written before they existed keeps its fingerprint.
    """

    dataset: str
    model: str
    pretrain: Recipe
    finetune: Recipe
    variant: str = DEFAULT_VARIANT
    val_fraction: float = 0.1
    selection: str = "final"
    include_classifier: bool = False
    precision: str = "fp32"
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    pretrained: str | None = None
    pretrained_sha256: str | None = None
    dense_seed_offset: int = 0
    rewind_epochs: tuple[int, ...] = ()
    schedule_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    full_batches: bool = False
    task: str = CLASSIFICATION
    context_length: int | None = None
    calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES
    calibration_source: str | None = None
    eval_windows: int | None = None
    data_root: str | None = field(default=None, compare=False)

    @property
    def slug(self) -> str:
        """A file-system-safe name: ``<dataset>-<model>``, with ``-<variant>`` unless it is the default one."""
        name = f"{self.dataset}-{self.model}" + ("" if self.variant == DEFAULT_VARIANT else f"-{self.variant}")
        return slug(name)

    @property
    def initial_weights(self) -> str | None:
        """What identifies the weights dense training starts from: a file's SHA-256 or a pretrained tag."""
        if self.checkpoint:
            return f"checkpoint:{self.checkpoint_sha256 or self.checkpoint}"
        if self.pretrained:
            return f"pretrained:{self.pretrained_sha256 or self.pretrained}"
        return None

    @property
    def dense_epochs(self) -> int:
        """Epochs of dense training (0 when a checkpoint is used as it is)."""
        return 0 if self.checkpoint else self.pretrain.epochs

    def options_of(self, schedule: str) -> dict[str, Any]:
        """The options of ``schedule`` in this experiment."""
        return dict(dict(self.schedule_options).get(schedule, ()))

    def fixed_part(self) -> dict[str, Any]:
        """Everything that must be identical for rows to be comparable (JSON-ready)."""
        data = asdict(self)
        for where in ("data_root", "checkpoint", "checkpoint_sha256", "pretrained", "pretrained_sha256"):
            data.pop(where)
        data["initial_weights"] = self.initial_weights
        for name, default in LATER_FIELDS.items():
            if data.get(name) == default:
                data.pop(name)
        return json.loads(json.dumps(data, default=str))

    def fingerprint(self) -> str:
        """A short hash of :meth:`fixed_part`."""
        return digest(self.fixed_part())

    def dense_key(self, seed: int) -> DenseKey:
        """The cache key of the dense model a run with ``seed`` starts from (the precision counts when it is not
        fp32; the device does not: a dense model trained on a GPU serves CPU runs and the reverse)."""
        extra = {"precision": self.precision} if self.precision != "fp32" else {}
        if self.full_batches:
            extra["full_batches"] = True
        if self.context_length is not None:  # the windows a language model trains on
            extra["context_length"] = self.context_length
        if self.eval_windows is not None:  # the dense model's recorded test perplexity
            extra["eval_windows"] = self.eval_windows
        return DenseKey(self.dataset, self.model, self.pretrain, seed + self.dense_seed_offset, self.val_fraction,
                        self.initial_weights, self.rewind_epochs, extra)


@dataclass(frozen=True)
class RunSpec:
    """One run: an experiment (by :attr:`Experiment.slug`), a strategy under a schedule, a target, a seed."""

    experiment: str
    strategy: str
    compression: float
    seed: int
    schedule: str = DEFAULT_SCHEDULE

    @property
    def method(self) -> str:
        """The strategy, with its schedule when it is not one-shot (``global-magnitude+iterative``)."""
        return self.strategy if self.schedule == DEFAULT_SCHEDULE else f"{self.strategy}+{self.schedule}"

    @property
    def run_id(self) -> str:
        """A stable identifier that is a relative path safe on every OS, e.g.
        ``mnist-5k-lenet-300-100/global-magnitude_c4_s0`` (``2:4-magnitude`` becomes ``2-4-magnitude``; the
        row's ``strategy`` column keeps the real name). Two different compressions never share an id
        (:func:`compression_label`)."""
        return f"{self.experiment}/{slug(self.method)}_c{compression_label(self.compression)}_s{self.seed}"


@dataclass(frozen=True)
class DenseKey:
    """What identifies a dense (unpruned) model: trained once, shared by every strategy and compression, and
    stored with the pretraining checkpoints of ``rewind_epochs``."""

    dataset: str
    model: str
    pretrain: Recipe
    seed: int
    val_fraction: float
    initial_weights: str | None = None
    rewind_epochs: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """A hash of the key, naming the dense model's directory in the cache."""
        return digest(asdict(self))


def compression_label(compression: float) -> str:
    """``compression`` as a short text that tells every two targets apart: ``:g`` (``4``, ``12.5``) when that
    reads back as the same number, else the shortest text that does (``repr``: ``1.4142135`` and
    ``1.4142136``, ``100000.5``; ``:g`` printed both pairs alike, so their runs shared one id)."""
    short = f"{compression:g}"
    return short if float(short) == float(compression) else repr(float(compression))


def digest(data: Any) -> str:
    """A short, stable hash of JSON-able ``data``."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def slug_clash(experiments: Sequence[Experiment]) -> str | None:
    """Why two of ``experiments`` cannot share one results directory -- their names differ but their slugs (the
    folder and run-id prefix) are one, as ``hf:org/model`` and ``hf:org-model`` are -- or ``None``."""
    seen: dict[str, Experiment] = {}
    for experiment in experiments:
        other = seen.setdefault(experiment.slug, experiment)
        if other is not experiment:
            return (f"{other.dataset} x {other.model} and {experiment.dataset} x {experiment.model} would share the "
                    f"experiment folder {experiment.slug!r} (names differ only in characters a folder name cannot "
                    "hold): run them into different --out directories")
    return None
