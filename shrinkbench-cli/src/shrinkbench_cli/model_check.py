"""What ``shrinkbench check-models`` checks on one model: it builds at the input size it is made for, prunes to
the target, trains under masks with pruned weights exactly zero and kept weights moving, and its MACs are right.

Runs inside the command's per-model process. A row's ``status`` is one of :data:`PASSED`, :data:`FAILED` and
:data:`NOT_CHECKED` (with a ``cause``, one of :data:`CAUSES`: the model could not be checked on this machine,
which says nothing about whether it works). Problems are one-line strings; those starting with ``note:``
describe the model (layer collapse, weights nobody prunes, a smaller batch) and do not fail it.
"""

from __future__ import annotations

from collections.abc import Callable

PASSED, FAILED, NOT_CHECKED = "passed", "failed", "not checked"
CAUSES = ("memory", "time", "weights", "input size", "config")
"""Why a model was not checked: it ran out of memory (building, pruning, or a step of one image), it made no
progress within the timeout, it needs pretrained weights that are not on this machine, it builds at no input
size it declares or the small sizes, or (a language model) its architecture does not build in the configuration
its family gives it (``hf-tiny:``: transformers' default config shrunk to a tiny size)."""

SIDES = (32, 64, 224)
"""Square sizes tried, smallest first, for a model that declares no default input (or cannot be built at it)."""
STEPS = 20
BATCH = 8  # batch norm over fewer examples is unstable once depthwise kernels are pruned
NUM_CLASSES = 10
MAC_TOLERANCE = 0.001
"""Relative difference allowed between the total MACs and FlopCounterMode's; operation types both count must
agree exactly."""
LR = 0.01
MOVABLE = 1e-6  # relative change; float32 resolves 1.2e-7
TOKENS = 32
"""Tokens per sequence given to a language model (fewer when its context is shorter)."""


class NotChecked(Exception):  # noqa: N818 - an outcome, not an error of ShrinkBench
    """This machine cannot check the model: ``cause`` is one of :data:`CAUSES`, the message says why."""

    def __init__(self, cause: str, reason: str) -> None:
        if cause not in CAUSES:
            raise ValueError(f"unknown cause {cause!r}; known: {', '.join(CAUSES)}")
        super().__init__(reason)
        self.cause = cause

    def row(self) -> dict:
        """The row fields that say so: status :data:`NOT_CHECKED`, ``cause`` and ``reason``."""
        return {"status": NOT_CHECKED, "cause": self.cause, "reason": str(self)}


def during(phase: str) -> str:
    """``"while building"``, ``"at step 3/20"``: where a phase reported by :func:`check_one` reads in a reason."""
    return f"at {phase}" if phase.startswith("step ") else f"while {phase}"


