"""``shrinkbench cache list|clear``: every dense unit listed (damaged ones as damaged, never a crash), clearing
asks first or refuses without a terminal, removes only what is ShrinkBench's and says how much it freed."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from shrinkbench.engine import cache_units
from shrinkbench.engine.config import Recipe
from shrinkbench.engine.experiment import DenseKey


def make_unit(cache: Path, seed: int = 0, rewind: tuple[int, ...] = (), top1: float = 0.5) -> Path:
    """A dense unit laid out as engine/dense.py writes one (weights are any bytes: listing never loads them)."""
    key = DenseKey("toy-blobs", "toy-mlp", Recipe(epochs=3, lr=0.05), seed, 0.1, None, rewind, {})
    unit = cache / "dense" / key.digest()
    unit.mkdir(parents=True)
    meta = {"key": json.loads(json.dumps(asdict(key), default=str)), "dense_top1": top1, "epochs": [{}, {}, {}],
            "device": "cpu"}
    (unit / "meta.json").write_text(json.dumps(meta))
    (unit / "weights.safetensors").write_bytes(b"w" * 1000)
    for epoch in rewind:
        (unit / f"epoch{epoch}.safetensors").write_bytes(b"e" * 10)
    return unit


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache directory for in-process calls (``SHRINKBENCH_CACHE``)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(root))
    return root


@pytest.fixture
def invoke(cache):
    """Run ``shrinkbench cache ARGS`` in process; returns click's Result."""
    from click.testing import CliRunner

    from shrinkbench_cli.main import cli

    return lambda *args, **kwargs: CliRunner().invoke(cli, ["cache", *args], **kwargs)


def damaged_cache(cache: Path) -> dict[str, Path]:
    """Two good units and one of every kind of damage."""
    units = {"good": make_unit(cache), "rewind": make_unit(cache, seed=1, rewind=(0, 2))}
    units["no-meta"] = cache / "dense" / "0123456789abcdef"
    units["no-meta"].mkdir()
    (units["no-meta"] / "weights.safetensors").write_bytes(b"w")
    units["bad-json"] = cache / "dense" / "fedcba9876543210"
    units["bad-json"].mkdir()
    (units["bad-json"] / "meta.json").write_text("{")
    units["moved"] = cache / "dense" / "aaaaaaaaaaaaaaaa"
    units["good"].rename(units["moved"])
    units["good"] = make_unit(cache)
    units["no-rewind"] = make_unit(cache, seed=2, rewind=(1,))
    (units["no-rewind"] / "epoch1.safetensors").unlink()
    units["file"] = cache / "dense" / "stray.txt"
    units["file"].write_text("x")
    units["unfinished"] = cache / "dense" / ".0000000000000000.abc.tmp"
    units["unfinished"].mkdir()
    return units


def test_list_reads_every_unit_and_marks_the_damaged_ones(cache):
    units = damaged_cache(cache)
    found = {u.path: u for u in cache_units.list_dense()}
    assert set(found) == set(units.values())
    good = found[units["good"]]
    assert (good.status, good.dataset, good.model, good.seed, good.dense_top1) == ("ok", "toy-blobs", "toy-mlp", 0, 0.5)
    assert good.recipe == "3 ep sgd lr 0.05 cosine bs 64" and good.epochs_logged == 3 and good.size > 1000
    assert found[units["rewind"]].status == "ok" and found[units["rewind"]].rewind_epochs == (0, 2)
    problems = {name: found[units[name]].problem for name in ("no-meta", "bad-json", "moved", "no-rewind", "file")}
    assert problems == {"no-meta": "no meta.json", "bad-json": "meta.json is not valid JSON",
                        "moved": "its key does not match the directory name (moved, copied or edited)",
                        "no-rewind": "no epoch1.safetensors (a rewind checkpoint of its key)",
                        "file": "not a directory"}
    assert all(found[units[n]].status == "damaged" for n in problems)
    assert found[units["unfinished"]].status == "unfinished"


