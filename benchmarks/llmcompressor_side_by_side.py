"""Side by side: our Wanda and SparseGPT against llm-compressor's, same model, data, threads and device.

llm-compressor (github.com/vllm-project/llm-compressor) is installed from PyPI in an environment of its own,
never in this workspace; its path is ``--llmc-python``::

    uv venv /tmp/llmc -p 3.11 && uv pip install --python /tmp/llmc llmcompressor
    .venv/bin/python benchmarks/llmcompressor_side_by_side.py --llmc-python /tmp/llmc/bin/python
    uvx nox -s posttraining-llmcompressor -- --llmc-python /tmp/llmc/bin/python

On a GPU machine add ``--device cuda`` (both environments need CUDA builds of torch: PyPI's Linux wheels are).

Contract. The parent (this workspace's venv) builds, once per ``--workdir``, one tiny Llama from a
``LlamaConfig`` (hidden 256, 4 layers, 8 heads, MLP 688, vocabulary 4,096, seed 0), trained for
``--train-steps`` on a seeded Markov-chain token stream (perplexity about 57 instead of an untrained 4,096), and
saves it with a word-level tokenizer (llm-compressor's ``oneshot`` insists on a processor), the calibration
tokens (``--sequences`` x ``--tokens``) and the held-out windows. Each measurement is a fresh child process:
``--side ours`` (this venv: ``shrinkbench_posttraining.wanda.wanda`` / ``wanda_2_4`` / ``sparsegpt.sparsegpt``
/ ``sparsegpt_2_4`` on a ``PruningContext`` whose compression keeps exactly half of the decoder's linear
weights, calibration = the sequences in batches of ``--batch``) or ``--side theirs`` (``--llmc-python``:
``oneshot`` with ``WandaPruningModifier`` / ``SparseGPTModifier``, sparsity 0.5 or mask structure "2:4", block
size 128, dampening 0.01, targets the decoder layers, the sequential pipeline, a ``DataLoader`` over the same
sequences in the same order and batches). For unstructured SparseGPT theirs gets sparsity ``0.5 (1 - 1/b)``,
``b`` the largest block's size: its per-block threshold prunes ``int(sparsity * block) + 1`` weights, so this
prunes exactly half of every block, as ours does (method ``sparsegpt-0.5``, not run by default, passes 0.5).
Both load the saved model in float32 with eager attention (what llm-compressor forces during calibration), set
``torch.set_num_threads(--threads)`` (and OMP/MKL threads), run one untimed warm-up forward, and time only the
pruning call (``oneshot`` as a whole for theirs, its activations kept on ``--device`` as ours are). Memory: the
largest resident set sampled every 2 ms during that call minus the one before it, and the process's peak RSS
``VmHWM`` (on a GPU: ``torch.cuda.max_memory_allocated`` over the call). Each child saves its pruned decoder
weights; the parent then measures, for each side, the perplexity of the pruned model (same function, same
windows, this venv) and per method the mask entries that differ (all layers, and block 0 alone: later blocks
see inputs already pruned differently), the largest ``|Δw|`` and ``‖Δw‖ / ‖w‖`` between the two sides; and,
on one layer with identical inputs, llm-compressor's SparseGPT functions (loaded from its environment by path)
in float32 and float64 against ours (:func:`layer_check`). Runs are interleaved (ours/theirs, the order
alternating per repeat); the table (:func:`table`, also written as ``results.json`` in ``--workdir``) gives
medians over ``--repeats`` and the least wall time; the JSON also has each run's CPU time. Exit status 0
unless a child fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

METHODS = {"wanda": ("wanda", None), "2:4-wanda": ("wanda", (2, 4)),
           "sparsegpt": ("sparsegpt", None), "2:4-sparsegpt": ("sparsegpt", (2, 4)),
           "sparsegpt-0.5": ("sparsegpt", None)}  # theirs at sparsity=0.5 as given (not run by default)
DEFAULT_METHODS = ["wanda", "2:4-wanda", "sparsegpt", "2:4-sparsegpt"]
CONFIG = {"vocab_size": 4096, "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
          "num_attention_heads": 8, "num_key_value_heads": 8, "max_position_embeddings": 512}
BLOCKSIZE, DAMPENING = 128, 0.01
PAGE = os.sysconf("SC_PAGE_SIZE")


def decoder_linears(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The pruned weights on both sides: every ``nn.Linear`` of the decoder layers (not ``lm_head``)."""
    return {f"{n}.weight": m.weight for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and n.startswith("model.layers.")}


