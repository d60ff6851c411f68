"""Dense models: built from the registry, trained once per (dataset, model, pretrain recipe, initial weights,
seed) and cached, or read from the user's own checkpoint. Every strategy and compression starts from these
same weights.

Initial weights (``pretrained`` or ``checkpoint``) reach the model through its plugin's ``build(...,
pretrained)``, the loader that replaces a classifier trained for another number of classes. A checkpoint is
used as it is, so its classifier must fit the dataset; ``pretrained`` weights are trained further with the
pretrain recipe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import atomic_path, atomic_write_text
from ..cache import cache_dir
from ..checkpoints import load_into, read_state_dict, weights_file
from ..errors import ShrinkBenchError
from ..metrics.accuracy import evaluate
from ..modules import find_classifier
from ..plugins import PluginSet, Registry, registry_for
from ..threads import torch_threads
from .config import DenseKey, SweepConfig
from .data import Splits, cached_splits, make_loader
from .events import DenseDone, DenseFailed, Emit, EpochDone, EpochLog, TaskStarted
from .runtime import Runtime
from .train import recipe_loss, train

__all__ = ["DenseTask", "build_model", "cached_dense", "file_sha256", "load_data", "load_weights", "save_weights"]


def build_model(registry: Registry, config: SweepConfig, seed: int, weights: str | None = None) -> nn.Module:
    """A model for the sweep's dataset from its plugin; initialisation is fixed by ``seed``, and ``weights``
    (a file or a tag) go to the plugin's ``pretrained`` argument. A plugin that raises becomes a
    :class:`shrinkbench.errors.PluginError` naming it."""
    dataset = registry.dataset(config.dataset)
    spec = registry.model(config.model)
    torch.manual_seed(seed)
    with registry.blame("models", config.model):
        return spec.load()(dataset.num_classes, tuple(dataset.input_shape), weights)


def load_data(registry: Registry, config: SweepConfig) -> Splits:
    """The sweep's data splits (loaded once per process); a plugin that raises becomes a PluginError naming it."""
    with registry.blame("datasets", config.dataset):
        return cached_splits(registry.dataset(config.dataset), config.data_root, config.val_fraction)


def initial_model(registry: Registry, config: SweepConfig, seed: int) -> nn.Module:
    """The model dense training starts from: fresh, or with the ``pretrained``/``checkpoint`` weights.

    A weights file is checked to have really been loaded (a plugin that ignores ``pretrained`` is an error),
    and a checkpoint's classifier must fit the dataset (it is used without training).
    """
    weights = config.checkpoint or config.pretrained
    model = build_model(registry, config, seed, weights)
    path = weights_file(weights, "pass the path of a local state dict") if weights else None
    if path is not None:
        _check_loaded(model, read_state_dict(path), str(path), config)
    return model


def _check_loaded(model: nn.Module, state: dict[str, torch.Tensor], source: str, config: SweepConfig) -> None:
    own = model.state_dict()
    head = find_classifier(model)
    head_key = f"{head}.weight" if head else None
    if config.checkpoint and head_key in state and head_key in own and state[head_key].shape != own[head_key].shape:
        raise ShrinkBenchError(
            f"checkpoint {source} has a classifier of {state[head_key].shape[0]} outputs, the dataset has "
            f"{own[head_key].shape[0]} classes: use --pretrained {source} to pretrain from it instead"
        )
    shared = [k for k, v in state.items() if k in own and own[k].shape == v.shape and not k.startswith(f"{head}.")]
    if any(not torch.equal(own[k].cpu(), state[k].to(own[k].dtype)) for k in shared):
        raise ShrinkBenchError(f"model {config.model!r} did not load the weights in {source}: its plugin ignores the "
                               "'pretrained' argument of ModelSpec.build")


