"""The hook specifications: the whole contract between ShrinkBench and its plugins.

A plugin is a module with functions named like the hooks below, decorated with ``shrinkbench.hookimpl``,
and registered in its ``pyproject.toml``::

    [project.entry-points.shrinkbench]
    my-plugin = "my_package.plugin"

Each hook takes no arguments and returns an iterable of frozen specs (see :mod:`shrinkbench.specs`).
Hooks run when a registry is built, including for ``shrinkbench list``: they must be cheap and must not
import torch — name the implementation lazily (``"my_package.module:function"``) instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from .specs import (
    DatasetSpec,
    ExecutorSpec,
    MetricSpec,
    ModelFamilySpec,
    ModelSpec,
    ScheduleSpec,
    StrategySpec,
    TaskSpec,
)

PROJECT_NAME = "shrinkbench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def shrinkbench_strategies() -> Iterable[StrategySpec]:
    """Return the pruning strategies this plugin provides.

    Each spec's ``compute(ctx)`` returns ``{parameter name: bool mask}`` for exactly ``ctx.prunable``,
    reaching ``ctx.compression`` over the whole model. Names (and aliases) must be unique across plugins.

    Example::

        @hookimpl
        def shrinkbench_strategies():
            return [StrategySpec("random", "Uniform random mask", "my_pkg.random:masks")]
    """


@hookspec
def shrinkbench_models() -> Iterable[ModelSpec | ModelFamilySpec]:
    """Return the model architectures this plugin provides.

    A :class:`ModelSpec` is one named architecture; a :class:`ModelFamilySpec` answers to every
    ``<prefix>:<name>`` and lists its names lazily, without building a model.

    Example::

        @hookimpl
        def shrinkbench_models():
            return [ModelSpec("tiny-mlp", "Two-layer MLP", "my_pkg.models:tiny_mlp")]
    """


@hookspec
def shrinkbench_datasets() -> Iterable[DatasetSpec]:
    """Return the datasets this plugin provides.

    ``load(split, root, augment)`` must never download: missing files raise
    :class:`shrinkbench.errors.DataNotFoundError` naming every directory searched and the expected layout.
    ``root`` may name several directories separated by ``os.pathsep`` (like ``$DATAPATH``): each is searched
    in order and the first that has the dataset wins.

    A dataset read from files should also declare, for ``shrinkbench data list/path/download``:
    ``status(root, verify=True) -> DataStatus`` (what is in ONE directory: present, checksums verified, bytes,
    the folder found; never raises for missing files, never writes), and ``download(dest) -> None`` (fetch into
    the empty directory ``dest`` exactly the layout the loader reads, every file checked against its published
    checksum, archives removed; one-line :class:`shrinkbench.errors.ShrinkBenchError` on failure; the caller
    moves the result into the data root and deletes ``dest`` whatever happens). ``download=None`` (e.g. a
    licence forbids it) with ``source`` saying where to get the files. See :class:`shrinkbench.DatasetSpec`.

    Example::

        @hookimpl
        def shrinkbench_datasets():
            return [DatasetSpec("digits", "8x8 digits", "my_pkg.data:load", num_classes=10,
                                input_shape=(1, 8, 8), bundled=True),
                    DatasetSpec("photos", "My photos from DATAPATH/photos", "my_pkg.photos:load", num_classes=5,
                                input_shape=(3, 64, 64), status="my_pkg.photos:status",
                                download="my_pkg.photos:download", source="photos.tar (2 GB) from example.org")]
    """


@hookspec
def shrinkbench_metrics() -> Iterable[MetricSpec]:
    """Return the metrics this plugin provides; every run records every installed metric's columns.

    Example::

        @hookimpl
        def shrinkbench_metrics():
            return [MetricSpec("sparsity", "Fraction of zero weights", "my_pkg.metrics:sparsity",
                               columns=("sparsity",))]
    """


@hookspec
def shrinkbench_executors() -> Iterable[ExecutorSpec]:
    """Return the executors this plugin provides: ways to dispatch a sweep's dense training and runs.

    ``create(options, context)`` builds the executor for one sweep; ``context`` says how many parallel jobs
    were asked for, the GPUs to spread them over, the torch threads and the device of each run. Every event a
    task emits must reach the ``emit`` callback of ``run`` in the calling process; a task whose worker dies
    must be reported as :class:`shrinkbench.engine.events.TaskLost`. Core's ``sequential`` and ``local``
    executors register through this hook too.

    Example::

        @hookimpl
        def shrinkbench_executors():
            return [ExecutorSpec("threads", "Runs tasks in a thread pool", "my_pkg.executor:create",
                                 options=(("workers", "threads (default 2)"),))]
    """


@hookspec
def shrinkbench_schedules() -> Iterable[ScheduleSpec]:
    """Return the pruning schedules this plugin provides: when, and to which compression, a strategy prunes.

    A schedule turns (target compression, finetuning epochs) into rounds; in each round the engine prunes with
    the run's strategy, optionally rewinds the kept weights, and finetunes, possibly pruning further at given
    steps. Any strategy composes with any schedule. Core's ``oneshot``, ``iterative`` and ``gradual``
    register through this hook too.

    Example::

        @hookimpl
        def shrinkbench_schedules():
            return [ScheduleSpec("twice", "Two rounds", "my_pkg.schedules:twice")]
    """


@hookspec
def shrinkbench_tasks() -> Iterable[TaskSpec]:
    """Return the learning tasks this plugin provides: a batch form, its evaluation, metrics and their direction.

    A dataset names its task, a model the tasks it serves. Core's ``classification`` and ``causal-lm`` register
    through this hook too.

    Example::

        @hookimpl
        def shrinkbench_tasks():
            return [TaskSpec("regression", "Mean squared error", "my_pkg.task:evaluate",
                             metrics=(TaskMetric("mse", "mean squared error", False),), primary="mse")]
    """
