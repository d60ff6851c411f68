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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .dataset_spec import DatasetSpec, DataStatus
from .errors import ShrinkBenchError
from .spec_base import Target, _check_name, _Spec, resolve
from .task_spec import (
    CLASSIFICATION,
    PrepareContext,
    Prepared,
    TaskMetric,
    TaskSpec,
    Tokenizer,
    check_task_name,
)
from .values import Options

__all__ = ["REQUIREMENTS", "STRUCTURED_TOLERANCE", "DataStatus", "DatasetSpec", "ExecutorSpec", "MetricSpec",
           "ModelFamilySpec", "ModelSpec", "PluginInfo", "PrepareContext", "Prepared", "Reference", "ScheduleSpec",
           "StrategySpec", "Target", "TaskMetric", "TaskSpec", "Tokenizer", "resolve"]

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

    Post-training (one-shot) strategies: ``calibration`` -- the strategy needs calibration inputs, which the
    engine draws seeded from the training split and hands over as ``ctx.calibration`` (their number, sequence
    length and source are experiment keys recorded in every row); ``reconstructs`` -- the strategy updates the
    weights it keeps (SparseGPT), which it writes into ``ctx.model``'s prunable weights in place; rows say so. A
    strategy that changes a kept weight without declaring ``reconstructs`` fails its run.

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
    calibration: bool = False
    reconstructs: bool = False

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

    ``default_shape``: the (C, H, W) input the model is made for -- the resolution of its reference weights
    (timm's ``pretrained_cfg['input_size']``, torchvision's weights transforms) -- as a tuple, or a callable
    (or lazy ``"package.module:function"``) taking no argument and returning the tuple or ``None``, so that
    listing models stays instant. ``None``: the model declares none. ``check-models`` checks each model at
    it; read it with :meth:`default_input_shape`.

    ``tasks``: the tasks (:class:`TaskSpec` names) the model serves; a dataset of another task is refused up
    front. A model of a task that needs a tokenizer (``causal-lm``) names it: ``tokenizer(pretrained: str | None)
    -> shrinkbench.Tokenizer`` (lazily named), the tokenizer of the weights ``pretrained`` names; its ``build``
    then ignores ``num_classes`` and ``input_shape`` and returns a module whose ``forward(token_ids)`` returns the
    logits ``(batch, tokens, vocabulary)``. ``trained``: ``build`` returns trained weights (a Hugging Face hub
    model): the dense model is not pretrained further unless the user sets pretraining epochs; ``fresh``: then
    the ``pretrained`` value that builds its architecture with fresh weights (e.g. ``"random"``), which the engine
    passes wherever it loads the dense weights into the model anyway (each run), instead of loading the source
    weights first.

    Example: ``ModelSpec("lenet-5", "LeNet-5 CNN for 28x28 digits", "shrinkbench_vision.models.lenet:lenet5",
    min_size=28, max_size=32, default_shape=(1, 28, 28))``
    """

    name: str
    description: str
    build: Target
    in_channels: int | None = None
    min_size: int = 1
    max_size: int | None = None
    references: tuple[Reference, ...] = ()
    default_shape: tuple[int, int, int] | Target | None = None
    tasks: tuple[str, ...] = (CLASSIFICATION,)
    tokenizer: Target | None = None
    trained: bool = False
    fresh: str | None = None

    _kind = "model"
    _work = "build"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.tasks:
            raise ValueError(f"model {self.name!r}: tasks must name at least one task")
        for task in self.tasks:
            check_task_name(task)

    def load_tokenizer(self, pretrained: str | None = None) -> Tokenizer:
        """The model's tokenizer for the weights ``pretrained`` names; ``ValueError`` when it declares none."""
        if self.tokenizer is None:
            raise ValueError(f"model {self.name!r} has no tokenizer")
        return resolve(self.tokenizer)(pretrained)

    def reference(self, dataset: str) -> Reference | None:
        """The published dense accuracy of this model on ``dataset``, if it declares one."""
        return next((r for r in self.references if r.dataset == dataset), None)

    def default_input_shape(self) -> tuple[int, int, int] | None:
        """The (C, H, W) input the model is made for (:attr:`default_shape`, called when it is a callable), or
        ``None`` when it declares none. Never builds the model or downloads anything."""
        shape = self.default_shape
        if shape is not None and not isinstance(shape, tuple):
            shape = resolve(shape)()
        if shape is None:
            return None
        if len(shape) != 3 or not all(isinstance(n, int) and n > 0 for n in shape):
            raise ValueError(f"model {self.name!r}: default input shape must be (C, H, W) positive ints, got {shape!r}")
        return tuple(shape)

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
    ``default_shape(name) -> tuple[int, int, int] | None`` (optional, lazily named like ``build``): the (C, H, W)
    input a member is made for, from metadata only (no weights downloaded, no model built) -- see
    :attr:`ModelSpec.default_shape`.

    ``tasks`` and ``tokenizer(name, pretrained) -> shrinkbench.Tokenizer`` as for :class:`ModelSpec` (the family's
    members serve the same tasks), ``trained`` and ``fresh`` likewise. ``any_name``: every ``<prefix>:<name>`` is a member, listed or not (e.g. a
    Hugging Face hub id or a local directory); ``names()`` then lists the ones known on this machine.

    Example: ``ModelFamilySpec("timm", "The timm model zoo", "shrinkbench_timm.zoo:names",
    "shrinkbench_timm.zoo:build")``
    """

    prefix: str
    description: str
    names: Target
    build: Target
    min_size: int = 1
    references: tuple[Reference, ...] = ()
    default_shape: Target | None = None
    tasks: tuple[str, ...] = (CLASSIFICATION,)
    tokenizer: Target | None = None
    any_name: bool = False
    trained: bool = False
    fresh: str | None = None

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

        shape_of = self.default_shape
        default_shape = None if shape_of is None else (lambda: resolve(shape_of)(name))
        tokenizer_of = self.tokenizer
        tokenizer = None if tokenizer_of is None else (lambda pretrained=None: resolve(tokenizer_of)(name, pretrained))
        return ModelSpec(f"{self.prefix}:{name}", f"{self.description}: {name}", build, min_size=self.min_size,
                         references=tuple(r for r in self.references if r.model == name),
                         default_shape=default_shape, tasks=self.tasks, tokenizer=tokenizer,
                         trained=self.trained, fresh=self.fresh)


@dataclass(frozen=True)
class MetricSpec(_Spec):
    """A measurement of a (pruned) model.

    ``compute(ctx: shrinkbench.metrics.MetricContext) -> dict[str, float]`` returns values for exactly the
    ``columns`` it declares; they become result columns. ``needs_data`` metrics receive an evaluation loader.
    Column names must be unique across all installed metrics that apply to one task. ``task``: the task whose
    datasets the metric applies to (a :class:`TaskSpec` name; ``None``: every task).

    Example: ``MetricSpec("size", "Parameter counts and compression", "shrinkbench.metrics.size:measure",
    columns=("params", "nonzero_params", "compression"))``
    """

    name: str
    description: str
    compute: Target
    columns: tuple[str, ...] = field(default_factory=tuple)
    needs_data: bool = False
    task: str | None = None

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

    ``prepare(options) -> None`` (optional): called as soon as a command knows it will run this executor with
    these options -- before torch is imported and the sweep resolved -- to start slow set-up in the background
    (a local cluster instance) and return at once; ``create`` then uses what it started. It must not raise:
    a bad option or a failed start is reported when the executor is created or entered.

    Example: ``ExecutorSpec("threads", "Runs in a thread pool", "my_pkg.executor:create",
    options=(("workers", "number of threads (default 2)"),))``
    """

    remote: bool = False
    prepare: Target | None = None

    _kind = "executor"

    def start_early(self, options: Mapping[str, Any]) -> None:
        """Call ``prepare`` (when the plugin has one) with the user's raw ``options``; options it does not
        declare are left for the sweep's validation to report."""
        if self.prepare is None:
            return
        try:
            checked = Options(f"executor {self.name}", options, self.option_names)
        except ShrinkBenchError:
            return
        resolve(self.prepare)(checked)


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