def save_weights(model: nn.Module, path: Path) -> None:
    """Write ``model``'s state dict to ``path`` (safetensors) atomically, as CPU tensors whatever the model's
    device, so the file loads anywhere. Tied weights are stored under each of their names."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
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


def dense_key(config: SweepConfig, seed: int) -> DenseKey:
    """The cache key of the dense model a run of ``config`` with ``seed`` starts from (the precision counts when
    it is not fp32; the device does not: a dense model trained on a GPU serves CPU runs and the reverse)."""
    extra = {"precision": config.precision} if config.precision != "fp32" else {}
    return DenseKey(config.dataset, config.model, config.pretrain, seed, config.val_fraction, config.initial_weights,
                    extra)


def _paths(config: SweepConfig, seed: int) -> tuple[Path, Path]:
    digest = dense_key(config, seed).digest()
    directory = cache_dir() / "dense"
    return directory / f"{digest}.safetensors", directory / f"{digest}.json"


def _rewind_path(config: SweepConfig, seed: int, epoch: int) -> Path:
    weights, _ = _paths(config, seed)
    return weights.with_name(f"{weights.stem}-epoch{epoch}.safetensors")


def cached_dense(config: SweepConfig, seed: int) -> DenseDone | None:
    """The dense model of ``seed`` when it is already in the cache (with the rewind checkpoints the config
    needs), else ``None``."""
    weights, meta = _paths(config, seed)
    rewind = {str(e): str(_rewind_path(config, seed, e)) for e in config.rewind_epochs}
    if weights.is_file() and meta.is_file() and all(Path(p).is_file() for p in rewind.values()):
        try:
            return DenseDone(_key(seed), seed, str(weights), {**json.loads(meta.read_text()), "rewind": rewind})
        except (OSError, ValueError):
            return None
    return None


def _key(seed: int) -> str:
    return f"dense-s{seed}"


def make_dense(registry: Registry, config: SweepConfig, seed: int, emit: Emit) -> DenseDone:
    """Train (or read from the checkpoint) the dense model of ``seed``, store it in the cache, return it."""
    key = _key(seed)
    runtime = Runtime.of(config)
    runtime.setup()
    device = runtime.torch_device
    model = runtime.place(initial_model(registry, config, seed))
    spec = registry.dataset(config.dataset)
    splits = load_data(registry, config)
    loss_fn = recipe_loss(config.pretrain)
    eval_batch, workers = config.eval_batch_size or 256, config.workers or 0
    epochs: list[dict[str, Any]] = []
    rewind = {str(e): str(_rewind_path(config, seed, e)) for e in config.rewind_epochs}
    weights, meta_path = _paths(config, seed)
    weights.parent.mkdir(parents=True, exist_ok=True)
    if 0 in config.rewind_epochs:  # rewinding to the start: the weights pretraining begins from
        save_weights(model, Path(rewind["0"]))
    if not config.checkpoint:
        loader = make_loader(splits.train, config.pretrain.batch_size, True, seed, device, spec.augmented, workers,
                             drop_last=config.compile)
        val = make_loader(splits.val, eval_batch, False, 0, device, False, workers) if splits.val is not None else None
        torch.manual_seed(seed)

        def on_epoch(log: EpochLog) -> None:
            epochs.append(vars(log))
            if log.epoch in config.rewind_epochs:
                save_weights(model, Path(rewind[str(log.epoch)]))
            emit(EpochDone(key, log))

        train(model, config.pretrain, loader, val, on_epoch=on_epoch, runtime=runtime)
    test = evaluate(model, make_loader(splits.test, eval_batch, False, 0, device, False, workers), loss_fn,
                    runtime.autocast)
    meta = {"key": json.loads(json.dumps(dense_key(config, seed), default=lambda o: getattr(o, "__dict__", str(o)))),
            "dense_top1": test["top1"], "dense_top5": test["top5"], "dense_loss": test["loss"], "epochs": epochs}
    save_weights(model, weights)
    atomic_write_text(meta_path, json.dumps(meta, indent=2))
    return DenseDone(key, seed, str(weights), {**meta, "rewind": rewind})


@dataclass(frozen=True)
class DenseTask:
    """The work of making one seed's dense model, runnable by any executor (see :mod:`.executors`)."""

    config: SweepConfig
    seed: int
    plugins: PluginSet

    @property
    def key(self) -> str:
        """``dense-s<seed>``."""
        return _key(self.seed)

    def __call__(self, emit: Emit) -> None:
        """Make the dense model and emit :class:`DenseDone`, or :class:`DenseFailed` with the reason."""
        epochs = 0 if self.config.checkpoint else self.config.pretrain.epochs
        emit(TaskStarted(self.key, f"dense {self.config.model} on {self.config.dataset}, seed {self.seed}", epochs))
        try:
            with torch_threads(self.config.threads):
                emit(make_dense(registry_for(self.plugins), self.config, self.seed, emit))
        except Exception as exc:  # noqa: BLE001 - reported, and every run of this seed fails with the reason
            emit(DenseFailed(self.key, self.seed, describe(exc)))


def describe(exc: BaseException) -> str:
    """One line for an exception: the message of a :class:`ShrinkBenchError`, else ``Type: message``."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, ShrinkBenchError) and text else f"{type(exc).__name__}: {text}".rstrip(": ")
