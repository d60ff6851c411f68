"""Dense models: built from the registry, trained once per :class:`~shrinkbench.engine.experiment.DenseKey` and
cached, or read from the user's own checkpoint. Every strategy and compression starts from these same weights.

A cached dense model is one unit: the directory ``$SHRINKBENCH_CACHE/dense/<digest>/`` holding
``weights.safetensors``, ``meta.json`` (its key, test accuracy and training log) and the pretraining checkpoints
rewinding needs (``epoch<k>.safetensors``; which epochs is part of the key). The unit is written whole, in one
rename onto a name that does not exist yet, and never rewritten: a sweep that needs other rewind epochs has
another key and another unit, so rows that came from one dense model never silently meet rows of another.
Concurrent sweeps sharing the cache train each dense model once: the one that makes it holds the unit's lock
file (``.<digest>.lock`` beside it), and another that needs it waits for the lock, then takes the published
unit.

Initial weights (``pretrained`` or ``checkpoint``) reach the model through its plugin's ``build(...,
pretrained)``, the loader that replaces a classifier trained for another number of classes. A checkpoint is used
as it is, so its classifier must fit the dataset; ``pretrained`` weights are trained further with the pretrain
recipe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import measuring
from ..atomic import atomic_dir, atomic_path
from ..cache import cache_dir
from ..checkpoints import load_into, read_state_dict, weights_file
from ..errors import ShrinkBenchError, one_line
from ..filelock import locked
from ..modules import find_classifier
from ..plugins import PluginSet, Registry, registry_for
from ..tasks import TaskContext, this_node
from ..threads import torch_threads
from .cache_units import LOCK_SUFFIX
from .data import make_loader
from .events import DenseDone, DenseFailed, EpochDone, EpochLog, TaskStarted
from .experiment import Experiment
from .runtime import RunSettings, Runtime
from .tasking import eval_batch_size, load_data, task_of
from .train import recipe_loss, train

__all__ = ["WEIGHTS", "DenseWork", "build_model", "cached_dense", "dense_dir", "file_sha256", "load_data",
           "load_weights", "rewind_file", "save_weights"]

WEIGHTS, META = "weights.safetensors", "meta.json"


def build_model(registry: Registry, dataset: str, model: str, seed: int, weights: str | None = None) -> nn.Module:
    """The model ``model`` for ``dataset`` from its plugin; initialisation is fixed by ``seed``, and ``weights``
    (a file or a tag) go to the plugin's ``pretrained`` argument. A plugin that raises becomes a
    :class:`shrinkbench.errors.PluginError` naming it."""
    data = registry.dataset(dataset)
    spec = registry.model(model)
    torch.manual_seed(seed)
    with registry.blame("models", model):
        return spec.load()(data.num_classes, tuple(data.input_shape), weights)


def initial_model(registry: Registry, experiment: Experiment, seed: int, ctx: TaskContext | None = None) -> nn.Module:
    """The model dense training starts from: fresh, or with the ``pretrained``/``checkpoint`` weights (files
    found through ``ctx`` on a worker that got them shipped).

    A weights file is checked to have really been loaded (a plugin that ignores ``pretrained`` is an error),
    and a checkpoint's classifier must fit the dataset (it is used without training).
    """
    weights = experiment.checkpoint or experiment.pretrained
    path = weights_file(weights, "pass the path of a local state dict") if weights else None
    if path is not None and ctx is not None:
        path = ctx.local(path)
    model = build_model(registry, experiment.dataset, experiment.model, seed,
                        str(path) if path is not None else weights)
    if path is not None:
        _check_loaded(model, read_state_dict(path), str(path), experiment)
    return model


def _check_loaded(model: nn.Module, state: dict[str, torch.Tensor], source: str, experiment: Experiment) -> None:
    own = model.state_dict()
    head = find_classifier(model)
    head_key = f"{head}.weight" if head else None
    if experiment.checkpoint and head_key in state and head_key in own and state[head_key].shape != own[head_key].shape:
        raise ShrinkBenchError(
            f"checkpoint {source} has a classifier of {state[head_key].shape[0]} outputs, the dataset has "
            f"{own[head_key].shape[0]} classes: use --pretrained {source} to pretrain from it instead"
        )
    shared = [k for k, v in state.items() if k in own and own[k].shape == v.shape and not k.startswith(f"{head}.")]
    if any(not torch.equal(own[k].cpu(), state[k].to(own[k].dtype)) for k in shared):
        raise ShrinkBenchError(f"model {experiment.model!r} did not load the weights in {source}: its plugin "
                               "ignores the 'pretrained' argument of ModelSpec.build")


def save_weights(model: nn.Module, path: Path) -> None:
    """Write ``model``'s state dict to ``path`` (safetensors) atomically, as CPU tensors whatever the model's
    device, so the file loads anywhere. Tied weights are stored under each of their names."""
    from safetensors.torch import save_file

    state, seen = {}, set()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()  # no copy of a contiguous CPU tensor
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.numel())
        state[name] = tensor.clone() if key in seen or tensor.untyped_storage().nbytes() != tensor.nbytes else tensor
        seen.add(key)  # a tied weight is stored again under its second name (safetensors refuses shared memory)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights into ``model`` strictly from a safetensors file or a ``torch.save`` state dict.

    Raises :class:`ShrinkBenchError` naming the file when it cannot be read or does not fit the model.
    """
    return load_into(model, read_state_dict(path), str(path))


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or a :class:`ShrinkBenchError` when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise ShrinkBenchError(f"cannot read weights file {path}: {exc.strerror or exc}") from None


def dense_dir(experiment: Experiment, seed: int) -> Path:
    """The cache directory (unit) of the dense model a run of ``experiment`` with ``seed`` starts from."""
    return cache_dir() / "dense" / experiment.dense_key(seed).digest()


