"""``shrinkbench list strategies --model M``: which strategies apply to a model, by the rule ``bench`` uses."""

from __future__ import annotations

import json
import sys

from conftest import TOY_DIR

sys.path.insert(0, str(TOY_DIR))
import toy_plugin  # noqa: E402

from shrinkbench import StrategySpec, hookimpl  # noqa: E402


class NeedsConv:
    """An inline plugin whose strategy prunes convolutions only."""

    @staticmethod
    @hookimpl
    def shrinkbench_strategies():
        return [StrategySpec("conv-only", "Prunes convolutions", toy_plugin.toy_magnitude, requires=("conv",))]


def listing(monkeypatch, *args: str) -> dict:
    from click.testing import CliRunner

    import shrinkbench_cli.commands.list_cmd as list_cmd
    from shrinkbench.plugins import load_registry

    registry = load_registry(inline=[("toy", toy_plugin), ("needs-conv", NeedsConv)], entry_points=False)
    monkeypatch.setattr(list_cmd, "get_registry", lambda: registry)
    result = CliRunner().invoke(list_cmd.list_command, ["strategies", *args, "--json"])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.output)["strategies"]}


def test_applies_says_what_the_model_lacks(monkeypatch):
    on_mlp = listing(monkeypatch, "--model", "toy-mlp", "--dataset", "toy-blobs")
    assert on_mlp["conv-only"]["applies"] == "no: no convolution"
    assert on_mlp["conv-only"]["requires"] == ["conv"]
    assert on_mlp["toy-magnitude"]["applies"] == on_mlp["toy-shrink"]["applies"] == "yes"
    on_conv = listing(monkeypatch, "--model", "toy-conv", "--dataset", "toy-blobs")
    assert on_conv["conv-only"]["applies"] == "yes"


def test_without_a_model_there_is_no_applies_column(monkeypatch):
    rows = listing(monkeypatch)
    assert "applies" not in rows["conv-only"] and rows["toy-shrink"]["requires"] == ["linear"]
