"""Masking mechanisms side by side: what each adds to a training step, and whether pruned weights stay zero.

Setup (one run): torchvision ResNet-18 and ResNet-50 (10 classes), 32x32 inputs, batch 64, SGD lr 0.01 with
momentum 0.9 and weight decay 5e-4, ``torch.set_num_threads(2)``. The masks keep the 50% largest-magnitude
prunable weights (``shrinkbench.pruning.prunable_parameters``, one global threshold on the random init).

Mechanisms, each training its own copy of the same model on the same batch:

* ``dense``        no masking: the limit to approach.
* ``core``         ``shrinkbench.masking.apply_masks(model, masks).enforce(optimizer)``: pruned weights zeroed in
                   place, re-zeroed after every ``optimizer.step()`` by a step post-hook (``torch._foreach_mul_``).
* ``parametrize``  ``torch.nn.utils.parametrize``: ``weight = original * mask`` recomputed at every access.
* ``prune-hook``   ``torch.nn.utils.prune.custom_from_mask``: a forward pre-hook computes ``weight_orig * mask``.
* ``grad-hook``    pruned weights zeroed, a tensor hook multiplies each gradient by the mask, and the weights
                   are re-zeroed after each step (as core does).

Measured:

* step: zero_grad + forward + backward + step. Warm-up steps first; then per repetition one timed step of
  every mechanism, in rotating order, so drift (other load, clocks) hits all alike. The ratio to ``dense`` is
  taken within each repetition; the median (and inter-quartile range) over repetitions is reported.
* eval: one ``no_grad`` forward in eval mode, interleaved the same way.
* re-mask: core's post-step operation timed alone, against variants (per-tensor ``mul_``, a bool mask with
  ``_foreach_mul_``, ``masked_fill_`` with the inverse bool mask, ``index_fill_`` of the pruned indices), at
  50% and 10% kept; shown also as a share of the dense step.
* checks: after >= 20 steps and removing the mechanism, every pruned weight is exactly zero, and all parameters
  equal grad-hook's bit for bit. Then core vs grad-hook with SGD (momentum + wd) and with Adam, 20 fresh random
  batches of 16: bit-identical?
* ViT pitfall: a small ``torchvision.models.VisionTransformer`` (or ``vit_b_16`` at 32x32 with ``--vit-b16``)
  whose prunable weights (incl. ``MultiheadAttention.out_proj``) and ``in_proj_weight`` are masked trains 10
  steps under every mechanism: does it raise, do pruned weights stay zero?

Run:  uv run python benchmarks/masking.py            (about 4-5 minutes on 2 cores)
      uv run python benchmarks/masking.py --quick    (smoke run, under a minute)
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torch.nn.utils import parametrize, prune

from shrinkbench.masking import apply_masks
from shrinkbench.pruning import global_masks, prunable_parameters

Masks = dict[str, Tensor]


# ----------------------------------------------------------------------------------------------- mechanisms
def _split(name: str) -> tuple[str, str]:
    module, _, attr = name.rpartition(".")
    return module, attr


class Mechanism:
    """Install on a model (before the optimizer exists), attach to the optimizer, remove to a plain model."""

    name = "dense"

    def install(self, model: nn.Module, masks: Masks) -> None:
        self.model, self.masks = model, masks

    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        pass

    def remove(self) -> None:
        pass


class Core(Mechanism):
    name = "core"

    def install(self, model, masks):
        super().install(model, masks)
        self.masked = apply_masks(model, masks)

    def attach(self, optimizer):
        self.masked.enforce(optimizer)

    def remove(self):
        self.masked.remove()


class _MulMask(nn.Module):
    def __init__(self, mask: Tensor, dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("mask", mask.to(dtype))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.mask


class Parametrize(Mechanism):
    name = "parametrize"

    def install(self, model, masks):
        super().install(model, masks)
        for name, mask in masks.items():
            module, attr = _split(name)
            mod = model.get_submodule(module)
            parametrize.register_parametrization(mod, attr, _MulMask(mask, getattr(mod, attr).dtype))

    def remove(self):
        for name in self.masks:
            module, attr = _split(name)
            parametrize.remove_parametrizations(self.model.get_submodule(module), attr, leave_parametrized=True)


class PruneHook(Mechanism):
    name = "prune-hook"

    def install(self, model, masks):
        super().install(model, masks)
        for name, mask in masks.items():
            module, attr = _split(name)
            prune.custom_from_mask(model.get_submodule(module), attr, mask)

    def remove(self):
        for name in self.masks:
            module, attr = _split(name)
            prune.remove(self.model.get_submodule(module), attr)


class GradHook(Mechanism):
    name = "grad-hook"

    def install(self, model, masks):
        super().install(model, masks)
        params = dict(model.named_parameters())
        self.params = [params[n] for n in masks]
        self.factors = [m.to(p.dtype) for m, p in zip(masks.values(), self.params, strict=True)]
        self.handles = [p.register_hook(lambda g, f=f: g * f) for p, f in zip(self.params, self.factors, strict=True)]
        self.remask()

    @torch.no_grad()
    def remask(self, *_) -> None:
        torch._foreach_mul_(self.params, self.factors)

    def attach(self, optimizer):
        self.handles.append(optimizer.register_step_post_hook(self.remask))

    def remove(self):
        for h in self.handles:
            h.remove()


MECHANISMS: list[type[Mechanism]] = [Mechanism, Core, Parametrize, PruneHook, GradHook]


# ------------------------------------------------------------------------------------------------ helpers
def magnitude_masks(model: nn.Module, keep_fraction: float, extra: list[str] = ()) -> Masks:
    params = dict(model.named_parameters())
    names = list(prunable_parameters(model))
    names += [n for n in extra if n not in names]
    scores = {n: params[n].detach().abs() for n in names}
    return global_masks(scores, round(keep_fraction * sum(s.numel() for s in scores.values())))


def make_optimizer(kind: str, model: nn.Module) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)


def setup(mech_cls: type[Mechanism], base: nn.Module, masks: Masks, opt: str = "sgd"):
    model = copy.deepcopy(base)
    mech = mech_cls()
    mech.install(model, masks)
    optimizer = make_optimizer(opt, model)
    mech.attach(optimizer)
    return model, mech, optimizer


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int) -> dict[str, list[float]]:
    """Time each function once per repetition, rotating the order; warm-up calls first."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            fns[n]()
            times[n].append(time.perf_counter() - t0)
    return times


