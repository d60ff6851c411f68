"""Dense models: built from the registry, trained once per (dataset, model, pretrain recipe, seed) and cached,
or read from the user's own checkpoint. Every strategy and compression starts from these same weights."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..cache import cache_dir
from ..checkpoints import load_into, read_state_dict
from ..errors import ShrinkBenchError
from ..metrics.accuracy import evaluate
from ..plugins import Registry
from .config import DenseKey, SweepConfig
from .data import Splits, eval_loader, train_loader
from .train import EpochLog, train


def build_model(registry: Registry, config: SweepConfig, seed: int) -> nn.Module:
    """A freshly initialised model for the sweep's dataset; initialisation is fixed by ``seed``."""
    dataset = registry.dataset(config.dataset)
    spec = registry.model(config.model)
    torch.manual_seed(seed)
    return spec.load()(dataset.num_classes, tuple(dataset.input_shape), None)


def save_weights(model: nn.Module, path: Path) -> None:
    """Write ``model``'s state dict to ``path`` (safetensors) atomically."""
    from safetensors.torch import save_model

    tmp = path.with_suffix(path.suffix + ".tmp")
    save_model(model, str(tmp))
    os.replace(tmp, path)


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights into ``model`` from a safetensors file or a ``torch.save`` state dict (``weights_only``).

    Raises :class:`ShrinkBenchError` naming the file when it cannot be read or does not fit the model.
    """
    return load_into(model, read_state_dict(path), str(path))


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or a :class:`ShrinkBenchError` when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise ShrinkBenchError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None


def dense_key(config: SweepConfig, seed: int) -> DenseKey:
    """The cache key of the dense model a run of ``config`` with ``seed`` starts from."""
    extra = {"checkpoint_sha256": config.checkpoint_sha256} if config.checkpoint else {}
    return DenseKey(config.dataset, config.model, config.pretrain, seed, config.val_fraction, extra)


def ensure_dense(
    registry: Registry,
    config: SweepConfig,
    seed: int,
    splits: Splits,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> tuple[Path, dict]:
    """Path and metadata (incl. dense test accuracy) of the dense model for ``seed``, training it if needed."""
    key = dense_key(config, seed)
    directory = cache_dir() / "dense"
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / f"{key.digest()}.safetensors"
    meta_path = directory / f"{key.digest()}.json"
    if weights.exists() and meta_path.exists():
        return weights, json.loads(meta_path.read_text())
    model = build_model(registry, config, seed)
    epochs: list[dict] = []
    if config.checkpoint:
        load_weights(model, config.checkpoint)
    else:
        loader = train_loader(splits.train, config.pretrain.batch_size, seed, registry.dataset(config.dataset).augmented)
        val = eval_loader(splits.val, config.eval_batch_size) if splits.val is not None else None
        torch.manual_seed(seed)
        result = train(model, config.pretrain, loader, val, on_epoch=on_epoch)
        epochs = [vars(e) for e in result.epochs]
    test = evaluate(model, eval_loader(splits.test, config.eval_batch_size))
    meta = {"key": json.loads(json.dumps(vars(key), default=lambda o: getattr(o, "__dict__", str(o)))),
            "dense_top1": test["top1"], "dense_top5": test["top5"], "dense_loss": test["loss"], "epochs": epochs}
    save_weights(model, weights)
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, meta_path)
    return weights, meta
