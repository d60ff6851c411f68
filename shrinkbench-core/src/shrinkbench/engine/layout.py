"""How many runs execute at once and with how many threads and GPUs each: the parallel layout of a sweep.

``--jobs auto`` and ``--threads auto`` (the defaults) are decided here, by a documented rule, from what the
executor can use (its :class:`~shrinkbench.tasks.Capacity`) and how big a run of the model is
(:class:`ModelProfile`); explicit values always win. The rule, measured on small CPU models (independent runs
in separate processes scale almost perfectly, threads inside one small run do not):

- **CPU**: as many runs at once as there are cores, one thread each, unless memory says otherwise: every run
  needs about :meth:`ModelProfile.run_bytes` (weights, gradients, optimizer state and masks, the training
  activations of a batch, the in-memory dataset), and at most 70% of the available memory is spent. Fewer runs
  at once share the cores as threads (``threads = cores // jobs``), so a large model gets fewer processes with
  more threads. Dense models (one per seed) follow the same rule among themselves. Worker processes cost about
  :data:`START_SECONDS` to start (Python and torch): when the whole sweep would take less than that to gain
  (:meth:`ModelProfile.run_seconds`, an estimate from the MACs: 3 x forward MACs per training example at
  :data:`MACS_PER_SECOND` per thread, plus :data:`RUN_OVERHEAD_SECONDS` of evaluation and metrics), it runs in
  this process, one run at a time, with every core as threads.
- **GPU**: runs are packed by their estimated peak GPU memory (:meth:`ModelProfile.run_bytes` on the GPU:
  weights, gradients, optimizer state, masks, the training activations at the larger of the two recipes' batch
  sizes, the in-memory dataset) against the memory of the executor's smallest GPU
  (:attr:`~shrinkbench.tasks.Capacity.gpu_memory`, measured by every executor): a small model (under 5M
  parameters: kernel-launch bound) shares a GPU with up to 3 others (``gpus_per_run = 1/4``) as long as that
  many fit in :data:`MEMORY_SHARE` of the GPU's memory and the CPU cores can feed them (one core per run); a
  larger model gets a GPU of its own. Dense models are packed the same way (they are tasks with the same
  resources). A run whose least need (:meth:`ModelProfile.least_run_bytes`: the activations counted once)
  exceeds the GPU's whole memory is refused before anything starts, with the numbers; the estimates are for
  fp32 (autocast to bf16/fp16 needs less). When no executor can say its GPUs' memory, small models share a GPU by the parameter rule alone.
- **remote executors** (a cluster): ``jobs`` is left to the executor (every node runs what its resources hold);
  each run asks for 1 CPU (2 for a model with 5M parameters or more) and the GPUs above -- or the CPUs the
  executor gives every task (:attr:`~shrinkbench.tasks.Capacity.cpus_per_task`), which its threads follow.

The choice is printed in the sweep's header line and recorded in ``sweep.json``. This module imports neither
torch nor any plugin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ShrinkBenchError
from ..tasks import Capacity

__all__ = ["Layout", "ModelProfile", "choose_layout", "gpu_share", "profile_of"]

MEMORY_SHARE = 0.7
START_SECONDS = 3.0
RUN_OVERHEAD_SECONDS = 0.3
MACS_PER_SECOND = 2e10
SMALL_PARAMETERS = 5_000_000
RUNS_PER_GPU = 4
PROCESS_BYTES = 600 * 2**20  # a Python process with torch imported


@dataclass(frozen=True)
class ModelProfile:
    """How big a run of one model on one dataset is: ``parameters``, activation bytes of one example's forward
    pass, the training batch size and the bytes of the dataset held in memory (0 for image folders)."""

    parameters: int
    activation_bytes: float
    batch_size: int
    dataset_bytes: int = 0
    macs: float = 0.0
    train_examples: int = 0
    epochs: int = 0

    def run_seconds(self, threads: int = 1) -> float:
        """A rough estimate of one run's time on the CPU with ``threads`` threads (see the module docstring)."""
        compute = 3 * self.macs * self.train_examples * self.epochs / (MACS_PER_SECOND * max(threads, 1))
        return RUN_OVERHEAD_SECONDS + compute

    def run_bytes(self, on_gpu: bool = False) -> int:
        """Memory one run needs, roughly: 5 float32 copies of the weights (weights, gradients, two optimizer
        buffers, mask multipliers), the training activations of a batch (kept for the backward pass, about 3x
        the forward's), the dataset, and on the CPU the process itself."""
        total = 20 * self.parameters + 3 * self.activation_bytes * self.batch_size + self.dataset_bytes
        return int(total + (0 if on_gpu else PROCESS_BYTES))

    def least_run_bytes(self) -> int:
        """The least GPU memory a run can need: the 5 copies of the weights of :meth:`run_bytes`, the forward
        pass's activations of a batch once (what autograd keeps for the backward pass) and the dataset. A run
        whose least need exceeds a GPU's memory cannot fit it; :meth:`run_bytes` (3x the activations, for the
        backward pass's working memory) is what runs are packed by."""
        return int(20 * self.parameters + self.activation_bytes * self.batch_size + self.dataset_bytes)