def ratio_stats(times: dict[str, list[float]], ref: str = "dense") -> dict[str, tuple[float, float, float]]:
    """Per name: (median ratio to ref, 25th and 75th percentile) over paired repetitions."""
    out = {}
    for n, ts in times.items():
        ratios = sorted(t / d for t, d in zip(ts, times[ref], strict=True))
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        out[n] = (statistics.median(ratios), q[0], q[2])
    return out


def pruned_all_zero(model: nn.Module, masks: Masks) -> bool:
    params = dict(model.named_parameters())
    return all(bool((params[n].detach()[~m] == 0).all()) for n, m in masks.items())


def same_params(a: nn.Module, b: nn.Module) -> bool:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    return pa.keys() == pb.keys() and all(torch.equal(pa[n], pb[n]) for n in pa)


# ---------------------------------------------------------------------------------------------- sections
def bench_model(arch: str, args) -> float:
    """Step and eval timings plus the zero / identity checks for one architecture; returns dense step (s)."""
    torch.manual_seed(0)
    base = getattr(torchvision.models, arch)(num_classes=10)
    masks = magnitude_masks(base, 0.5)
    x, y = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    runs = {cls.name: setup(cls, base, masks) for cls in MECHANISMS}
    steps = interleaved({n: (lambda m=m, o=o: train_step(m, o, x, y)) for n, (m, _, o) in runs.items()},
                        args.reps, args.warmup)
    for _ in range(max(0, 20 - args.reps - args.warmup)):  # top up to 20 steps for the zero check
        for m, _, o in runs.values():
            train_step(m, o, x, y)
    for m, _, _ in runs.values():
        m.eval()

    @torch.no_grad()
    def forward(m):
        m(x)

    evals = interleaved({n: (lambda m=m: forward(m)) for n, (m, _, _) in runs.items()}, args.reps, 2)
    for _, mech, _ in runs.values():
        mech.remove()
    ref = runs["grad-hook"][0]
    sr, er = ratio_stats(steps), ratio_stats(evals)
    print(f"\n## {arch}: {sum(m.numel() for m in masks.values()):,} prunable weights, 50% kept, "
          f"batch {args.batch}, {args.reps} reps (+{args.warmup} warm-up), {max(20, args.reps + args.warmup)} steps")
    print(f"{'mechanism':<12} {'step ms':>8} {'step x dense':>13} {'IQR':>12} {'eval ms':>8} {'eval x dense':>13}"
          f" {'pruned==0':>9} {'== grad-hook':>12}")
    for n, (m, _, _) in runs.items():
        zero = "-" if n == "dense" else ("yes" if pruned_all_zero(m, masks) else "NO")
        same = "-" if n in ("dense", "grad-hook") else ("yes" if same_params(m, ref) else "NO")
        print(f"{n:<12} {1e3 * statistics.median(steps[n]):8.1f} {sr[n][0]:12.3f}x {sr[n][1]:5.3f}-{sr[n][2]:5.3f}"
              f" {1e3 * statistics.median(evals[n]):8.1f} {er[n][0]:12.3f}x {zero:>9} {same:>12}")
    return statistics.median(steps["dense"])


