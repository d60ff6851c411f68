"""Importing timm with the Hugging Face hub forced offline: nothing in this plugin ever downloads."""

from __future__ import annotations

import os
from types import ModuleType


def import_timm() -> ModuleType:
    """``import timm`` with the Hugging Face hub forced offline (set before huggingface_hub is first imported)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import timm

    return timm
