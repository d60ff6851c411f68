"""The bundled ``shakespeare`` corpus: real text, three disjoint splits split by work, deterministic, the sizes
the README states, its status check, and the dataset specs the plugin registers (lazily, without torch)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from shrinkbench import DatasetSpec, Recipe
from shrinkbench.task_spec import CAUSAL_LM
from shrinkbench_text import plugin
from shrinkbench_text.corpora import bundled

SPLITS = ("train", "validation", "test")


def test_splits_are_the_manifests_text():
    info = bundled.manifest()
    for split in SPLITS:
        text = bundled.shakespeare(split, None, augment=True)
        data = text.encode("utf-8")
        assert len(data) == info["splits"][split]["bytes"]
        assert hashlib.sha256(data).hexdigest() == info["splits"][split]["sha256"]
        assert text == bundled.shakespeare(split)  # deterministic (and cached)
        assert not text.startswith("\n") and not text.endswith("\n") and "\n\n\n" not in text and "\r" not in text


def test_sizes_and_works():
    info = bundled.manifest()
    sizes = {split: info["splits"][split]["bytes"] for split in SPLITS}
    assert 4_000_000 < sizes["train"] < 4_500_000
    assert 300_000 < sizes["validation"] < 400_000 and 300_000 < sizes["test"] < 400_000
    titles = {split: [w["title"] for w in info["splits"][split]["works"]] for split in SPLITS}
    assert titles["test"] == ["Hamlet", "Much Ado About Nothing", "Sonnets"]
    assert titles["validation"] == ["King Henry V", "Macbeth", "Twelfth Night"]
    assert len(titles["train"]) == 36 and "King Lear" in titles["train"]
    assert info["source"]["sha256"] == "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
    assert "CC BY 2.5" in info["licence"]


def test_splits_are_disjoint_by_work():
    info = bundled.manifest()
    files = {split: {w["file"] for w in info["splits"][split]["works"]} for split in SPLITS}
    assert not files["train"] & files["test"] and not files["train"] & files["validation"]
    assert not files["validation"] & files["test"]
    assert sum(len(f) for f in files.values()) == 42
    train = bundled.shakespeare("train")
    for split in ("validation", "test"):
        for work in bundled.documents(split):
            assert work.split("\n", 1)[0].isupper()  # each document starts at its title line
            middle = work[len(work) // 2: len(work) // 2 + 400]
            assert middle not in train


def test_documents_rejoin_to_the_split():
    for split in SPLITS:
        works = bundled.documents(split)
        assert len(works) == bundled.manifest()["splits"][split]["documents"]
        assert "\n\n".join(works) == bundled.shakespeare(split)
        assert all("by William Shakespeare" in w[:200] for w in works)


def test_real_text():
    test = bundled.shakespeare("test")
    assert "To be, or not to be" in test
    assert "Shall I compare thee to a summer's day?" in test


def test_unknown_split():
    with pytest.raises(ValueError, match="train, validation, test"):
        bundled.shakespeare("valid")


def test_status(tmp_path, monkeypatch):
    found = bundled.status(None)
    assert found.present and found.verified is True and found.root is None
    assert 1_000_000 < found.size < 2_500_000 and "36 train, 3 validation, 3 test" in found.detail
    assert bundled.status(None, verify=False).verified is None

    copy = tmp_path / "shakespeare"
    shutil.copytree(bundled.folder(), copy)
    monkeypatch.setattr(bundled, "folder", lambda: copy)
    info = json.loads((copy / "manifest.json").read_text())
    info["splits"]["test"]["sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(info))
    damaged = bundled.status(None)
    assert damaged.present and damaged.verified is False and "test.txt.xz" in damaged.detail
    (copy / "train.txt.xz").write_bytes(b"not xz")
    assert "damaged" in bundled.status(None).detail
    (copy / "train.txt.xz").unlink()
    gone = bundled.status(None)
    assert not gone.present and "train.txt.xz" in gone.detail


def test_specs():
    specs = {s.name: s for s in plugin.shrinkbench_datasets()}
    assert sorted(specs) == ["c4", "ptb", "shakespeare", "wikitext2"]
    for spec in specs.values():
        assert isinstance(spec, DatasetSpec) and spec.task == CAUSAL_LM and not spec.augmented
        assert spec.licence and "\n" not in spec.licence and spec.source and spec.status
        pretrain, finetune = spec.recipes
        assert isinstance(pretrain, Recipe) and pretrain.optimizer == finetune.optimizer == "adamw"
    assert specs["shakespeare"].bundled and specs["shakespeare"].download is None
    assert specs["wikitext2"].download and specs["c4"].download and specs["ptb"].download is None
    assert "LDC" in specs["ptb"].source and "LDC" in specs["ptb"].licence
    assert specs["shakespeare"].locate([]).verified is True
    assert specs["ptb"].fetcher() is None and callable(specs["c4"].fetcher())


def test_registered_with_the_registry():
    from shrinkbench.plugins import get_registry, reset_registry

    reset_registry()
    try:
        registry = get_registry()
        assert registry.dataset("shakespeare").task == CAUSAL_LM
        assert registry.plugin_of("datasets", "wikitext2") == "shrinkbench-text"
    finally:
        reset_registry()


def test_registration_imports_no_torch():
    code = ("import sys; from shrinkbench_text import plugin; specs = plugin.shrinkbench_datasets(); "
            "heavy = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
