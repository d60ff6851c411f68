""":func:`check_calibration_strategy`, importing torch only when called (the testing kit loads as a pytest
plugin in every session)."""

from __future__ import annotations

from typing import Any

__all__ = ["check_calibration_strategy"]


def check_calibration_strategy(*args: Any, **kwargs: Any) -> None:
    """The conformance check of a calibration (post-training) strategy: see
    :func:`shrinkbench.testing.calibration_check.check_calibration_strategy`."""
    from .calibration_check import check_calibration_strategy as check

    check(*args, **kwargs)
