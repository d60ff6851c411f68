"""The on-disk name cache that model families use for fast listing."""

from __future__ import annotations

import json

from shrinkbench import cache as name_cache


def test_name_cache_is_written_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return ["b", "a"]

    assert name_cache.cached_names("demo", "1.0+cpu", compute) == ["a", "b"]
    assert name_cache.cached_names("demo", "1.0+cpu", compute) == ["a", "b"]
    assert len(calls) == 1
    path = name_cache.cache_file("demo", "1.0+cpu")
    assert path.parent == tmp_path / "names" and json.loads(path.read_text()) == ["a", "b"]
    assert name_cache.cached_names("demo", "2.0", compute) == ["a", "b"] and len(calls) == 2  # new version
    path.write_text("not json")
    assert name_cache.cached_names("demo", "1.0+cpu", compute) == ["a", "b"] and len(calls) == 3
