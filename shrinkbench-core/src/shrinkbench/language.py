"""The ``causal-lm`` task: a split's text as non-overlapping windows of one token stream, and perplexity.

Perplexity follows the protocol of the SparseGPT (Frantar & Alistarh 2023) and Wanda (Sun et al. 2024)
evaluations: the split's documents are joined into one text (the dataset's own join), tokenized as one stream
with the model's tokenizer, cut into ``n = len(stream) // L`` non-overlapping windows of ``L`` tokens (the last
partial window dropped), and every window predicts its tokens 2..L from the ones before; perplexity is the
exponential of the mean token negative log-likelihood over all ``n * (L - 1)`` predicted tokens. An item is
``(window[:-1], window[1:])``: a causal model's logits for the first ``L - 1`` positions do not depend on the
last token, so this is the papers' computation exactly. ``L`` is the sweep's context length, else the model's
(:attr:`shrinkbench.Tokenizer.context_length`). ``--eval-windows N`` evaluates the first ``N`` test windows
only (the papers' C4 evaluation takes 256). Rows record ``eval_context`` (``L``), ``eval_windows`` (``n`` of
the test split) and ``tokenizer``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from . import measuring
from .errors import ShrinkBenchError
from .losses import LossFn, cross_entropy
from .modules import eval_mode
from .task_spec import PrepareContext, Prepared

__all__ = ["DEFAULT_CONTEXT", "EVAL_TOKENS_PER_BATCH", "TokenWindows", "evaluate_lm", "measure", "prepare_text"]

DEFAULT_CONTEXT = 2048
"""The window length when neither the sweep nor the tokenizer names one (the papers' OPT/LLaMA-1 length)."""
EVAL_TOKENS_PER_BATCH = 4_096
"""Tokens per evaluation batch (windows per batch = this // window length, at least 1). Measured on 2 CPU cores,
the bundled tiny-llama over the bundled test split (512 windows of 256): 6.5 s at 4,096 tokens a batch, 8.3 s at
16,384 (the logits of a bigger batch leave the caches); and it bounds the float32 logits of a 128k-token
vocabulary (Llama 3) at 2 GB a batch."""


class TokenWindows(Dataset):
    """Non-overlapping windows of a token stream: item ``i`` is ``(window[:-1], window[1:])`` of the ``i``-th
    window of ``length`` tokens. ``windows`` is the (n, length) int64 tensor."""

    def __init__(self, stream: torch.Tensor, length: int) -> None:
        if length < 2:
            raise ShrinkBenchError(f"a context length must be at least 2 tokens, got {length}")
        count = stream.numel() // length
        self.windows = stream[: count * length].view(count, length)
        self.length = length

    def __len__(self) -> int:
        return self.windows.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        window = self.windows[index]
        return window[:-1], window[1:]


_streams: dict[tuple[str, str], torch.Tensor] = {}


def token_stream(text: str, tokenizer) -> torch.Tensor:
    """``text`` tokenized as one stream (int64), once per process per (tokenizer, text)."""
    key = (tokenizer.name, hashlib.sha256(text.encode()).hexdigest())
    if key not in _streams:
        _streams[key] = torch.tensor(tokenizer.encode(text), dtype=torch.int64)
    return _streams[key]


def context_length(ctx: PrepareContext) -> int:
    """The window length: the sweep's, else the model's, else :data:`DEFAULT_CONTEXT`; never more than the
    model's own (a longer window would index positions the model does not have)."""
    own = ctx.tokenizer.context_length if ctx.tokenizer is not None else None
    if ctx.context_length is not None:
        if own is not None and ctx.context_length > own:
            raise ShrinkBenchError(f"--context-length {ctx.context_length} exceeds the model's {own} positions; "
                                   f"use at most {own}")
        return ctx.context_length
    return own or DEFAULT_CONTEXT


def prepare_text(text: str, ctx: PrepareContext) -> Prepared:
    """The split's text as :class:`TokenWindows` of the model's tokenizer (see the module docstring)."""
    if ctx.tokenizer is None:
        raise ShrinkBenchError("the causal-lm task needs the model's tokenizer: the model declares none")
    if not isinstance(text, str):
        raise ShrinkBenchError(f"a causal-lm dataset's build must return the split's text as one str, got "
                               f"{type(text).__name__}")
    length = context_length(ctx)
    windows = TokenWindows(token_stream(text, ctx.tokenizer), length)
    if ctx.split == "test" and ctx.max_windows is not None:
        windows.windows = windows.windows[: ctx.max_windows]
    if len(windows) == 0:
        raise ShrinkBenchError(f"the {ctx.split} split has fewer than {length} tokens: no window of the context "
                               "length fits; choose a smaller --context-length")
    protocol = {"eval_context": length, "tokenizer": ctx.tokenizer.name}
    if ctx.split == "test":
        protocol["eval_windows"] = len(windows)
    return Prepared(windows, protocol, max(1, EVAL_TOKENS_PER_BATCH // length))


def evaluate_lm(model: torch.nn.Module, loader, loss_fn: LossFn = cross_entropy,
                autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> dict[str, float]:
    """``perplexity`` (exp of the mean token NLL), ``token_top1`` (fraction of next tokens predicted exactly)
    and ``loss`` (the mean token NLL) of ``model`` over every token ``loader``'s ``(inputs, targets)`` windows
    predict. Eval mode, ``torch.inference_mode()``, sums in float64 on the model's device, read once."""
    device = next(model.parameters()).device
    tokens = 0
    with eval_mode(model), torch.inference_mode():
        loss_sum = torch.zeros((), dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            with autocast():
                logits = model(inputs).float()
            loss_sum += loss_fn(logits, targets, reduction="sum").to(loss_sum.dtype)
            correct += (logits.argmax(-1) == targets).sum()
            tokens += targets.numel()
            measuring.safe_point()
    if tokens == 0:
        raise ValueError("the evaluation loader yielded no tokens")
    loss = loss_sum.item() / tokens
    return {"perplexity": math.exp(loss) if loss < 700 else math.inf, "token_top1": correct.item() / tokens,
            "loss": loss}


def measure(ctx) -> dict[str, float]:
    """The perplexity metric: :func:`evaluate_lm` on ``ctx.loader``."""
    if ctx.loader is None:
        raise ValueError("the perplexity metric needs an evaluation loader (MetricContext.loader)")
    return evaluate_lm(ctx.model, ctx.loader, ctx.loss_fn, ctx.autocast)
