"""The names of timm's architectures, cached on disk per timm version.

The version comes from ``importlib.metadata`` (which does not import timm), so a warm call reads one small
JSON file; only the first call for a given timm version pays for ``import timm`` (~7 s with torch here).
"""

from __future__ import annotations

from importlib import metadata

from shrinkbench.cache import cached_names


def timm_version() -> str:
    """The installed timm's version, without importing timm."""
    return metadata.version("timm")


def _list_timm_models() -> list[str]:
    from .offline import import_timm

    return list(import_timm().list_models())


def names() -> list[str]:
    """Every timm architecture name (``timm.list_models()``, no pretrained tags), sorted; never builds a model."""
    return cached_names("timm", timm_version(), _list_timm_models)
