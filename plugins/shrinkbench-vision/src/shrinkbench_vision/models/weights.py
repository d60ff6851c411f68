"""Loading local weight files into a freshly built model (never a download)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from shrinkbench import set_classifier
from shrinkbench.checkpoints import load_into, read_state_dict


def load_weights(model: nn.Module, path: str | Path, skip_prefix: str | None = None) -> nn.Module:
    """Load the state dict at ``path`` into ``model`` strictly and return the model.

    Entries under ``skip_prefix`` (the classifier) whose shapes differ from the model's keep the fresh head:
    weights trained for another number of classes load with their head replaced. Anything else that does not
    fit raises :class:`ShrinkBenchError` (see :func:`shrinkbench.checkpoints.load_into`).
    """
    return load_into(model, read_state_dict(path), str(path), keep_fresh=skip_prefix)


def finish(model: nn.Module, classifier: str, pretrained: str | None) -> nn.Module:
    """Record ``classifier`` as the model's ``shrinkbench_classifier`` and load the local weights file
    ``pretrained`` if given (a classifier of another size keeps the fresh head)."""
    set_classifier(model, classifier)
    if pretrained:
        load_weights(model, pretrained, skip_prefix=classifier)
    return model
