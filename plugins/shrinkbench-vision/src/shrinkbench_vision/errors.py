"""Errors specific to this plugin (all :class:`shrinkbench.errors.ShrinkBenchError`: one line, exit 2)."""

from __future__ import annotations

from shrinkbench.errors import ShrinkBenchError


class WeightsNotFoundError(ShrinkBenchError, FileNotFoundError):
    """Pretrained weights were asked for but are not on this machine (nothing is ever downloaded)."""
