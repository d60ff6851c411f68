"""Frozen dataclasses that plugins return from their hooks.

Every spec has a unique ``name``, a one-line ``description`` and the code that does the work. That code is
given either as a callable or, preferably, as a lazy import path ``"package.module:function"``: listing
plugins then never imports torch, torchvision or timm, and ``shrinkbench list`` stays instant.

This module must stay importable without torch.

Example::

    from shrinkbench import StrategySpec, hookimpl

    @hookimpl
    def shrinkbench_strategies():
        return [StrategySpec("my-magnitude", "Keep the largest |w| per layer", "my_pkg.strategy:masks")]
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Target = Callable[..., Any] | str
"""A callable, or an import path ``"package.module:attribute"`` resolved on first use."""


def resolve(target: Target) -> Callable[..., Any]:
    """Return the callable a spec names: the callable itself, or the object at ``"module:attr"``."""
    if callable(target):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep or not attr:
        raise ValueError(f"lazy target {target!r} must look like 'package.module:function'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _check_name(kind: str, name: str, description: str) -> None:
    if not name or name != name.strip() or any(c.isspace() for c in name):
        raise ValueError(f"{kind} name {name!r} must be non-empty and contain no spaces")
    if "\n" in description:
        raise ValueError(f"{kind} {name!r}: description must be one line")


class _Spec:
    """What every spec shares: a checked one-word ``name`` and one-line ``description`` (checked when it is
    made), and :meth:`load`, which imports the callable named by the field :attr:`_work` on first use."""

    _kind = "spec"
    _work = ""

    def __post_init__(self) -> None:
        _check_name(self._kind, self.name, self.description)  # type: ignore[attr-defined]

    def load(self) -> Callable[..., Any]:
        """The spec's callable (imported on first use when it is named ``"package.module:function"``)."""
        return resolve(getattr(self, self._work))


REQUIREMENTS = ("batchnorm", "conv", "linear")
"""What a strategy may require of a model (:attr:`StrategySpec.requires`): ``batchnorm`` (a batch-norm layer),
``conv`` (a convolution), ``linear`` (a linear layer) among its prunable layers' neighbours."""


@dataclass(frozen=True)
class StrategySpec(_Spec):
    """A pruning strategy.

    ``compute(ctx: shrinkbench.pruning.PruningContext) -> dict[str, torch.Tensor]`` returns one boolean mask
    (True = keep) per prunable parameter name in ``ctx.prunable``, hitting ``ctx.compression`` over the whole
    model. It must not change the model's weights, buffers (e.g. batch-norm statistics), hooks, ``.grad`` or
    train/eval mode (``shrinkbench.pruning.eval_mode`` restores modes).

    A ``structured`` strategy removes whole channels or filters instead: ``compute(ctx)`` shrinks ``ctx.model``
    in place (its layers get fewer channels) so that dense parameters / remaining parameters reaches
    ``ctx.compression`` within :data:`STRUCTURED_TOLERANCE`, and returns ``None``. The shrunken model is
    finetuned as it is (no masks) and saved with its new shapes (:func:`shrinkbench.checkpoints.load_shrunken`
    rebuilds it from the dense architecture).

    Limits, checked before any work so that an impossible run is refused up front (exit 2) rather than failing
    midway: ``requires`` names what the model must have (:data:`REQUIREMENTS`; a strategy the model lacks it for
    is left out of the default set, and refused when named); ``check(ctx: PruningContext) -> str | None``
    (optional, lazily named like ``compute``; the context has no training batches) says why the strategy cannot
    prune ``ctx.model`` to ``ctx.compression`` -- it is asked for every compression a schedule will prune to, so
    e.g. 2:4 refuses the small first steps of an iterative schedule; ``pattern = (n, m)`` declares N:M masks
    (:mod:`shrinkbench.patterns`), which the engine verifies in every run.

    Example: ``StrategySpec("global-magnitude", "One |w| threshold over all layers",
    "shrinkbench_magnitude.strategies:global_magnitude", aliases=("GlobalMagWeight",))``
    """

    name: str
    description: str
    compute: Target
    aliases: tuple[str, ...] = ()
    needs_data: bool = False
    reference: str = ""
    structured: bool = False
    requires: tuple[str, ...] = ()
    check: Target | None = None
    pattern: tuple[int, int] | None = None

    _kind = "strategy"
    _work = "compute"

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [r for r in self.requires if r not in REQUIREMENTS]
        if unknown:
            raise ValueError(f"strategy {self.name!r}: unknown requirement {unknown[0]!r}; known: {', '.join(REQUIREMENTS)}")
        if self.pattern is not None and not (len(self.pattern) == 2 and 0 < self.pattern[0] < self.pattern[1]):
            raise ValueError(f"strategy {self.name!r}: pattern must be (n, m) with 0 < n < m, got {self.pattern!r}")

    def limit(self, ctx: Any) -> str | None:
        """Why this strategy cannot prune ``ctx.model`` to ``ctx.compression`` (its :attr:`check`), or ``None``."""
        return resolve(self.check)(ctx) if self.check is not None else None


