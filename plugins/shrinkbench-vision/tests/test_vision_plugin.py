"""The plugin registers cheaply (no torch at list time)."""

from __future__ import annotations

import subprocess
import sys

from shrinkbench.plugins import load_registry


def test_plugin_module_does_not_import_torch():
    code = ("import sys, shrinkbench.plugins as p; r = p.load_registry(); r.list('models'); r.list('datasets'); "
            "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_specs_are_registered():
    registry = load_registry()
    plugin = next(p for p in registry.plugins if p.name == "vision")
    assert plugin.status == "ok", plugin.error
    datasets = {e.name: e.spec for e in registry.list("datasets") if e.plugin == "shrinkbench-vision"}
    assert set(datasets) == {"mnist-5k", "mnist", "fashion-mnist", "cifar10", "cifar100", "imagenet", "places365"}
    assert [n for n, s in datasets.items() if s.bundled] == ["mnist-5k"]
    assert datasets["cifar100"].num_classes == 100 and datasets["imagenet"].input_shape == (3, 224, 224)
