"""2:4 sparsity through PyTorch's semi-structured sparse tensors: forward time of an MLP whose linear weights
carry ``2:4-magnitude`` masks, dense fp16 against ``torch.sparse.to_sparse_semi_structured`` fp16, side by side.

Needs a CUDA GPU with sparse tensor cores (compute capability 8.0 or newer: A100, H100, H200, RTX 30xx+); elsewhere
it says so and measures nothing (masked weights in dense kernels run at the dense speed: see the ``latency``
metric). Part of ``benchmarks/gpu_check.sh``::

    python benchmarks/nm_latency.py [--width 4096] [--batch 4096] [--layers 4]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time


def main() -> None:
    """Print dense vs semi-structured forward time and the speedup, or why it cannot be measured here."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()

    import torch
    from torch import nn

    from shrinkbench.masking import apply_masks
    from shrinkbench.pruning import make_context
    from shrinkbench_magnitude.n_m import nm_magnitude

    if not torch.cuda.is_available() or torch.cuda.get_device_capability() < (8, 0):
        print("not measured: semi-structured 2:4 kernels need a CUDA GPU of compute capability 8.0 or newer")
        return
    torch.manual_seed(0)
    layers = [m for _ in range(args.layers) for m in (nn.Linear(args.width, args.width), nn.ReLU())]
    model = nn.Sequential(*layers, nn.Linear(args.width, 10)).half().cuda().eval()
    compression = 2.0  # just beyond the 2:4 pattern itself (the classifier and biases stay dense)
    apply_masks(model, nm_magnitude(make_context(model, compression))).remove()
    sparse = copy.deepcopy(model)
    for module in sparse.modules():
        if isinstance(module, nn.Linear) and module.out_features == args.width:
            module.weight = nn.Parameter(torch.sparse.to_sparse_semi_structured(module.weight.detach()))
    x = torch.randn(args.batch, args.width, dtype=torch.half, device="cuda")

    def timed(net: nn.Module) -> float:
        with torch.inference_mode():
            for _ in range(5):
                net(x)
            torch.cuda.synchronize()
            runs = []
            for _ in range(args.reps):
                start = time.perf_counter()
                net(x)
                torch.cuda.synchronize()
                runs.append(time.perf_counter() - start)
        return 1000 * statistics.median(runs)

    dense_ms, sparse_ms = timed(model), timed(sparse)
    torch.testing.assert_close(sparse(x), model(x), rtol=1e-2, atol=1e-2)
    result = {"gpu": torch.cuda.get_device_name(), "dense_ms": round(dense_ms, 3), "semi_structured_ms": round(sparse_ms, 3),
              "speedup": round(dense_ms / sparse_ms, 3)}
    print(f"{result['gpu']}: {args.layers} x Linear({args.width}, {args.width}) fp16, batch {args.batch}: dense "
          f"{dense_ms:.2f} ms, 2:4 semi-structured {sparse_ms:.2f} ms, speedup {dense_ms / sparse_ms:.2f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
