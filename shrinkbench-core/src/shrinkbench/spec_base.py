"""What every spec shares: the lazy ``"package.module:function"`` targets, the name and description checks, and
the base class with ``load()``. Importable without torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["Target", "resolve"]

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