STRUCTURED_TOLERANCE = 0.05
"""Relative miss of its target a structured strategy may have (whole channels cannot hit it exactly)."""


@dataclass(frozen=True)
class Reference:
    """A published dense accuracy of a model on a dataset: top-1 (a fraction), where it comes from (paper,
    model card), and how far below it a dense model may fall and still count as trained as published
    (``tolerance``, in top-1). A dense model further below makes every row trained from it carry a warning
    (``below_reference``): results from an under-trained dense model do not compare with published ones.
    ``model`` names the member of a :class:`ModelFamilySpec` it belongs to (empty on a :class:`ModelSpec`)."""

    dataset: str
    top1: float
    source: str
    tolerance: float = 0.01
    model: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.top1 <= 1 or not 0 <= self.tolerance < 1:
            raise ValueError(f"reference top1 must be a fraction in (0, 1] and tolerance in [0, 1), got "
                             f"{self.top1!r} and {self.tolerance!r}")


@dataclass(frozen=True)
class ModelSpec(_Spec):
    """A model architecture.

    ``build(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None) -> torch.nn.Module``
    returns a fresh model for a dataset with that many classes and (C, H, W) inputs. ``pretrained`` is
    ``None`` (random initialisation), the path of a local state dict, or a tag the model's source knows
    (torchvision weight names, timm pretrained tags); weights trained for another number of classes load with
    a fresh classifier (:func:`shrinkbench.checkpoints.load_into`). Nothing is downloaded: weights that are not
    on this machine raise :class:`shrinkbench.errors.WeightsNotFoundError`. The model names its classifier
    module in the attribute ``shrinkbench_classifier`` (qualified module name) so strategies leave it dense.

    Input requirements let ``bench`` refuse impossible pairs before any work: ``in_channels`` (``None``: the
    model adapts to the dataset), ``min_size``/``max_size`` bound the image side in pixels. ``references``: the
    published dense accuracies of the model (:class:`Reference`), which every row compares its dense model to.

    Example: ``ModelSpec("lenet-5", "LeNet-5 CNN for 28x28 digits", "shrinkbench_vision.models.lenet:lenet5",
    min_size=28, max_size=32)``
    """

    name: str
    description: str
    build: Target
    in_channels: int | None = None
    min_size: int = 1
    max_size: int | None = None
    references: tuple[Reference, ...] = ()

    _kind = "model"
    _work = "build"

    def reference(self, dataset: str) -> Reference | None:
        """The published dense accuracy of this model on ``dataset``, if it declares one."""
        return next((r for r in self.references if r.dataset == dataset), None)

    def incompatibility(self, input_shape: tuple[int, ...]) -> str | None:
        """Why this model cannot take inputs of shape (C, H, W), or ``None`` when it can."""
        channels, *side = input_shape
        if self.in_channels is not None and channels != self.in_channels:
            return f"model {self.name!r} takes {self.in_channels}-channel input, the dataset has {channels}"
        small = min(side) if side else 0
        if side and small < self.min_size:
            return f"model {self.name!r} needs images of at least {self.min_size}px, the dataset's are {small}px"
        if side and self.max_size is not None and max(side) > self.max_size:
            return f"model {self.name!r} takes images of at most {self.max_size}px, the dataset's are {max(side)}px"
        return None


@dataclass(frozen=True)
class ModelFamilySpec:
    """A family of models named ``<prefix>:<name>`` (e.g. ``timm:resnet50``), resolved lazily.

    ``names() -> list[str]`` lists the names without the prefix and must not build models (cache it if it is
    slow). ``build(name, num_classes, input_shape, pretrained) -> torch.nn.Module`` as for :class:`ModelSpec`.
    A family whose models take any image shape leaves the input fields at their defaults. ``references``: the
    published dense accuracies of its members (:class:`Reference` with ``model`` set to the member's name).

    Example: ``ModelFamilySpec("timm", "The timm model zoo", "shrinkbench_timm.zoo:names",
    "shrinkbench_timm.zoo:build")``
    """

    prefix: str
    description: str
    names: Target
    build: Target
    min_size: int = 1
    references: tuple[Reference, ...] = ()

    @property
    def name(self) -> str:
        """The pattern the family answers to, e.g. ``timm:*``."""
        return f"{self.prefix}:*"

    def __post_init__(self) -> None:
        _check_name("model family", self.prefix, self.description)
        if ":" in self.prefix:
            raise ValueError(f"model family prefix {self.prefix!r} must not contain ':'")

    def member(self, name: str) -> ModelSpec:
        """The :class:`ModelSpec` of one member, ``name`` without the prefix."""
        builder = resolve(self.build)

        def build(num_classes: int, input_shape: tuple[int, ...], pretrained: str | None = None):
            return builder(name, num_classes, input_shape, pretrained)

        return ModelSpec(f"{self.prefix}:{name}", f"{self.description}: {name}", build, min_size=self.min_size,
                         references=tuple(r for r in self.references if r.model == name))


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
    """A classification dataset.

    ``build(split: "train" | "test", root: pathlib.Path | None, augment: bool) -> torch.utils.data.Dataset``
    yields ``(image_tensor, int_label)`` pairs, normalized; ``augment`` turns on the training augmentation.
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

    Example: ``DatasetSpec("cifar10", "CIFAR-10 from DATAPATH", "shrinkbench_vision.datasets:cifar10",
    num_classes=10, input_shape=(3, 32, 32), status="my_pkg.data:cifar10_status",
    download="my_pkg.data:cifar10_download", source="cifar-10-python.tar.gz (170 MB) from cs.toronto.edu")``
    """

    name: str
    description: str
    build: Target
    num_classes: int
    input_shape: tuple[int, int, int]
    bundled: bool = False
    augmented: bool = True
    status: Target | None = None
    download: Target | None = None
    source: str = ""
    download_size: int = 0

    _kind = "dataset"
    _work = "build"

    def __post_init__(self) -> None:
        super().__post_init__()
        if "\n" in self.source:
            raise ValueError(f"dataset {self.name!r}: source must be one line")

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