def rewind_file(unit: str | Path, epoch: int) -> Path:
    """The pretraining checkpoint of ``epoch`` inside a dense unit."""
    return Path(unit) / f"epoch{epoch}.safetensors"


def cached_dense(experiment: Experiment, seed: int) -> DenseDone | None:
    """The dense model of ``seed`` when its unit is complete in the cache, else ``None``."""
    return read_unit(dense_dir(experiment, seed), experiment, seed)


def read_unit(unit: Path, experiment: Experiment, seed: int) -> DenseDone | None:
    """The dense model of ``seed`` in the unit directory ``unit`` when it is complete there, else ``None``."""
    try:
        meta = json.loads((unit / META).read_text())
    except (OSError, ValueError):
        return None
    if not (unit / WEIGHTS).is_file() or not all(rewind_file(unit, e).is_file() for e in experiment.rewind_epochs):
        return None
    return DenseDone(dense_task_key(experiment, seed), seed, str(unit), meta)


def dense_task_key(experiment: Experiment, seed: int) -> str:
    """The key of the task (and of its events) that makes this dense model."""
    return f"dense/{experiment.dense_key(seed).digest()}"


def make_dense(registry: Registry, experiment: Experiment, seed: int, settings: RunSettings, unit: str,
               ctx: TaskContext) -> DenseDone:
    """Train (or read from the checkpoint) the dense model of ``seed`` and write its unit ``unit`` (a path on
    the driver, see the module docstring) in one piece; return it."""
    emit = ctx.emit
    key = dense_task_key(experiment, seed)
    dense_seed = seed + experiment.dense_seed_offset
    runtime = Runtime.of(experiment, settings)
    runtime.setup()
    device = runtime.torch_device
    model = runtime.place(initial_model(registry, experiment, dense_seed, ctx))
    spec = registry.dataset(experiment.dataset)
    task = task_of(registry, experiment)
    splits = load_data(registry, experiment)
    eval_batch, workers = eval_batch_size(splits, runtime.eval_batch_size), settings.loader_workers
    epochs: list[dict[str, Any]] = []
    with atomic_dir(ctx.local(unit), keep_existing=True) as tmp:
        if 0 in experiment.rewind_epochs:  # rewinding to the start: the weights pretraining begins from
            save_weights(model, rewind_file(tmp, 0))
        if not experiment.checkpoint:
            loader = make_loader(splits.train, experiment.pretrain.batch_size, True, dense_seed, device,
                                 spec.augmented, workers, drop_last=experiment.full_batches)
            val = make_loader(splits.val, eval_batch, False, 0, device, False, workers) if splits.val is not None else None
            torch.manual_seed(dense_seed)

            def on_epoch(log: EpochLog) -> None:
                epochs.append(asdict(log))
                if log.epoch in experiment.rewind_epochs:
                    save_weights(model, rewind_file(tmp, log.epoch))
                emit(EpochDone(key, log))

            train(model, experiment.pretrain, loader, val, on_epoch=on_epoch, runtime=runtime,
                  evaluate_fn=task.load(), primary=task.primary_metric)
        test = task.load()(model, make_loader(splits.test, eval_batch, False, 0, device, False, workers),
                           recipe_loss(experiment.pretrain), runtime.autocast)
        meta = {"key": json.loads(json.dumps(asdict(experiment.dense_key(seed)), default=str)),
                **{f"dense_{column}": value for column, value in test.items()}, "epochs": epochs,
                "device": str(device)}
        save_weights(model, tmp / WEIGHTS)
        (tmp / META).write_text(json.dumps(meta, indent=2))
    return DenseDone(key, seed, unit, meta)


@dataclass(frozen=True)
class DenseWork:
    """The work of making one dense model into the cache unit ``unit`` (a driver path), for any executor (see
    :mod:`shrinkbench.tasks`)."""

    experiment: Experiment
    seed: int
    settings: RunSettings
    plugins: PluginSet
    unit: str

    def __call__(self, ctx: TaskContext) -> None:
        """Make the dense model and emit :class:`DenseDone`, or :class:`DenseFailed` with the reason."""
        key = dense_task_key(self.experiment, self.seed)
        label = f"dense {self.experiment.model} on {self.experiment.dataset}, seed {self.seed + self.experiment.dense_seed_offset}"
        ctx.emit(TaskStarted(key, label, self.experiment.dense_epochs))
        try:
            # the unit's lock first: waiting for another sweep's dense model is no work that a measurement waits for
            with torch_threads(self.settings.threads), self._lock(ctx), measuring.working():
                done = self._made_meanwhile(ctx)
                ctx.emit(done or make_dense(registry_for(self.plugins), self.experiment, self.seed, self.settings,
                                            self.unit, ctx))
        except Exception as exc:  # noqa: BLE001 - reported, and every run of this seed fails with the reason
            ctx.emit(DenseFailed(key, self.seed, one_line(exc), this_node()))

    def _lock(self, ctx: TaskContext) -> contextlib.AbstractContextManager:
        """The unit's lock where the unit is written in place (the driver's cache, shared or local); none where
        the work writes a scratch copy that the executor ships back."""
        unit = ctx.local(self.unit)
        if unit != Path(self.unit):
            return contextlib.nullcontext()
        unit.parent.mkdir(parents=True, exist_ok=True)
        return locked(unit.with_name(f".{unit.name}{LOCK_SUFFIX}"))

    def _made_meanwhile(self, ctx: TaskContext) -> DenseDone | None:
        """The unit, when another sweep published it while this one waited for its lock."""
        if ctx.local(self.unit) != Path(self.unit):
            return None
        return read_unit(Path(self.unit), self.experiment, self.seed)
