"""Shared fixtures: one torch thread (small models on 2 busy cores) and an isolated name cache."""

from __future__ import annotations

import pytest


@pytest.fixture
def empty_weight_caches(tmp_path, monkeypatch):
    """Point the Hugging Face and torch hub caches at an empty directory; return it."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path
