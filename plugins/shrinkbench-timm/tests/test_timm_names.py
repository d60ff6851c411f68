"""Listing timm:* is lazy: names come from a per-version cache file, no timm import and no model built."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from shrinkbench.cache import cache_file
from shrinkbench.plugins import load_registry
from shrinkbench.specs import ModelFamilySpec
from shrinkbench_timm import names as names_module


def test_family_is_registered_without_importing_timm():
    code = ("import sys, shrinkbench.plugins as p; r = p.load_registry(); assert r.get('models', 'timm:*'); "
            "assert 'timm' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    family = load_registry().get("models", "timm:*")
    assert isinstance(family, ModelFamilySpec) and family.prefix == "timm"


def test_cache_is_written_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path))
    first = names_module.names()  # cold: imports timm and writes the cache
    assert "resnet18" in first and "vit_tiny_patch16_224" in first and len(first) > 1000
    path = cache_file("timm", names_module.timm_version())
    assert path.is_relative_to(tmp_path) and json.loads(path.read_text()) == first

    def fail():
        raise AssertionError("the cached list should have been used")

    monkeypatch.setattr(names_module, "_list_timm_models", fail)
    assert names_module.names() == first  # warm: read back, timm not asked again


def test_warm_listing_does_not_import_timm_or_build(tmp_path):
    env = {**os.environ, "SHRINKBENCH_CACHE": str(tmp_path)}
    path = cache_file("timm", names_module.timm_version()).name
    (tmp_path / "names").mkdir()
    (tmp_path / "names" / path).write_text(json.dumps(["resnet18", "resnet50", "vit_tiny_patch16_224"]))
    code = ("import sys, shrinkbench.plugins as p; rows = p.load_registry().list('models', 'timm:resnet*'); "
            "print(','.join(r.name for r in rows)); assert 'timm' not in sys.modules and 'torch' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "timm:resnet18,timm:resnet50"


def test_unknown_member_suggests_close_names():
    from shrinkbench.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="timm:resnet18"):
        load_registry().model("timm:resnet181")