@dataclass(frozen=True)
class Layout:
    """The parallel layout: ``jobs`` runs at once (``None``: as the executor's resources allow), ``threads``
    torch threads (= CPUs) per run, ``gpus_per_run``; the same for the dense models (``dense_jobs``,
    ``dense_threads``); ``reason`` says why in words."""

    jobs: int | None
    threads: int
    gpus_per_run: float
    dense_jobs: int | None
    dense_threads: int
    reason: str

    def describe(self, device: str) -> str:
        """E.g. ``2 runs at a time x 1 thread on cpu (auto: 2 cores, ...)``."""
        at_once = "as many runs at a time as the executor's resources hold" if self.jobs is None else (
            f"{self.jobs} run{'s' if self.jobs != 1 else ''} at a time")
        gpus = f", {self.gpus_per_run:g} GPU each" if self.gpus_per_run else ""
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{at_once} x {threads}{gpus} on {device} ({self.reason})"


def _by_memory(profile: ModelProfile, memory: int | None, on_gpu: bool) -> int:
    if not memory:
        return 1 << 30
    return max(1, math.floor(MEMORY_SHARE * memory / max(profile.run_bytes(on_gpu), 1)))


def gpu_share(profile: ModelProfile, gpu_memory: int | None) -> int:
    """How many runs of ``profile`` share one GPU of ``gpu_memory`` bytes (before the CPU cores are counted):
    up to :data:`RUNS_PER_GPU` for a small model, as many as fit in :data:`MEMORY_SHARE` of the memory (at least
    one); one for a larger model."""
    if profile.parameters >= SMALL_PARAMETERS:
        return 1
    if gpu_memory is None:
        return RUNS_PER_GPU
    return max(1, min(RUNS_PER_GPU, math.floor(MEMORY_SHARE * gpu_memory / max(profile.run_bytes(on_gpu=True), 1))))