def markov_stream(length: int, seed: int, states: int = 512) -> torch.Tensor:
    """Tokens of a fixed random Markov chain over ``states`` of the vocabulary's ids (each with 4 possible next
    tokens, probabilities 0.55/0.25/0.15/0.05, the table fixed by seed 0); ``seed`` picks the walk."""
    ids = torch.randperm(CONFIG["vocab_size"], generator=torch.Generator().manual_seed(0))[:states].tolist()
    table = torch.randint(0, states, (states, 4), generator=torch.Generator().manual_seed(0)).tolist()
    gen = torch.Generator().manual_seed(seed)
    choice = torch.multinomial(torch.tensor([0.55, 0.25, 0.15, 0.05]), length, replacement=True, generator=gen)
    state, out = int(torch.randint(0, states, (1,), generator=gen)), []
    for c in choice.tolist():
        out.append(ids[state])
        state = table[state][c]
    return torch.tensor(out)


def load_model(workdir: Path, device: str = "cpu") -> torch.nn.Module:
    import transformers
    return transformers.AutoModelForCausalLM.from_pretrained(workdir / "model", dtype=torch.float32,
                                                             attn_implementation="eager").to(device).eval()


def perplexity(model: torch.nn.Module, windows: torch.Tensor, device: str = "cpu") -> float:
    """exp(mean next-token NLL) over every predicted token of ``windows`` (``(W, T + 1)`` token ids)."""
    nll, count = torch.zeros((), dtype=torch.float64), 0
    with torch.no_grad():
        for chunk in windows.split(4):
            chunk = chunk.to(device)
            logits = model(chunk[:, :-1]).logits.float()
            nll += torch.nn.functional.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(),
                                                     reduction="sum").double().cpu()
            count += chunk[:, 1:].numel()
    return float(torch.exp(nll / count))


def build(workdir: Path, args: argparse.Namespace) -> None:
    """The model (trained briefly), its tokenizer, the calibration tokens and the held-out windows."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**CONFIG, attn_implementation="eager"))
    train = markov_stream(args.train_steps * 8 * 64, seed=1).view(args.train_steps, 8, 64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for step, batch in enumerate(train):
        loss = model(batch, labels=batch).loss  # HF shifts the labels itself
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == args.train_steps - 1:
            print(f"train step {step}: loss {loss.item():.3f}", flush=True)
    model.eval().save_pretrained(workdir / "model")
    vocab = {f"t{i}": i for i in range(CONFIG["vocab_size"])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="t0", eos_token="t1",
                                         pad_token="t3").save_pretrained(workdir / "model")
    torch.save(markov_stream(args.sequences * args.tokens, seed=2).view(args.sequences, args.tokens),
               workdir / "calibration.pt")
    torch.save(markov_stream(16 * 257, seed=3).view(16, 257), workdir / "heldout.pt")


def high_water_mib() -> float:
    """The process's peak RSS (``VmHWM``; ``ru_maxrss`` would carry the parent's peak across ``exec``)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