@dataclass(frozen=True)
class MetricSpec(_Spec):
    """A measurement of a (pruned) model.

    ``compute(ctx: shrinkbench.metrics.MetricContext) -> dict[str, float]`` returns values for exactly the
    ``columns`` it declares; they become result columns. ``needs_data`` metrics receive an evaluation loader.
    Column names must be unique across all installed metrics.

    Example: ``MetricSpec("size", "Parameter counts and compression", "shrinkbench.metrics.size:measure",
    columns=("params", "nonzero_params", "compression"))``
    """

    name: str
    description: str
    compute: Target
    columns: tuple[str, ...] = field(default_factory=tuple)
    needs_data: bool = False

    _kind = "metric"
    _work = "compute"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.columns:
            raise ValueError(f"metric {self.name!r} must declare the columns it returns")


@dataclass(frozen=True)
class _OptionsSpec(_Spec):
    """A spec whose plugin takes options: ``(name, one-line help)`` pairs, the only keys users may pass."""

    name: str
    description: str
    create: Target
    options: tuple[tuple[str, str], ...] = ()

    _work = "create"

    @property
    def option_names(self) -> tuple[str, ...]:
        """The names of the options it takes."""
        return tuple(name for name, _ in self.options)


@dataclass(frozen=True)
class ExecutorSpec(_OptionsSpec):
    """A way to dispatch a sweep's work: in this process, local worker processes, a cluster.

    ``create(options: shrinkbench.values.Options, context: shrinkbench.tasks.ExecutorContext) -> Executor``
    returns an object with ``run(tasks, emit)`` (see :mod:`shrinkbench.tasks`): every task is data -- a
    picklable ``work(ctx)``, its :class:`~shrinkbench.tasks.Resources`, its input files and output
    directories; the executor runs them all and hands every event they emit to ``emit`` in the calling process.
    ``options`` are ``(name, one-line help)`` pairs (``--executor-option name=value`` or the TOML ``[executor]``
    table); read them with ``options.integer("workers", 2)`` and friends. ``remote``: its workers may run on
    other machines, so the device is not checked on the driver (a CPU-only laptop may send GPU runs to GPU
    nodes) and files may have to travel (the tasks say which).

    Example: ``ExecutorSpec("threads", "Runs in a thread pool", "my_pkg.executor:create",
    options=(("workers", "number of threads (default 2)"),))``
    """

    remote: bool = False

    _kind = "executor"


@dataclass(frozen=True)
class ScheduleSpec(_OptionsSpec):
    """When and how far a strategy prunes during a run: once before finetuning, in rounds, or gradually.

    ``create(ctx: shrinkbench.plans.ScheduleContext) -> shrinkbench.plans.SchedulePlan``: the rounds of pruning
    and training that reach ``ctx.target`` (the last pruning must reach it exactly), given the finetuning epochs
    and steps, the dense model's parameter counts and the pretraining epochs; ``ctx.options`` holds this
    schedule's options, declared here as ``(name, one-line help)`` pairs (``--schedule-option
    name.key=value``). ``structured``: whether structured strategies (which remove channels) may run under it --
    a schedule that prunes during training cannot, as removing channels replaces the layers the optimizer
    updates.

    Example: ``ScheduleSpec("twice", "Two rounds", "my_pkg.schedules:twice",
    options=(("split", "first round's share of the compression (default 0.5)"),))``
    """

    structured: bool = True

    _kind = "schedule"


@dataclass(frozen=True)
class PluginInfo:
    """What discovery learned about one installed plugin (one entry point of the ``shrinkbench`` group)."""

    name: str
    distribution: str
    version: str
    status: str  # "ok", "failed" or "disabled"
    error: str = ""
