"""Lazy attributes for a package's ``__init__``: public names that live in heavier submodules (torch) are
imported on first access, so importing the package itself stays instant."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, names: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` that imports ``package.<names[name]>`` on first access
    to ``name``, caches the value in ``namespace`` (the package's globals) and returns it."""

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
