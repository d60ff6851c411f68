"""The ``ray`` executor on a multi-node Ray cluster, simulated on this machine with ``ray.cluster_utils.Cluster``:
a head node without CPUs (the driver's node: it runs no run), a CPU node and a node that advertises one GPU
(a fake one: Ray schedules on it, torch finds no GPU there). The driver connects through the ``address``
option, as users do; with an address, files travel through Ray (``files = driver``)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from shrinkbench import ShrinkBenchError, schema  # noqa: E402
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, resolve, run_sweep  # noqa: E402
from shrinkbench.engine.events import TaskStarted  # noqa: E402
from shrinkbench.engine.run import NODE_VAR  # noqa: E402
from shrinkbench.plugins import load_registry  # noqa: E402
from shrinkbench_ray import executor as ray_executor  # noqa: E402
from shrinkbench_ray.executor import RayExecutor, local_temp_dir  # noqa: E402

VARYING = schema.TIMINGS | {schema.NODE}
RUN_FILES = {"config.json", "metrics.json", "log.csv", "weights.safetensors"}
KINDS = {"cpu": {"num_cpus": 2, "num_gpus": 0}, "gpu": {"num_cpus": 2, "num_gpus": 1}}


class Nodes:
    """The module's cluster and its worker nodes by kind; a test that removes one leaves it to :meth:`ensure`
    to replace it for the next."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.workers: dict[str, object] = {}

    def ensure(self) -> Nodes:
        for kind, resources in KINDS.items():
            if self.workers.get(kind) not in self.cluster.worker_nodes:
                self.workers[kind] = self.cluster.add_node(**resources)
        self.cluster.wait_for_nodes()
        return self

    def name(self, kind: str) -> str:
        """What a run's ``node`` column says for the worker node of ``kind``."""
        return _node_name(self.workers[kind].node_id)

    def kind_of(self, node: str) -> str | None:
        return next((kind for kind in self.workers if self.name(kind) == node), None)

    def remove(self, kind: str) -> None:
        self.cluster.remove_node(self.workers.pop(kind))


def _node_name(node_id: str) -> str:
    import platform

    return f"{platform.node()}/{node_id[:8]}"


@pytest.fixture(scope="module")
def module_cluster():
    """A head without CPUs and the two worker nodes; the driver joins it as the executor does with the
    ``address`` option, once for the module, so the tests share Ray's worker processes (sweeps then find the
    driver connected and keep the connection)."""
    temp_dir = local_temp_dir()
    with pytest.MonkeyPatch.context() as patch:
        if temp_dir:  # Cluster writes its address file under $RAY_TMPDIR whatever the head's temp_dir says
            patch.setenv("RAY_TMPDIR", os.path.dirname(temp_dir))
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "include_dashboard": False, **({"temp_dir": temp_dir} if temp_dir else {})})
        nodes = Nodes(cluster)
        try:
            nodes.ensure()
            with RayExecutor(address=cluster.address):
                yield nodes
        finally:
            cluster.shutdown()


@pytest.fixture
def nodes(module_cluster) -> Nodes:
    """The cluster with both worker nodes up."""
    return module_cluster.ensure()


def config(nodes: Nodes, **changes) -> SweepConfig:
    base = dict(dataset="ray-blobs", model="ray-mlp", pretrain=Recipe(epochs=2, lr=0.05),
                finetune=Recipe(epochs=1, lr=0.01, lr_schedule="constant"), strategies=("ray-magnitude",),
                compressions=(2.0, 4.0, 8.0), seeds=(0, 1), threads=1, device="cpu", executor="ray",
                executor_options=(("address", nodes.cluster.address),))
    return SweepConfig(**{**base, **changes})


def rows(directory: Path) -> dict:
    found = ResultsStore(directory).raw_rows()
    by_id = {r["run_id"]: {k: v for k, v in r.items() if k not in VARYING} for r in found}
    assert len(by_id) == len(found), "a run has two rows"
    return by_id


def assert_same_rows(found: dict, expected: dict) -> None:
    """``found == expected``, or an error naming the columns that differ."""
    assert found.keys() == expected.keys()
    differ = {run_id: {k: (v, expected[run_id].get(k)) for k, v in row.items() if expected[run_id].get(k) != v}
              for run_id, row in found.items()}
    assert not any(differ.values()), {k: v for k, v in differ.items() if v}


def nodes_of(directory: Path) -> dict[str, str]:
    return {r["run_id"]: r[schema.NODE] for r in ResultsStore(directory).raw_rows()}


def assert_complete(directory: Path) -> None:
    for run_id in rows(directory):
        assert {p.name for p in (directory / "runs" / run_id).iterdir()} == RUN_FILES, run_id


@pytest.fixture(scope="module")
def sequential(module_cluster, tmp_path_factory) -> Path:
    """The sweep through the sequential executor (its dense models land in the session's cache)."""
    out = tmp_path_factory.mktemp("sequential")
    run_sweep(load_registry(), config(module_cluster, executor=None, executor_options=()), ResultsStore(out))
    return out