class Peak:
    """Peak memory over a ``with`` block: RSS sampled every 2 ms (CPU) or ``max_memory_allocated`` (CUDA),
    minus the value on entry."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _sample(self) -> None:
        while not self.done.wait(0.002):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> Peak:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = self.peak = torch.cuda.memory_allocated()
            return self
        self.base = self.peak = self.rss()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
            return
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.rss())


def prune_ours(model: torch.nn.Module, calibration: list[torch.Tensor], method: str) -> None:
    from shrinkbench.pruning import PruningContext, count_parameters, prunable_parameters, weights_to_keep
    from shrinkbench_posttraining import sparsegpt, wanda
    prunable = prunable_parameters(model)
    assert list(prunable) == list(decoder_linears(model)), "prunable weights differ from the decoder's linears"
    total, n = count_parameters(model), sum(w.numel() for w in prunable.values())
    compression = total / (total - n / 2)  # keeps exactly half of the prunable weights
    assert weights_to_keep(model, prunable, compression) == n // 2
    ctx = PruningContext(model, prunable, compression, calibration=calibration)
    algorithm, pattern = METHODS[method]
    fn = {"wanda": wanda.wanda, "sparsegpt": sparsegpt.sparsegpt}[algorithm]
    assert (sparsegpt.BLOCKSIZE, sparsegpt.DAMPENING) == (BLOCKSIZE, DAMPENING)
    fn(ctx, pattern)


def prune_theirs(model: torch.nn.Module, calibration: list[torch.Tensor], method: str, workdir: Path,
                 device: str):
    import transformers
    from llmcompressor import oneshot
    from llmcompressor.modifiers.pruning import SparseGPTModifier, WandaPruningModifier
    from torch.utils.data import DataLoader
    algorithm, pattern = METHODS[method]
    sparsity = 0.5
    if method == "sparsegpt":  # prune exactly half of every 128-column block, as ours does (module docstring)
        largest = max(w.shape[0] * min(w.shape[1], BLOCKSIZE) for w in decoder_linears(model).values())
        sparsity = 0.5 * (1 - 1 / largest)
    options = {"sparsity": sparsity, "targets": [r"re:model\.layers\.\d+$"],
               "mask_structure": f"{pattern[0]}:{pattern[1]}" if pattern else "0:0"}
    modifier = (WandaPruningModifier(**options) if algorithm == "wanda" else
                SparseGPTModifier(**options, block_size=BLOCKSIZE, dampening_frac=DAMPENING))
    tokenizer = transformers.AutoTokenizer.from_pretrained(workdir / "model")
    loader = DataLoader([{"input_ids": b} for b in calibration], batch_size=None)  # our batches, our order
    return lambda: oneshot(model=model, processor=tokenizer, recipe=[modifier], dataset=loader,
                           pipeline="sequential", sequential_offload_device=device)  # activations stay, as ours


def child(args: argparse.Namespace) -> None:
    """One measurement: load, prune (timed, memory sampled), save the pruned decoder weights, print JSON."""
    torch.set_num_threads(args.threads)
    workdir = Path(args.workdir)
    model = load_model(workdir, args.device)
    tokens = torch.load(workdir / "calibration.pt")
    calibration = [b.to(args.device) for b in tokens.split(args.batch)]
    if args.side == "theirs":
        run = prune_theirs(model, calibration, args.method, workdir, args.device)
    else:
        import shrinkbench_posttraining.sparsegpt  # noqa: F401 - imports outside the timed call, like theirs
        run = lambda: prune_ours(model, calibration, args.method)  # noqa: E731
    with torch.no_grad():  # warm-up, both sides: code paged in, thread pools and lazy state made, untimed
        model(calibration[0])
    with Peak(args.device) as peak:
        start, cpu = time.perf_counter(), time.process_time()
        run()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    weights = {k: w.detach().cpu().clone() for k, w in decoder_linears(model).items()}
    torch.save(weights, workdir / f"{args.side}-{args.method}.pt")
    print(json.dumps({"time_s": elapsed, "cpu_s": cpu, "peak_extra_mib": (peak.peak - peak.base) / 2**20,
                      "maxrss_mib": high_water_mib(),
                      "torch": torch.__version__}))


def spawn(args: argparse.Namespace, side: str, method: str, workdir: Path) -> dict:
    python = args.llmc_python if side == "theirs" else sys.executable
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               TOKENIZERS_PARALLELISM="false")
    command = [python, __file__, "--side", side, "--method", method, "--workdir", str(workdir),
               "--threads", str(args.threads), "--device", args.device, "--batch", str(args.batch)]
    with open(workdir / f"{side}-{method}.log", "a") as log:
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        log.write(done.stdout)
    if done.returncode:
        raise SystemExit(f"{side} {method} failed (status {done.returncode}); see {workdir}/{side}-{method}.log")
    return json.loads(done.stdout.strip().splitlines()[-1])


def agreement(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> dict[str, float]:
    differ = {k: int(((ours[k] != 0) != (theirs[k] != 0)).sum()) for k in ours}
    first = [k for k in ours if k.startswith("model.layers.0.")]
    squares = [(float((ours[k] - theirs[k]).double().square().sum()), float(ours[k].double().square().sum()))
               for k in ours]
    return {"masks_differ": sum(differ.values()), "entries": sum(w.numel() for w in ours.values()),
            "masks_differ_block0": sum(differ[k] for k in first),
            "entries_block0": sum(ours[k].numel() for k in first),
            "max_abs_dw": max(float((ours[k] - theirs[k]).abs().max()) for k in ours),
            "max_abs_w": max(float(w.abs().max()) for w in ours.values()),
            "relative_dw": (sum(a for a, _ in squares) / sum(b for _, b in squares)) ** 0.5,
            "sparsity_ours": sum(int((w == 0).sum()) for w in ours.values()) / sum(w.numel() for w in ours.values()),
            "sparsity_theirs": sum(int((w == 0).sum()) for w in theirs.values())
            / sum(w.numel() for w in theirs.values())}


def layer_check(llmc_python: str, workdir: Path, name: str = "model.layers.0.mlp.down_proj") -> list[str]:
    """One layer, the same inputs (the dense model's, so no earlier block differs): llm-compressor's own
    ``accumulate_hessian`` + ``sparsify_weight`` (its file loaded by path, as the reference is in
    posttraining_reference.py) in its float32 and in float64, against our ``sparsegpt_matrix`` with its H."""
    import importlib.util
    import types

    from shrinkbench_posttraining.sparsegpt import sparsegpt_matrix
    site = subprocess.run([llmc_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    sys.modules.setdefault("loguru", types.SimpleNamespace(logger=types.SimpleNamespace(warning=print)))
    spec = importlib.util.spec_from_file_location(
        "llmc_sgpt_sparsify", Path(site) / "llmcompressor/modifiers/pruning/sparsegpt/sgpt_sparsify.py")
    theirs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(theirs)
    model = load_model(workdir)
    layer, inputs = model.get_submodule(name), []
    handle = layer.register_forward_pre_hook(lambda _, a: inputs.append(a[0].detach().clone()))
    with torch.no_grad():
        for batch in torch.load(workdir / "calibration.pt").split(1):
            model(batch)
    handle.remove()
    dense, hessian, n = layer.weight.detach().clone(), theirs.make_empty_hessian(layer), 0
    for x in inputs:
        hessian, n = theirs.accumulate_hessian(x, layer, hessian, n)
    damped = hessian.double() + DAMPENING * hessian.diagonal().mean().double() * torch.eye(len(hessian)).double()
    lines = [f"one layer, {name} {tuple(dense.shape)}, llm-compressor's H (cond(H + λI) = "
             f"{float(torch.linalg.cond(damped)):.1e}):"]
    for pattern in (None, (2, 4)):
        ours, kept = sparsegpt_matrix(dense, hessian, dense.numel() // 2, pattern)
        sparsity = 0.5 * (1 - 1 / (dense.shape[0] * BLOCKSIZE)) if pattern is None else 0.5
        for precision in (torch.float32, torch.float64):
            theirs.SGPT_PRECISION = precision
            with torch.no_grad():  # sparsify_weight changes the H it is given in place: a copy each time
                layer.weight.copy_(dense)
                _, pruned = theirs.sparsify_weight(layer, {layer: hessian.clone().to(precision)}, sparsity,
                                                   *(pattern or (0, 0)), BLOCKSIZE, DAMPENING, False)
            lines.append(f"  {'2:4' if pattern else '50%'}, theirs in {str(precision)[6:]}: "
                         f"{int(((pruned != 0) != kept).sum())} mask entries differ from ours, "
                         f"|Δw| / |w| = {float((pruned.float() - ours).norm() / dense.norm()):.1e}")
    theirs.SGPT_PRECISION = torch.float32
    return lines


def parent(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="llmc-side-by-side-"))
    workdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    if not (workdir / "heldout.pt").exists():
        build(workdir, args)
    version = subprocess.run([args.llmc_python, "-c", "import importlib.metadata as m, torch, transformers; "
                              "print(m.version('llmcompressor'), torch.__version__, transformers.__version__)"],
                             capture_output=True, text=True, check=True).stdout.split()
    import transformers
    setup = (f"ours: torch {torch.__version__}, transformers {transformers.__version__}; theirs: llmcompressor "
             f"{version[0]}, torch {version[1]}, transformers {version[2]}; {args.threads} threads, {args.device}; "
             f"calibration {args.sequences}x{args.tokens} in batches of {args.batch}; {args.repeats} repeats")
    print(f"workdir {workdir}; {setup}", flush=True)
    results: dict[tuple[str, str], list[dict]] = {}
    for repeat in range(args.repeats):
        for method in args.methods:
            for side in ("ours", "theirs") if repeat % 2 == 0 else ("theirs", "ours"):
                r = spawn(args, side, method, workdir)
                results.setdefault((side, method), []).append(r)
                print(f"repeat {repeat} {method:14s} {side:6s} {r['time_s']:8.2f} s (CPU {r['cpu_s']:7.2f} s)  "
                      f"+{r['peak_extra_mib']:7.1f} MiB  peak RSS {r['maxrss_mib']:7.1f} MiB", flush=True)
    windows = torch.load(workdir / "heldout.pt")
    model = load_model(workdir)
    dense = {k: w.detach().clone() for k, w in decoder_linears(model).items()}
    report: dict = {"setup": setup}
    for method in args.methods:
        pruned = {side: torch.load(workdir / f"{side}-{method}.pt") for side in ("ours", "theirs")}
        ppl = {}
        for side, weights in [*pruned.items(), ("dense", dense)]:
            with torch.no_grad():
                for k, w in decoder_linears(model).items():
                    w.copy_(weights[k])
            ppl[side] = perplexity(model, windows)
        report[method] = {"runs": {side: results[(side, method)] for side in ("ours", "theirs")},
                          "perplexity": ppl, **agreement(pruned["ours"], pruned["theirs"])}
    report["layer_check"] = layer_check(args.llmc_python, workdir)
    (workdir / "results.json").write_text(json.dumps(report, indent=1))
    print(table(report))


def table(report: dict) -> str:
    """The markdown table of a ``results.json``: medians over the repeats (wall time: median and least)."""
    lines = [report["setup"], "",
             "| method | wall s, ours / llm-compressor: median (least) | pruning's extra RSS, MiB | process peak RSS, "
             "MiB | perplexity | mask entries that differ (block 0) | max \\|Δw\\| / ‖Δw‖/‖w‖ | sparsity |",
             "|---|---|---|---|---|---|---|---|"]
    for method, r in report.items():
        if method in ("setup", "layer_check"):
            continue
        med = {(side, key): statistics.median(run[key] for run in r["runs"][side])
               for side in ("ours", "theirs") for key in ("time_s", "peak_extra_mib", "maxrss_mib")}
        least = {side: min(run["time_s"] for run in r["runs"][side]) for side in ("ours", "theirs")}
        lines.append(f"| {method} | {med['ours', 'time_s']:.2f} ({least['ours']:.2f}) / {med['theirs', 'time_s']:.2f} "
                     f"({least['theirs']:.2f}) | {med['ours', 'peak_extra_mib']:.0f} / "
                     f"{med['theirs', 'peak_extra_mib']:.0f} | {med['ours', 'maxrss_mib']:.0f} / "
                     f"{med['theirs', 'maxrss_mib']:.0f} | {r['perplexity']['ours']:.3f} / "
                     f"{r['perplexity']['theirs']:.3f} | {r['masks_differ']:,} of {r['entries']:,} "
                     f"({r['masks_differ_block0']:,} of {r['entries_block0']:,}) | {r['max_abs_dw']:.2g} / "
                     f"{r['relative_dw']:.1e} | {r['sparsity_ours']:.6f} / {r['sparsity_theirs']:.6f} |")
    dense = next(iter(r for k, r in report.items() if k not in ("setup", "layer_check")))["perplexity"]["dense"]
    return "\n".join([*lines, "", f"dense perplexity {dense:.3f}", *report["layer_check"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llmc-python", help="the python of llm-compressor's own environment")
    parser.add_argument("--workdir", help="files exchanged by the two sides (default: a new temp dir; the "
                        "model and data are built there once and reused)")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sequences", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1, help="calibration sequences per forward, both sides")
    parser.add_argument("--train-steps", type=int, default=120)
    parser.add_argument("--table", help="print the table of a results.json and exit")
    parser.add_argument("--side", choices=("ours", "theirs"), help=argparse.SUPPRESS)
    parser.add_argument("--method", choices=list(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
    elif args.side:
        child(args)
    elif not args.llmc_python:
        parser.error("--llmc-python is required")
    else:
        parent(args)


if __name__ == "__main__":
    main()