def choose_layout(capacity: Capacity, profile: ModelProfile, runs: int, dense: int, *, gpu: bool, remote: bool,
                  memory: int | None, jobs: int | None = None, threads: int | None = None,
                  gpus_per_run: float | None = None) -> Layout:
    """The layout for ``runs`` runs and ``dense`` dense models on ``capacity`` (see the module docstring);
    ``gpu``: runs use GPUs; ``memory``: bytes of host memory available (``None``: unknown); ``jobs``,
    ``threads``, ``gpus_per_run``: the user's explicit values, which win."""
    cores = max(1, int(capacity.cpus))
    small = profile.parameters < SMALL_PARAMETERS
    reasons = []
    if capacity.cpus_per_task is not None and threads is None:
        threads = max(1, math.floor(capacity.cpus_per_task))
    if gpu:
        need, least = profile.run_bytes(on_gpu=True), profile.least_run_bytes()
        if capacity.gpu_memory is not None and least > capacity.gpu_memory:
            raise ShrinkBenchError(f"a run needs at least {least / 2**30:.1f} GiB of GPU memory (weights, optimizer "
                                   f"state and the activations of a batch of {profile.batch_size}), more than the "
                                   f"{capacity.gpu_memory / 2**30:.1f} GiB of the GPU; use a smaller batch size "
                                   "(--batch-size) or a GPU with more memory")
        if gpus_per_run is None:
            share = gpu_share(profile, capacity.gpu_memory)
            share = max(1, min(share, cores // max(1, int(capacity.gpus) or 1)))
            gpus_per_run = 1 / share
            memory = "" if capacity.gpu_memory is None else (
                f" (~{need / 2**30:.2g} GiB each of {capacity.gpu_memory / 2**30:.0f} GiB)")
            reasons.append(f"{share} run{'s' if share > 1 else ''} per GPU{memory}")
        slots = min(cores, math.floor(max(capacity.gpus, 1) / gpus_per_run + 1e-9))
    else:
        gpus_per_run = 0.0
        slots = cores
    if remote:
        chosen_jobs = jobs
        chosen_threads = threads or (1 if small else 2)
        reasons.append(f"{chosen_threads} CPU{'s' if chosen_threads > 1 else ''} per run on the cluster")
        return Layout(chosen_jobs, chosen_threads, gpus_per_run, jobs, chosen_threads, "auto: " + ", ".join(reasons))
    limit = _by_memory(profile, None if gpu else memory, gpu)  # on a GPU, its memory set gpus_per_run
    chosen_jobs = jobs or max(1, min(slots, max(runs, 1), limit))
    if jobs is None and chosen_jobs > 1 and runs * profile.run_seconds() * (1 - 1 / chosen_jobs) < START_SECONDS:
        chosen_jobs = 1
        reasons.append(f"{runs} short run{'s' if runs != 1 else ''}: not worth starting worker processes")
    if jobs is None:
        reasons.insert(0, f"{cores} core{'s' if cores > 1 else ''}")
        if limit < min(slots, max(runs, 1)):
            reasons.append(f"memory for {limit} run{'s' if limit > 1 else ''} of ~{profile.run_bytes(gpu) / 2**30:.1f} GiB")
    chosen_threads = threads or max(1, cores // chosen_jobs)
    dense_jobs = min(jobs or max(1, min(cores, max(dense, 1), limit)), max(dense, 1))
    dense_threads = threads or max(1, cores // dense_jobs)
    reason = "auto: " + ", ".join(reasons) if (jobs is None or threads is None) and reasons else "as given"
    return Layout(chosen_jobs, chosen_threads, gpus_per_run, dense_jobs, dense_threads, reason)


def profile_of(built: Any, experiment: Any, splits: Any) -> ModelProfile:
    """How big a run of ``built`` is (see :class:`ModelProfile`): parameters, activations and MACs of one
    example of ``splits`` (``None``: a 1x1x1 image), the training examples and the epochs of ``experiment``."""
    import torch

    from ..metrics import MetricContext
    from ..metrics.flops import count
    from ..metrics.memory import measure
    from ..pruning import count_parameters

    example = splits.example_input() if splits is not None else torch.zeros(1, 1, 1, 1)
    try:
        activation = measure(MetricContext(built, example))["activation_bytes"]
    except Exception:  # noqa: BLE001 - a profile is an estimate: an unusual model just gets a conservative one
        activation = 0.0
    try:
        macs = count(built, example)["macs"]
    except Exception:  # noqa: BLE001 - likewise: unknown MACs make every run count as short
        macs = 0.0
    dataset_bytes = train_examples = 0
    if splits is not None:
        train_examples = len(splits.train)
        dataset_bytes = int(train_examples * math.prod(splits.input_shape))  # uint8 images held in memory
    batch = max(experiment.pretrain.batch_size, experiment.finetune.batch_size)  # dense models run on the GPU too
    return ModelProfile(count_parameters(built), activation, batch, dataset_bytes, macs, train_examples,
                        experiment.finetune.epochs)
