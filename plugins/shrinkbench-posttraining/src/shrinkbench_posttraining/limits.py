"""The strategies' ``check``: what they refuse before any work (see :func:`.selection.calibration_limit`)."""

from __future__ import annotations

from shrinkbench import PruningContext

from .selection import calibration_limit

__all__ = ["n2_m4", "n4_m8", "unstructured"]


def unstructured(ctx: PruningContext) -> str | None:
    """Why Wanda or SparseGPT cannot prune ``ctx.model`` (a layer without input statistics), or ``None``."""
    return calibration_limit(ctx)


def n2_m4(ctx: PruningContext) -> str | None:
    """As :func:`unstructured`, and a target the 2:4 pattern cannot keep."""
    return calibration_limit(ctx, (2, 4))


def n4_m8(ctx: PruningContext) -> str | None:
    """As :func:`unstructured`, and a target the 4:8 pattern cannot keep."""
    return calibration_limit(ctx, (4, 8))