def bench_remask(arch: str, dense_step: float, args) -> None:
    """Core's post-step re-mask alone vs variants, at 50% and 10% kept."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10)
    print(f"\n## {arch}: re-mask after optimizer.step(), ms (median of {args.remask_reps}); % of the dense step")
    print(f"{'variant':<34} {'kept 50%':>9} {'%step':>6} {'kept 10%':>9} {'%step':>6} {'mask bytes/w':>12}")
    rows: dict[str, list[float]] = {}
    for keep in (0.5, 0.1):
        masks = magnitude_masks(model, keep)
        params = dict(model.named_parameters())
        ps = [params[n].detach().clone() for n in masks]
        bools = list(masks.values())
        floats = [m.float() for m in bools]
        inverse = [~m for m in bools]
        pruned_idx = [(~m).flatten().nonzero().flatten() for m in bools]
        variants = {
            "core: _foreach_mul_(float mask)": lambda ps=ps, floats=floats: torch._foreach_mul_(ps, floats),
            "per-tensor mul_(float mask)": lambda ps=ps, floats=floats: [p.mul_(f) for p, f in zip(ps, floats, strict=True)],
            "_foreach_mul_(bool mask)": lambda ps=ps, bools=bools: torch._foreach_mul_(ps, bools),
            "per-tensor masked_fill_(~mask, 0)": lambda ps=ps, inverse=inverse: [p.masked_fill_(i, 0) for p, i in zip(ps, inverse, strict=True)],
            "index_fill_(pruned indices)": lambda ps=ps, pruned_idx=pruned_idx: [p.view(-1).index_fill_(0, i, 0) for p, i in zip(ps, pruned_idx, strict=True)],
        }
        times = interleaved(variants, args.remask_reps, 3)
        for n, ts in times.items():
            rows.setdefault(n, []).append(statistics.median(ts))
    nbytes = {"core: _foreach_mul_(float mask)": "4", "per-tensor mul_(float mask)": "4", "_foreach_mul_(bool mask)": "1",
              "per-tensor masked_fill_(~mask, 0)": "1", "index_fill_(pruned indices)": "8 x pruned"}
    for n, (t50, t10) in rows.items():
        print(f"{n:<34} {1e3 * t50:9.2f} {100 * t50 / dense_step:5.1f}% {1e3 * t10:9.2f} {100 * t10 / dense_step:5.1f}%"
              f" {nbytes[n]:>12}")


def check_identity(arch: str, args) -> None:
    """Core vs grad-hook over fresh random batches with SGD (momentum + wd) and Adam: bit-identical?"""
    torch.manual_seed(1)
    base = getattr(torchvision.models, arch)(num_classes=10)
    masks = magnitude_masks(base, 0.5)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g))
               for _ in range(args.identity_steps)]
    for opt in ("sgd", "adam"):
        runs = {cls.name: setup(cls, base, masks, opt) for cls in (Core, GradHook)}
        for x, y in batches:
            for m, _, o in runs.values():
                train_step(m, o, x, y)
        for _, mech, _ in runs.values():
            mech.remove()
        (core, _, _), (grad, _, _) = runs["core"], runs["grad-hook"]
        label = "SGD momentum 0.9 wd 5e-4" if opt == "sgd" else "Adam lr 1e-3 wd 5e-4"
        print(f"{arch:<10} {label:<26} {len(batches):>3} steps: core == grad-hook bit for bit: "
              f"{'yes' if same_params(core, grad) else 'NO'}; pruned weights zero: "
              f"{'yes' if pruned_all_zero(core, masks) and pruned_all_zero(grad, masks) else 'NO'}")


def check_vit(name: str, build: Callable[[], nn.Module], steps: int = 10, batch: int = 8) -> None:
    """Train a ViT with out_proj and in_proj_weight masked under every mechanism; report errors and zeros."""
    torch.manual_seed(0)
    base = build()
    extra = [n for n, _ in base.named_parameters() if n.endswith("in_proj_weight")]
    masks = magnitude_masks(base, 0.5, extra)
    n_out = sum(1 for n in masks if "out_proj" in n)
    print(f"\n## {name}: {len(masks)} masked tensors ({len(extra)} in_proj_weight, {n_out} out_proj.weight), "
          f"{steps} SGD steps, batch {batch}")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)
    for cls in MECHANISMS[1:]:
        model, mech, opt = setup(cls, base, masks)
        try:
            for _ in range(steps):
                train_step(model, opt, x, y)
            outcome = "ok"
        except RuntimeError as e:
            outcome = "RuntimeError: " + str(e).split("\n")[0][:70]
        live = dict(model.named_parameters())
        live_zero = all(bool((live[n].detach()[~m] == 0).all()) for n, m in masks.items() if n in live)
        mech.remove()
        zero = pruned_all_zero(model, masks)
        print(f"{cls.name:<12} {outcome:<82} pruned==0 after remove: {'yes' if zero else 'NO'}"
              + ("" if cls.name != "core" else f"; live weights: {'yes' if live_zero else 'NO'}"))


def small_vit() -> nn.Module:
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                hidden_dim=64, mlp_dim=128, num_classes=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: resnet18 only, few repetitions")
    parser.add_argument("--models", default="resnet18,resnet50", help="comma-separated torchvision models")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per mechanism (default 21)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vit-b16", action="store_true", help="also check torchvision vit_b_16 (at 32x32)")
    args = parser.parse_args()
    archs = ["resnet18"] if args.quick else args.models.split(",")
    args.reps = args.reps or (3 if args.quick else 21)
    args.warmup = 1 if args.quick else args.warmup
    args.remask_reps = 5 if args.quick else 31
    args.identity_steps = 5 if args.quick else 20
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"# masking benchmark: torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{torch.get_num_threads()} threads, load average {load:.2f} at start"
          + (" (other processes are running: absolute times are inflated, ratios less so)" if load > 1.5 else ""))
    start = time.perf_counter()
    dense = {}
    for arch in archs:
        dense[arch] = bench_model(arch, args)
    for arch in archs:
        bench_remask(arch, dense[arch], args)
    print("\n## bit-identity: core (zero + re-mask after step) vs grad-hook (mask gradients + re-mask)")
    for arch in archs:
        check_identity(arch, args)
    check_vit("small ViT (torchvision VisionTransformer 32x32, patch 8, 2 layers, hidden 64)", small_vit)
    if args.vit_b16:
        check_vit("vit_b_16 at image_size 32", lambda: torchvision.models.vit_b_16(image_size=32, num_classes=10),
                  batch=4)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