def check_one(plugin_set, name: str, strategy: str, compression: float, seed: int,  # noqa: ANN001
              steps: int = STEPS, batch: int = BATCH, progress: Callable[[str], None] = lambda phase: None) -> dict:
    """Build ``name`` (:func:`build_for_check`; a language model -- one that names a tokenizer -- with
    :func:`build_lm_for_check`), prune it, train it ``steps`` masked SGD steps on batches of up to ``batch``
    random images or token sequences (:func:`random_batch`, :func:`train`) and count its MACs
    (:func:`count_check`); the row of the result table (``status``, ``reason``, ``px``: the input side used,
    ``"HxW"`` when not square, ``"32 tokens"`` for a language model, ...). ``progress`` is
    called with the phase (``"building"``, ``"pruning"``, ``"step 3/20"``, ``"counting MACs"``) as each one
    starts. Raises :class:`NotChecked` (see :func:`build_for_check`); running out of memory raises too (the
    caller knows the limit, and says :data:`NOT_CHECKED`)."""
    import torch

    from shrinkbench.masking import apply_masks, validate_masks
    from shrinkbench.plugins import registry_for
    from shrinkbench.pruning import count_parameters, make_context

    registry = registry_for(plugin_set)
    torch.manual_seed(seed)  # the model's initial weights
    progress("building")
    spec = registry.model(name)
    if spec.tokenizer is not None:  # a language model: token ids in, (batch, tokens, vocabulary) logits out
        model, shape, built_note, vocab = build_lm_for_check(spec)
    else:
        (model, shape, built_note), vocab = build_for_check(registry, name), None
    progress("pruning")
    generator = torch.Generator().manual_seed(seed)
    batches = [random_batch(shape, batch, vocab, generator) for _ in range(steps)]
    ctx = make_context(model, compression, seed, batches=lambda: iter(batches), loss_fn=loss)
    masks = registry.strategy(strategy).load()(ctx)
    validate_masks(model, masks, expected=set(ctx.prunable), source=f"strategy {strategy!r}")
    kept_before = {n: p.detach()[masks[n]].clone() for n, p in ctx.prunable.items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    apply_masks(model, masks).enforce(optimizer)
    movable: set[str] = set()
    loss_problem, used = train(model, optimizer, batches, lambda: find_movable(ctx.prunable, masks, movable), progress)
    smaller = f"note: steps of {used} images ({batch} did not fit in memory)" if used < batch else ""
    problems = [loss_problem, smaller, *weight_problems(ctx.prunable, masks, kept_before, movable)]
    progress("counting MACs")
    row = count_check(model, batches[0][0][:1])
    found = [p for p in [built_note, *problems, row.pop("problem")] if p]
    failures = [p for p in found if not p.startswith("note:")]
    nonzero = sum(int(p.count_nonzero()) for p in model.parameters())
    px = f"{shape[0]} tokens" if vocab else shape[-1] if shape[-1] == shape[-2] else f"{shape[-2]}x{shape[-1]}"
    return {"status": FAILED if failures else PASSED, "reason": "; ".join(failures or found), "px": px,
            "batch": used, "compression": round(count_parameters(model) / nonzero, 4), **row}


def random_batch(shape: tuple[int, ...], size: int, vocab: int | None, generator):  # noqa: ANN001, ANN201
    """``(inputs, targets)`` drawn from ``generator``: ``size`` random images of ``shape`` and class labels, or
    (``vocab`` given) ``size`` random sequences of ``shape[0]`` token ids and the token after each."""
    import torch

    if vocab is None:
        return (torch.randn((size, *shape), generator=generator),
                torch.randint(NUM_CLASSES, (size,), generator=generator))
    tokens = torch.randint(vocab, (size, shape[0] + 1), generator=generator)
    return tokens[:, :-1], tokens[:, 1:]


def loss(logits, targets, reduction: str = "mean"):  # noqa: ANN001, ANN201
    """Cross-entropy of ``logits`` ``(..., classes)`` against ``targets`` ``(...)``: one prediction per image,
    or per token of a language model's ``(batch, tokens, vocabulary)`` logits."""
    import torch

    return torch.nn.functional.cross_entropy(logits.flatten(0, -2), targets.flatten(), reduction=reduction)


def weight_problems(prunable: dict, masks: dict, kept_before: dict, movable: set[str]) -> list[str]:
    """Pruned entries that are not zero; ``movable`` tensors whose kept entries never changed. Unchanged
    tensors that no training step could move (layer collapse, vanishing gradients) give a note instead."""
    import torch

    revived = [n for n, p in prunable.items() if p.detach()[~masks[n]].count_nonzero()]
    unchanged = [n for n, p in prunable.items()
                 if kept_before[n].numel() and torch.equal(p.detach()[masks[n]], kept_before[n])]
    frozen = [n for n in unchanged if n in movable]
    starved = [n for n in unchanged if n not in movable]
    collapsed = sum(not m.any() for m in masks.values())
    return [f"{len(revived)} weight tensors grew pruned entries back ({revived[0]})" if revived else "",
            f"kept weights of {len(frozen)} tensors never changed ({frozen[0]})" if frozen else "",
            f"note: no usable gradient reaches {len(starved)} tensors ({collapsed} fully pruned)" if starved else ""]


def find_movable(prunable: dict, masks: dict, found: set[str]) -> None:
    """Add to ``found`` the weights whose current ``.grad`` would move a kept entry by more than
    :data:`MOVABLE` of its value in a plain SGD step of lr :data:`LR` (well above float32 rounding)."""
    for name, weight in prunable.items():
        if name not in found and weight.grad is not None:
            if ((LR * weight.grad).abs() > MOVABLE * weight.detach().abs())[masks[name]].any():
                found.add(name)


def count_check(model, x) -> dict:  # noqa: ANN001
    """MACs of ``x`` by ShrinkBench and by FlopCounterMode, speedup, and the problem when they disagree
    (:func:`mac_problem`), or a note naming weights read by a counted operation that are not prunable (the
    classifier aside)."""
    from collections import Counter

    from shrinkbench.metrics import flops
    from shrinkbench.metrics.macs import count_ops, total_macs
    from shrinkbench.pruning import prunable_parameters

    ops = count_ops(model, x)
    macs, nonzero = total_macs(ops)
    ours: Counter[str] = Counter()
    for op in ops:
        ours[op.op] += op.macs
    reference = {op: value // 2 if value % 2 == 0 else value / 2 for op, value in flops.torch_flops_by_op(model, x).items()}
    unprunable = sorted({op.weight for op in ops if op.weight} - set(prunable_parameters(model, True)))
    problem = mac_problem(dict(ours), reference)
    if not problem and unprunable:
        problem = f"note: {len(unprunable)} weights read by counted operations are not prunable ({unprunable[0]})"
    speedup = round(macs / nonzero, 4) if nonzero else float("inf")
    return {"macs": macs, "reference_macs": sum(reference.values()), "speedup": speedup, "problem": problem}


def mac_problem(ours: dict[str, float], reference: dict[str, float]) -> str:
    """How MACs by operation type (``{"aten.mm": n}``) of ShrinkBench's count (``ours``) and FlopCounterMode's
    (``reference``) differ: ``""`` when they agree on every type; a problem naming every type that differs when
    a type both count differs, or the totals differ by more than :data:`MAC_TOLERANCE`; else a note (a type
    only one counts, within the tolerance)."""
    ours = {op: n for op, n in ours.items() if n}
    reference = {op: n for op, n in reference.items() if n}
    differing = [op for op in sorted(ours.keys() | reference.keys()) if ours.get(op, 0) != reference.get(op, 0)]
    if not differing:
        return ""
    total, expected = sum(ours.values()), sum(reference.values())
    relative = abs(total - expected) / expected if expected else float("inf")
    detail = "; ".join(_difference(op, ours.get(op), reference.get(op)) for op in differing)
    summary = f"MACs {total:,.0f} vs FlopCounterMode {expected:,.0f} ({relative:.2%} apart): {detail}"
    both = any(op in ours and op in reference for op in differing)
    return summary if both or relative > MAC_TOLERANCE else f"note: {summary}"


def _difference(op: str, ours: float | None, reference: float | None) -> str:
    if ours is None:
        return f"{op} {reference:,.0f} counted only by FlopCounterMode"
    if reference is None:
        return f"{op} {ours:,.0f} counted only here"
    return f"{op} {ours:,.0f} vs {reference:,.0f}"


def train(model, optimizer, batches: list, after_backward: Callable[[], None] | None = None,  # noqa: ANN001
          progress: Callable[[str], None] = lambda phase: None) -> tuple[str | None, int]:
    """One SGD step in train mode per batch of ``batches`` (``after_backward`` runs before each step).

    A step that runs out of memory is taken again on the first half of its batch, and the later steps use
    that size too, down to one example (then :class:`MemoryError`). Returns the problem when the loss stops
    being finite (else ``None``) and the batch size of the last step."""
    model.train()
    size = len(batches[0][0])
    for step, (x, y) in enumerate(batches, 1):
        progress(f"step {step}/{len(batches)}")
        while (loss := fitting_step(model, optimizer, x[:size], y[:size], after_backward)) is None:
            if size == 1:
                raise MemoryError("a training step of one example does not fit")
            size //= 2
        if not loss.isfinite():
            return f"loss is {loss.item()} at step {step}", size
    return None, size


def fitting_step(model, optimizer, x, y, after_backward: Callable[[], None] | None):  # noqa: ANN001, ANN201
    """The loss of one SGD step on ``(x, y)``, not taken when the loss is not finite; ``None`` when the step
    ran out of memory (its gradients are dropped, so that a smaller batch can try)."""
    import torch

    optimizer.zero_grad(set_to_none=True)
    try:
        value = loss(model(x), y)
        if not torch.isfinite(value):
            return value.detach()
        value.backward()
        if after_backward is not None:
            after_backward()
        optimizer.step()
        return value.detach()
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
    optimizer.zero_grad(set_to_none=True)  # outside the handler: the traceback, and the activations it held, are gone
    return None


OUT_OF_MEMORY = ("can't allocate memory", "std::bad_alloc", "could not create a primitive", "out of memory",
                 "not enough memory")
"""How a failed allocation reads: torch's CPU allocator, C++'s ``new`` (oneDNN, BLAS), oneDNN when it cannot
allocate a primitive's scratch space, CUDA's allocator, and torch's ``DefaultCPUAllocator``."""


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says an allocation failed (``MemoryError``, or any of :data:`OUT_OF_MEMORY`): under an
    address-space limit each library says so in its own words."""
    return isinstance(exc, MemoryError) or any(words in str(exc) for words in OUT_OF_MEMORY)


def build_for_check(registry, name: str):  # noqa: ANN001, ANN201
    """``(model, input shape, note)`` for ``name`` built at the input it declares
    (:meth:`~shrinkbench.specs.ModelSpec.default_input_shape`), else at the first of :data:`SIDES` it takes
    (the note says why its declared input was not used; ``""`` when it was or there is none). Raises
    :class:`NotChecked` when it builds at none of them or needs weights this machine lacks; any other error of
    the model's constructor propagates (the model fails)."""
    from shrinkbench.errors import IncompatibleError, WeightsNotFoundError, one_line

    spec = registry.model(name)
    default = spec.default_input_shape()
    channels = spec.in_channels or (default[0] if default else 3)
    shapes = [default] if default else []
    shapes += [(channels, side, side) for side in SIDES if (channels, side, side) != default]
    refusals = []
    for shape in shapes:
        reason = spec.incompatibility(shape)
        if reason is None:
            try:
                model = spec.load()(NUM_CLASSES, shape, None)
            except IncompatibleError as exc:
                reason = str(exc)
            except WeightsNotFoundError as exc:
                raise NotChecked("weights", f"needs pretrained weights to build: {one_line(exc)}") from None
            else:
                note = f"note: built at {'x'.join(map(str, shape))}, not its default {'x'.join(map(str, default))} " \
                       f"({refusals[0]})" if default and shape != default else ""
                return model, shape, note
        refusals.append(reason)
    declared = f"its default {'x'.join(map(str, default))} and " if default else ""
    raise NotChecked("input size", f"builds at none of {declared}{'/'.join(map(str, SIDES))} px: {refusals[0]}")


def build_lm_for_check(spec):  # noqa: ANN001, ANN201
    """``(model, (tokens,), note, vocabulary)`` for the language model ``spec`` (one that names a tokenizer):
    built without pretrained weights beyond its own, checked to return ``(batch, tokens, vocabulary)`` logits for
    its tokenizer's ids (:data:`TOKENS` per sequence, fewer when its context is shorter). Raises
    :class:`NotChecked` when its weights are not here or its configuration does not build; a tokenizer that is
    not a :class:`shrinkbench.Tokenizer`, or logits of another shape, fail the model."""
    import torch

    from shrinkbench import Tokenizer
    from shrinkbench.errors import IncompatibleError, WeightsNotFoundError, one_line

    try:
        tokenizer = spec.load_tokenizer(None)
        model = spec.load()(NUM_CLASSES, (), None)
    except WeightsNotFoundError as exc:
        raise NotChecked("weights", f"needs pretrained weights to build: {one_line(exc)}") from None
    except IncompatibleError as exc:
        raise NotChecked("config", one_line(exc, with_type=False)) from None
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"its tokenizer {type(tokenizer).__name__} lacks name, vocab_size, context_length or encode")
    ids = tokenizer.encode("ShrinkBench checks this model.\nSecond line.")
    if not ids or not all(isinstance(i, int) and 0 <= i < tokenizer.vocab_size for i in ids):
        raise ValueError(f"its tokenizer encodes a sentence as {ids[:8]!r}: not ids below {tokenizer.vocab_size}")
    tokens = min(TOKENS, tokenizer.context_length or TOKENS)
    with torch.no_grad():
        logits = model(torch.tensor([ids[:tokens]]))
    if logits.dim() != 3 or logits.shape[:2] != (1, len(ids[:tokens])) or logits.shape[-1] < tokenizer.vocab_size:
        raise ValueError(f"its logits for {len(ids[:tokens])} tokens have shape {tuple(logits.shape)}, not "
                         f"(1, {len(ids[:tokens])}, >= {tokenizer.vocab_size}) for its tokenizer's vocabulary")
    return model, (tokens,), "", tokenizer.vocab_size
