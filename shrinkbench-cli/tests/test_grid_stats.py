"""Kendall's tau-b and the confounders section (axes, rankings, per-seed taus, rank flips beyond seed noise)
against small tables checked by hand, ties and single seeds included. The tables are written as real results
directories (results.csv + sweep.json) and read back through the report's loader."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from shrinkbench import schema
from shrinkbench_cli.reporting.confounders import confounders, difference, variant_axes
from shrinkbench_cli.reporting.kendall import tau_b
from shrinkbench_cli.reporting.results import load_directory


@pytest.mark.parametrize(("x", "y", "expected"), [
    ([1, 2, 3, 4], [1, 2, 3, 4], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, 3], [1, 3, 2], 1 / 3),  # pairs (0,1) c, (0,2) c, (1,2) d
    # (0,1) c, (0,2) c, (0,3) c, (1,2) tied in x, (1,3) c, (2,3) tied in y: 4 / sqrt(5 * 5)
    ([1, 2, 2, 3], [1, 2, 3, 3], 0.8),
    # (0,1) tied in both (counts in n1 and n2), (0,2) d, (1,2) d: -2 / sqrt(2 * 2)
    ([1, 1, 2], [5, 5, 1], -1.0),
    # (0,1) tied y, (0,2) c, (0,3) d, (1,2) tied x, (1,3) d, (2,3) d: (1 - 3) / sqrt(5 * 5)
    ([0.9, 0.8, 0.8, 0.7], [0.85, 0.85, 0.80, 0.90], -0.4),
])
def test_tau_b_hand_checked(x, y, expected):
    assert tau_b(x, y) == pytest.approx(expected)
    assert tau_b(y, x) == pytest.approx(expected)  # symmetric


@pytest.mark.parametrize(("x", "y"), [([], []), ([0.5], [0.7]), ([1, 1, 1], [1, 2, 3]), ([1, 2, 3], [4, 4, 4])])
def test_tau_b_undefined_is_nan(x, y):
    assert math.isnan(tau_b(x, y))


def test_tau_b_refuses_unpaired_or_nan_values():
    with pytest.raises(ValueError):
        tau_b([1, 2], [1])
    with pytest.raises(ValueError):
        tau_b([1, math.nan], [1, 2])


# -- a hand-made grid -------------------------------------------------------------------------------------

A, B, C = "a-strategy", "b-strategy", "c-strategy"
T1 = {  # pair (toy-d, toy-m), target 4: top-1 of seeds 0, 1, 2
    "default": {A: [0.90, 0.91, 0.92], B: [0.85, 0.86, 0.87], C: [0.80, 0.80, 0.80]},
    "lr-high": {A: [0.80, 0.81, 0.82], B: [0.85, 0.86, 0.87], C: [0.805, 0.815, 0.795]},
    "lr-low": {A: [0.90, 0.91, 0.92], B: [0.905, 0.915, 0.925], C: [0.80, 0.80, 0.80]},
}
T2 = {  # pair (toy-d, toy-m2), target 8: one seed each, a tie under default
    "default": {A: [0.9], B: [0.9], C: [0.8]},
    "other-dense": {A: [0.7], B: [0.9], C: [0.8]},
}
CHANGES = {"default": {}, "lr-high": {"lr": 0.05}, "lr-low": {"lr": 0.001}, "other-dense": {"dense_seed_offset": 100}}


def fixed(model: str, variant: str) -> dict:
    changes = CHANGES[variant]
    return {"dataset": "toy-d", "model": model, "variant": variant,
            "finetune": {"epochs": 1, "lr": changes.get("lr", 0.01)}, "dense_seed_offset": changes.get("dense_seed_offset", 0)}


def write_grid(directory: Path, tables: dict[tuple[str, float], dict]) -> Path:
    """A results directory holding ``tables``: {(model, target): {variant: {strategy: [top-1 per seed]}}}."""
    directory.mkdir(parents=True)
    experiments, rows = {}, []
    for (model, target), table in tables.items():
        for variant, by_strategy in table.items():
            slug = f"toy-d-{model}" + ("" if variant == "default" else f"-{variant}")
            experiments[slug] = {"fixed": fixed(model, variant), "fingerprint": f"fp-{slug}"}
            for strategy, values in by_strategy.items():
                for seed, top1 in enumerate(values):
                    rows.append({schema.RUN_ID: f"{slug}/{strategy}_c{target:g}_s{seed}", schema.DATASET: "toy-d",
                                 schema.MODEL: model, schema.VARIANT: variant, schema.STRATEGY: strategy,
                                 schema.SCHEDULE: "oneshot", schema.SEED: seed, schema.TARGET: target,
                                 schema.COMPRESSION: target, schema.TOP1: top1, schema.DENSE_TOP1: 0.95,
                                 schema.STATUS: schema.STATUS_OK})
    (directory / "sweep.json").write_text(json.dumps({"version": 2, "experiments": experiments}))
    with (directory / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=schema.order_columns(rows[0]))
        writer.writeheader()
        writer.writerows({k: schema.format_value(v) for k, v in r.items()} for r in rows)
    return directory


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    return load_directory(write_grid(tmp_path_factory.mktemp("grid") / "g", {("toy-m", 4.0): T1, ("toy-m2", 8.0): T2}))


def test_axes_group_variants_by_the_keys_they_change(grid):
    axes = variant_axes(grid)
    assert [(a.keys, a.base, a.variants) for a in axes] == [
        (("finetune.lr",), "default", ("default", "lr-high", "lr-low")),
        (("dense_seed_offset",), "default", ("default", "other-dense")),
    ]


def test_without_a_default_variant_the_first_is_the_base(tmp_path):
    directory = load_directory(write_grid(tmp_path / "g", {("toy-m", 4.0): {"lr-high": T1["lr-high"],
                                                                            "lr-low": T1["lr-low"]}}))
    (axis,) = variant_axes(directory)
    assert (axis.keys, axis.base, axis.variants) == (("finetune.lr",), "lr-high", ("lr-high", "lr-low"))


def test_rankings_taus_and_flips_of_a_hand_checked_table(grid):
    lr, dense = confounders(grid)
    (ranking,) = lr.rankings
    assert (ranking.dataset, ranking.model, ranking.target) == ("toy-d", "toy-m", 4.0)
    assert [c.method for c in ranking.by_variant["default"]] == [A, B, C]
    assert [c.method for c in ranking.by_variant["lr-high"]] == [B, A, C]
    assert [c.method for c in ranking.by_variant["lr-low"]] == [B, A, C]
    high, low = ranking.taus
    # means: default A > B > C; lr-high B > A > C: pairs (A,B) d, (A,C) c, (B,C) c -> 1/3
    assert (high.variant, high.means) == ("lr-high", pytest.approx(1 / 3))
    # per seed: seed 0 (A,B) d (A,C) d (B,C) c -> -1/3; seed 1 -> -1/3; seed 2 (A,C) c -> 1/3
    assert high.seeds == 3 and high.seed_mean == pytest.approx(-1 / 9)
    assert high.seed_std == pytest.approx(math.sqrt(12) / 9)  # deviations -2/9, -2/9, 4/9; variance 24/81 / 2
    assert (low.variant, low.means, low.seeds) == ("lr-low", pytest.approx(1 / 3), 3)
    # A beats B by 0.05 under default and loses by 0.05 under lr-high, se 0.01 * sqrt(2/3) each: a flip.
    # Under lr-low A loses by 0.005 < se: a sign change within noise. lr-high vs lr-low agree.
    (flip,) = lr.flips
    se = 0.01 * math.sqrt(2 / 3)
    assert (flip.winner, flip.loser, flip.first, flip.second) == (A, B, "default", "lr-high")
    assert (flip.first_diff, flip.first_se) == (pytest.approx(0.05), pytest.approx(se))
    assert (flip.second_diff, flip.second_se) == (pytest.approx(-0.05), pytest.approx(se))
    assert lr.within_noise == 1


def test_ties_and_single_seeds(grid):
    _, dense = confounders(grid)
    (ranking,) = dense.rankings
    assert ranking.target == 8.0
    default = ranking.by_variant["default"]
    assert [c.method for c in default] == [A, B, C] and default[0].mean == default[1].mean  # a tie, by name
    (tau,) = ranking.taus
    # x = (.9, .9, .8), y = (.7, .9, .8): (A,B) tied in x, (A,C) d, (B,C) c -> 0 / sqrt(2 * 3)
    assert tau.means == pytest.approx(0.0)
    assert (tau.seed_mean, tau.seed_std, tau.seeds) == (pytest.approx(0.0), 0.0, 1)
    # (A,C) changes sign, but with one seed there is no measured noise: never a flip. (A,B) is tied: no change.
    assert dense.flips == [] and dense.within_noise == 1


def test_difference_and_its_standard_error(grid):
    from shrinkbench_cli.reporting.confounders import cells

    experiment = next(e for e in grid.experiments if e.variant == "lr-high")
    by_method = cells(experiment, 4.0)
    diff, se = difference(by_method[A], by_method[C])
    assert diff == pytest.approx(0.005)
    assert se == pytest.approx(math.sqrt(0.01**2 / 3 + 0.01**2 / 3))
    assert by_method[A].by_seed == {0: 0.80, 1: 0.81, 2: 0.82}


def test_compression_one_is_left_out(tmp_path):
    table = {v: {s: vals for s, vals in t.items()} for v, t in T1.items() if v != "lr-low"}
    directory = load_directory(write_grid(tmp_path / "g", {("toy-m", 1.0): table, ("toy-m", 4.0): table}))
    (report,) = confounders(directory)
    assert [r.target for r in report.rankings] == [4.0]
