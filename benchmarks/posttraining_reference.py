"""Side by side: our SparseGPT and Wanda statistics against the papers' reference code, same layer, same inputs.

The references are IST-DASLab/sparsegpt (``sparsegpt.py``, class ``SparseGPT``: ``add_batch`` + ``fasterprune``)
and, for Wanda's input norms, locuslab/wanda (``lib/layerwrapper.py``, ``WrappedGPT.scaler_row``). None of their
code is in this repository; get checkouts with::

    git clone https://github.com/IST-DASLab/sparsegpt && git -C sparsegpt checkout 147d2159dc4f3e9f73e47b32c04d7b3708f44436
    git clone https://github.com/locuslab/wanda && git -C wanda checkout 8e8fc87b4a2f9955baa7e76e64d5fce7fa8724a6

Usage (project venv, transformers installed: the reference imports it)::

    .venv/bin/python benchmarks/posttraining_reference.py --sparsegpt ../sparsegpt --wanda ../wanda
    uvx nox -s posttraining-reference -- --sparsegpt ../sparsegpt --wanda ../wanda

For a linear layer (``--rows`` x ``--columns``) and correlated calibration inputs with features of different
scales, the reference accumulates its H from the inputs and prunes (unstructured 50%, 2:4, 4:8; block size 128,
dampening 0.01); :func:`shrinkbench_posttraining.sparsegpt.sparsegpt_matrix` prunes the same weights with the
same H to the same count per block (the reference's per-block quantile prunes ``int(0.5 * block size) + 1``
entries of every block; ours is told that count). Printed per case: the fraction of equal mask entries, the
largest difference of the pruned weights relative to the largest weight, and both relative reconstruction errors
``||WX - ŴX|| / ||WX||``. Our H (:class:`shrinkbench.layer_inputs.LayerStats`) is compared with the reference's
(they differ by the constant sequences/tokens), and our Wanda norms with ``WrappedGPT``'s ``scaler_row``.

Exit status 1 when a mask agrees on less than ``--min-agreement`` of its entries or the errors differ by more
than 1% relative. The reference calls ``torch.cuda.synchronize()``, replaced by a no-op when there is no GPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

from shrinkbench.layer_inputs import LayerStats
from shrinkbench_posttraining.sparsegpt import BLOCKSIZE, DAMPENING, sparsegpt_matrix


def load(path: Path, name: str):  # noqa: ANN201 - a module of the reference checkout
    """Import ``path`` (a reference file) as module ``name``, its folder first on ``sys.path``."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(columns: int, sequences: int, tokens: int, device: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(columns, columns, generator=gen) * 0.2 + torch.eye(columns)
    scale = torch.logspace(-1, 1, columns)[torch.randperm(columns, generator=gen)]
    return ((torch.randn(sequences, tokens, columns, generator=gen) @ mix) * scale).to(device)


def error(dense: torch.Tensor, pruned: torch.Tensor, x: torch.Tensor) -> float:
    flat = x.reshape(-1, x.shape[-1]).double()
    return float((flat @ (dense - pruned).double().T).norm() / (flat @ dense.double().T).norm())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sparsegpt", type=Path, required=True, help="checkout of IST-DASLab/sparsegpt")
    parser.add_argument("--wanda", type=Path, help="checkout of locuslab/wanda (Wanda's input norms)")
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--columns", type=int, default=512)
    parser.add_argument("--sequences", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--min-agreement", type=float, default=0.999)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        torch.cuda.synchronize = lambda *a, **k: None  # the reference's timing call
    reference = load(args.sparsegpt / "sparsegpt.py", "reference_sparsegpt")
    torch.manual_seed(0)
    layer = nn.Linear(args.columns, args.rows, bias=False).to(args.device)
    dense = layer.weight.detach().clone()
    x = inputs(args.columns, args.sequences, args.tokens, args.device)
    ours_stats = LayerStats("weight", layer)
    for s in range(args.sequences):
        ours_stats.add(x[s:s + 1])
    failed = False
    print(f"device {args.device}, layer {args.rows}x{args.columns}, {args.sequences} x {args.tokens} tokens")
    for label, sparsity, pattern in (("50%", 0.5, None), ("2:4", 0, (2, 4)), ("4:8", 0, (4, 8))):
        with torch.no_grad():
            layer.weight.copy_(dense)
        gpt = reference.SparseGPT(layer)
        for s in range(args.sequences):
            gpt.add_batch(x[s:s + 1], None)
        h = gpt.H.clone()
        if label == "50%":
            ratio = (ours_stats.hessian().squeeze(0).to(h) / h).median().item()
            print(f"H: ours / reference = {ratio:.6g} (expected 1 / tokens = {1 / args.tokens:.6g}), max relative "
                  f"difference after scaling {((ours_stats.hessian()[0].to(h) / ratio - h).abs().max() / h.abs().max()):.2e}")
        prunen, prunem = (pattern[1] - pattern[0], pattern[1]) if pattern else (0, 0)
        gpt.fasterprune(sparsity, prunen=prunen, prunem=prunem, blocksize=BLOCKSIZE, percdamp=DAMPENING)
        theirs = layer.weight.detach().clone()
        blocks = -(-args.columns // BLOCKSIZE)
        keep = (dense.numel() - blocks * (int(args.rows * BLOCKSIZE * sparsity) + 1) if pattern is None
                else dense.numel() * pattern[0] // pattern[1])
        ours, kept = sparsegpt_matrix(dense, h, keep, pattern, blocksize=BLOCKSIZE, damp=DAMPENING)
        agreement = float((kept == (theirs != 0)).float().mean())
        delta = float((ours - theirs).abs().max() / dense.abs().max())
        e_ours, e_theirs = error(dense, ours, x), error(dense, theirs, x)
        print(f"{label}: masks agree on {agreement:.4%}, max |Δw| / max |w| = {delta:.2e}, reconstruction error "
              f"ours {e_ours:.5f} reference {e_theirs:.5f}, kept ours {int(kept.sum())} reference {int((theirs != 0).sum())}")
        failed |= agreement < args.min_agreement or abs(e_ours / e_theirs - 1) > 0.01
    if args.wanda is not None:
        wrapper = load(args.wanda / "lib" / "layerwrapper.py", "reference_wanda_layerwrapper").WrappedGPT(layer)
        for s in range(args.sequences):
            wrapper.add_batch(x[s:s + 1], None)
        ours_sq = ours_stats.norms()[0].square().to(wrapper.scaler_row)
        scale = (ours_sq / wrapper.scaler_row).median()
        gap = float((ours_sq / scale - wrapper.scaler_row).abs().max() / wrapper.scaler_row.abs().max())
        print(f"Wanda ||X_j||^2: ours / reference = {scale:.6g} (expected sequences = {args.sequences}), max relative "
              f"difference after scaling {gap:.2e}")
        failed |= gap > 1e-4
    print("FAILED" if failed else "ok")
    return int(failed)


if __name__ == "__main__":
    raise SystemExit(main())