def test_the_executor_names_the_node_the_engine_reads():
    assert ray_executor.NODE_VAR == NODE_VAR


def test_runs_spread_over_the_worker_nodes_and_give_the_rows_of_the_sequential_executor(nodes, sequential, tmp_path):
    run_sweep(load_registry(), config(nodes), ResultsStore(tmp_path))
    assert_same_rows(rows(tmp_path), rows(sequential))
    assert len(rows(tmp_path)) == 6
    assert_complete(tmp_path)
    assert set(nodes_of(tmp_path).values()) == {nodes.name("cpu"), nodes.name("gpu")}  # the head, 0 CPUs: none


class Remover(threading.Thread):
    """Removes the node of the first ``ray-slow`` run caught in its 1 s pause (its record in $RAY_TOY_LOG, named
    ``<pid>-<start time>``, holds the node until the run ends), early enough that the run cannot finish first."""

    def __init__(self, nodes: Nodes, log: Path) -> None:
        super().__init__(daemon=True)
        self.nodes, self.log, self.stop = nodes, log, threading.Event()
        self.removed, self.error = "", None

    def run(self) -> None:
        try:
            while not self.removed and not self.stop.wait(0.02):
                for record in self.log.iterdir():
                    kind = self.nodes.kind_of(record.read_text())
                    if kind is not None and time.time() - float(record.name.split("-")[1]) < 0.6:
                        self.removed = self.nodes.name(kind)
                        self.nodes.remove(kind)
                        break
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def test_a_node_removed_mid_sweep_loses_and_duplicates_nothing(nodes, tmp_path):
    log = Path(os.environ["RAY_TOY_LOG"])
    for old in log.iterdir():
        old.unlink()
    cfg = config(nodes, strategies=("ray-slow",))
    remover = Remover(nodes, log)
    remover.start()
    try:
        run_sweep(load_registry(), cfg, ResultsStore(tmp_path))
    finally:
        remover.stop.set()
        remover.join()
    assert remover.removed and remover.error is None, remover.error or "no run was caught on a node"
    found = ResultsStore(tmp_path).raw_rows()
    assert sorted(r["run_id"] for r in found) == sorted(r.run_id for r in resolve(load_registry(), cfg).runs())
    assert all(r[schema.STATUS] == schema.STATUS_OK for r in found), [r[schema.ERROR] for r in found]
    assert_complete(tmp_path)
    cut_short = [p for p in log.iterdir() if p.read_text() == remover.removed]  # never closed: run again elsewhere
    assert cut_short and len(list(log.iterdir())) > len(found)


def test_a_driver_without_gpu_sends_cuda_runs_to_the_gpu_node(nodes, sequential, tmp_path):
    """The driver resolves no device: the runs ask for a GPU share, Ray places them on the node that advertises
    one, and there torch finds none -- a failed row from the worker, not a refusal on the driver."""
    run_sweep(load_registry(), config(nodes, device="cuda", compressions=(2.0,)), ResultsStore(tmp_path))
    found = ResultsStore(tmp_path).raw_rows()
    assert len(found) == 2 and all(r[schema.STATUS] == schema.STATUS_FAILED for r in found)
    assert all("'cuda' is not available on this worker, which was given GPU" in r[schema.ERROR] for r in found)
    assert {r[schema.NODE] for r in found} == {nodes.name("gpu")}


def test_files_come_back_to_the_driver_so_a_second_sweep_trains_no_dense_model(nodes, tmp_path, monkeypatch):
    """The driver's own cache (empty, and unknown to the workers) receives the dense models the workers train."""
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "driver-cache"))
    cfg = config(nodes, compressions=(2.0,), seeds=(0,),
                 executor_options=(("address", nodes.cluster.address), ("files", "driver")))
    started: list[str] = []
    for out in ("first", "second"):
        run_sweep(load_registry(), cfg, ResultsStore(tmp_path / out),
                  progress=lambda e: started.append(e.key) if isinstance(e, TaskStarted) else None)
        if out == "first":
            assert [r[schema.ERROR] for r in ResultsStore(tmp_path / out).raw_rows()] == [""]
            assert [k for k in started if k.startswith("dense/")], "the first sweep trained no dense model"
            started.clear()
    assert started and not [k for k in started if k.startswith("dense/")]
    assert len(list((tmp_path / "driver-cache" / "dense").iterdir())) == 1
    assert_same_rows(rows(tmp_path / "second"), rows(tmp_path / "first"))
    assert_complete(tmp_path / "second")


def test_cuda_without_a_gpu_node_is_refused_before_anything_is_written(nodes, tmp_path):
    nodes.remove("gpu")
    with pytest.raises(ShrinkBenchError, match="has no GPUs") as refused:
        run_sweep(load_registry(), config(nodes, device="cuda"), ResultsStore(tmp_path / "out"))
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "out").exists()
