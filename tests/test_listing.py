"""``shrinkbench list`` with every built-in plugin installed."""

from __future__ import annotations

import json

BUILT_IN = {
    "global-magnitude": "shrinkbench-magnitude", "layer-magnitude": "shrinkbench-magnitude",
    "global-activation": "shrinkbench-magnitude", "layer-activation": "shrinkbench-magnitude",
    "global-gradient": "shrinkbench-gradient", "layer-gradient": "shrinkbench-gradient",
    "random": "shrinkbench-random", "layer-random": "shrinkbench-random",
}
ALIASES = {"GlobalMagWeight", "LayerMagWeight", "GlobalMagGrad", "LayerMagGrad", "GlobalMagAct", "LayerMagAct",
           "RandomPruning"}


def test_every_built_in_strategy_is_listed_with_its_plugin(shrinkbench):
    result = shrinkbench("list", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    strategies = {s["name"]: s for s in data["strategies"]}
    assert {n: s["plugin"] for n, s in strategies.items() if n in BUILT_IN} == BUILT_IN
    assert ALIASES <= {a for s in strategies.values() for a in s["aliases"]}
    assert all(s["description"] for s in strategies.values())
    status = {p["name"]: p["status"] for p in data["plugins"]}
    assert all(status[name] == "ok" for name in ("core-metrics", "magnitude", "gradient", "random", "vision", "timm"))
    assert {"mnist-5k", "cifar10", "imagenet"} <= {d["name"] for d in data["datasets"]}
    assert {"lenet-300-100", "resnet56", "torchvision:*", "timm:*"} <= {m["name"] for m in data["models"]}


def test_disabling_a_plugin_removes_its_rows(shrinkbench):
    result = shrinkbench("--disable-plugin", "random", "list", "strategies", "--json")
    names = {s["name"] for s in json.loads(result.stdout)["strategies"]}
    assert "random" not in names and "layer-random" not in names and "global-magnitude" in names
    env_result = shrinkbench("list", "strategies", "--json", SHRINKBENCH_DISABLE_PLUGINS="magnitude,gradient")
    plugins = {s["plugin"] for s in json.loads(env_result.stdout)["strategies"]}
    assert "shrinkbench-random" in plugins and not plugins & {"shrinkbench-magnitude", "shrinkbench-gradient"}


def test_a_broken_plugin_is_shown_failed_and_the_rest_works(shrinkbench):
    result = shrinkbench("list", "plugins", SHRINKBENCH_PLUGINS="no_such_plugin_module")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "no_such_plugin_module" in line)
    assert "failed" in line and "ModuleNotFoundError" in line
    assert shrinkbench("list", "strategies", "*magnitude", SHRINKBENCH_PLUGINS="no_such_plugin_module").returncode == 0


def test_pattern_filters_and_families_expand_lazily(shrinkbench):
    result = shrinkbench("list", "models", "resnet*", "--json")
    names = [m["name"] for m in json.loads(result.stdout)["models"]]
    assert names == ["resnet110", "resnet20", "resnet32", "resnet44", "resnet56"]
    timm = json.loads(shrinkbench("list", "models", "timm:resnet1*", "--json").stdout)["models"]
    assert "timm:resnet18" in {m["name"] for m in timm}
    assert all(m["plugin"] == "shrinkbench-timm" for m in timm)


def faulty(name: str) -> dict[str, str]:
    """Environment registering one of tests/fixture_plugins as a plugin."""
    from pathlib import Path

    return {"SHRINKBENCH_PLUGINS": name, "PYTHONPATH": str(Path(__file__).parent / "fixture_plugins")}


def test_a_misspelled_hook_is_reported_and_the_rest_works(shrinkbench):
    result = shrinkbench("list", "plugins", "--json", **faulty("misspelled_hook"))
    plugin = next(p for p in json.loads(result.stdout)["plugins"] if p["name"] == "misspelled_hook")
    assert plugin["status"] == "failed" and "shrinkbench_strategy" in plugin["error"]
    listed = json.loads(shrinkbench("list", "strategies", "--json", **faulty("misspelled_hook")).stdout)
    assert "global-magnitude" in {s["name"] for s in listed["strategies"]}


def test_a_name_clash_with_a_built_in_names_both_and_the_rest_works(shrinkbench, tmp_path):
    result = shrinkbench("list", "plugins", "--json", **faulty("clashing_name"))
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["clashing_name"]["status"] == "conflict"
    assert "'random' is provided by both" in plugins["clashing_name"]["error"]
    bench = shrinkbench("bench", "-s", "random", "--out", str(tmp_path / "out"), **faulty("clashing_name"))
    assert bench.returncode == 2 and "shrinkbench-random" in bench.stderr and "clashing_name" in bench.stderr
    other = shrinkbench("list", "strategies", "global-*", "--json", **faulty("clashing_name"))
    assert other.returncode == 0 and json.loads(other.stdout)["strategies"]