def test_list_prints_one_line_per_unit_and_the_other_sizes(cache, invoke):
    units = damaged_cache(cache)
    (cache / "names").mkdir()
    (cache / "names" / "timm-1.json").write_text("[]" * 50)
    (cache / "plugins").mkdir()
    (cache / "plugins" / "clean-1").write_text("ok")
    result = invoke("list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    total = _human(cache_units.summarize().total)
    assert lines[0] == f"cache {cache}: 2 dense models, 6 damaged or unfinished; {total} in all"
    row = next(line for line in lines if line.endswith(str(units["good"])))
    assert row.split()[:4] == ["toy-blobs", "toy-mlp", "0", "3"] and "0.5000" in row
    assert any(line.startswith(f"  damaged: {units['bad-json']} ") and line.endswith("meta.json is not valid JSON")
               for line in lines)
    assert lines[-1] == "name lists: 100 B (1 file); plugin probe records: 2 B (1 file)"


def test_list_json(cache, invoke):
    units = damaged_cache(cache)
    (cache / "mine.txt").write_text("not ShrinkBench's")
    data = json.loads(invoke("list", "--json").stdout)
    assert data["cache"] == str(cache) and data["other"] == ["mine.txt"]
    by_path = {u["path"]: u for u in data["dense"]}
    good = by_path[str(units["good"])]
    assert good["status"] == "ok" and good["pretrain"]["epochs"] == 3 and good["pretrain_summary"].startswith("3 ep")
    assert by_path[str(units["no-meta"])]["status"] == "damaged"
    assert data["total_bytes"] == sum(u["size"] for u in data["dense"]) + data["names"]["bytes"] + data["plugins"]["bytes"]
    assert invoke("list", "--json", "--no-json").stdout.startswith("cache ")


def test_an_empty_or_missing_cache_lists_nothing(cache, invoke):
    result = invoke("list")
    assert result.exit_code == 0 and result.stdout.startswith(f"cache {cache}: 0 dense models; 0 B in all")
    assert invoke("clear", "--yes").stdout == f"nothing to remove: no dense models in {cache}\n"
    assert not cache.exists()


def test_clear_without_a_terminal_refuses_unless_yes(cache, invoke):
    units = damaged_cache(cache)
    refused = invoke("clear")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.startswith("error: cache clear would remove 8 items (dense models, ")
    assert "pass --yes to confirm" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert all(path.exists() for path in units.values())


def test_clear_yes_removes_dense_units_only_and_says_what_it_freed(cache, invoke):
    units = damaged_cache(cache)
    (cache / "names").mkdir()
    (cache / "names" / "timm-1.json").write_text("[]")
    (cache / "mine.txt").write_text("keep me")
    size = sum(cache_units.tree_size(p)[0] for p in units.values())
    result = invoke("clear", "--yes")
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in units.values())
    assert (cache / "names" / "timm-1.json").exists() and (cache / "mine.txt").read_text() == "keep me"
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"removed {units['good']}: dense toy-mlp on toy-blobs, seed 0 (") for line in lines)
    assert lines[-1] == f"removed 8 items from {cache}: {_human(size)} freed ({size} bytes)"


def test_clear_all_also_removes_name_lists_and_probe_records_but_nothing_else(cache, invoke):
    make_unit(cache)
    for folder in ("names", "plugins"):
        (cache / folder).mkdir()
        (cache / folder / "x").write_text("x")
    (cache / "mine.txt").write_text("keep me")
    result = invoke("clear", "--all", "-y")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in cache.iterdir()) == ["dense", "mine.txt"] and not any((cache / "dense").iterdir())
    assert "plugin probe records (1 file)" in result.stdout


@pytest.mark.parametrize(("answer", "removed"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_clear_asks_on_a_terminal(cache, invoke, monkeypatch, answer, removed):
    from shrinkbench_cli.commands import cache as command

    unit = make_unit(cache)
    monkeypatch.setattr(command, "_interactive", lambda: True)
    result = invoke("clear", input=answer)
    assert result.exit_code == 0, result.output
    assert "Remove 1 item (dense models, " in result.stderr and str(unit) in result.stderr
    assert unit.exists() is not removed
    assert ("removed 1 item from" in result.stdout) is removed and ("nothing was removed" in result.stdout) is not removed


def test_nothing_is_removed_when_one_entry_cannot_be(cache, monkeypatch):
    units = [make_unit(cache, seed=s) for s in range(3)]
    real = cache_units.os.access
    monkeypatch.setattr(cache_units.os, "access", lambda p, mode: Path(p) != units[1] and real(p, mode))
    with pytest.raises(cache_units.ShrinkBenchError, match="is not writable; nothing was removed"):
        cache_units.remove(cache_units.removal_plan("dense"))
    assert all(unit.exists() for unit in units)


def test_a_unit_a_real_sweep_wrote_is_listed_whole(run_cli, tmp_path):
    """The listing reads the layout engine/dense.py really writes (its key digest names the folder)."""
    from shrinkbench.engine import dense

    assert (cache_units.WEIGHTS, cache_units.META) == (dense.WEIGHTS, dense.META)
    ran = run_cli("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-s", "toy-magnitude", "-c", "2", "--schedule",
                  "iterative", "--schedule-option", "rewind_epoch=1", "--pretrain-epochs", "2", "--finetune-epochs",
                  "1", "--out", str(tmp_path / "out"), "--no-report")
    assert ran.returncode == 0, ran.stderr
    listed = json.loads(run_cli("cache", "list", "--json").stdout)["dense"]
    assert [(u["status"], u["dataset"], u["model"], u["seed"], u["rewind_epochs"]) for u in listed] == [
        ("ok", "toy-blobs", "toy-mlp", 0, [1])]
    assert listed[0]["dense_top1"] is not None and listed[0]["epochs_logged"] == 2
    cleared = run_cli("cache", "clear", "--yes")
    assert cleared.returncode == 0 and not Path(listed[0]["path"]).exists()


def _human(size: int) -> str:
    from shrinkbench_cli.commands.data import human

    return human(size)
