"""Which executed operations are multiply-accumulates, and how many each performs.

Operations are named ``namespace::name`` (``aten::mm``). Each one the dispatch-level counter of
:mod:`shrinkbench.metrics.macs` sees falls in exactly one class, decided once per operation by
:func:`classify`:

- :data:`RULES` -- counted: a rule turns the call's arguments and output into terms ``(MACs, operands)``, the
  operands being the tensors that may be the weight, most likely first (none for weight-free products).
- an operation without a rule of ours that has a ``torch.utils.flop_counter`` formula (torch's own, or one a
  library registered with ``register_flop_formula``) -- counted as that formula's FLOPs / 2, weight-free.
- :data:`UNCOUNTED` -- multiply-accumulates that cannot be counted from shapes (data-dependent linear algebra,
  compressed sparse or packed quantized operands): flagged.
- any other operation whose name looks like a multiply-accumulate (:func:`looks_like_macs`: ``mm``, ``mv``,
  ``dot``, ``conv``, ``linear``, ``rnn``, ``lstm``, ``gru``, ``attention``... in its name) and is not in
  :data:`NOT_MACS` -- flagged, so a new or third-party kernel is never silently left out.
- everything else (elementwise operations, normalisation, pooling, views) -- not multiply-accumulates.

Operations torch decomposes before dispatch (``linear``, ``matmul``, ``einsum``, ``tensordot``, ``inner``,
``chain_matmul``, ``linalg.multi_dot``, ``conv2d``, ``bilinear``, ``cdist``, ``lstm``/``gru``/``rnn`` cells)
are counted through the operations above. ``kron``, ``outer``/``ger`` and ``linalg.vecdot`` decompose into
elementwise products (and a sum): they multiply without a matrix product and are not counted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from torch import Tensor

__all__ = ["NOT_MACS", "RULES", "UNCOUNTED", "Rule", "Term", "classify", "looks_like_macs"]

Term = tuple[int, tuple]
"""``(MACs, operands that may be the weight, most likely first)``."""

Rule = Callable[[Sequence, dict, object], "list[Term] | None"]
"""``(args, kwargs, output) -> terms``; ``None`` when this call cannot be counted (it is then flagged)."""


def _first(out: object) -> Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _per_slice(weight: Tensor) -> int:
    """Entries of one output channel's filter, ``weight[0].numel()``."""
    return math.prod(weight.shape[1:])


def product(first: int) -> Rule:
    """``a @ b`` (matrix, batched, matrix-vector or vector-vector) of positional arguments ``first``, ``first + 1``."""

    def rule(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
        a, b = args[first], args[first + 1]
        return [(a.numel() * (b.shape[-1] if b.dim() > 1 else 1), (b, a))]

    return rule


def rank_one_update(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
    """``addr``: ``self + outer(vec1, vec2)`` accumulates one product into every output element."""
    return [(args[1].numel() * args[2].numel(), (args[2], args[1]))]


def linear_like(weight: int | None) -> Rule:
    """Input ``(..., K)`` to output ``(..., N)``: ``input.numel() * N``; the weight is argument ``weight``
    (``None`` for packed layouts whose entries are not the weight's, charged dense)."""

    def rule(args: Sequence, _kwargs: dict, out: object) -> list[Term]:
        operands = (args[weight], args[0]) if weight is not None else ()
        return [(args[0].numel() * _first(out).shape[-1], operands)]

    return rule


def grouped_mm(args: Sequence, _kwargs: dict, out: object) -> list[Term]:
    """``_grouped_mm``: every output element accumulates its group's ``K`` products."""
    a, b = args[0], args[1]
    macs = a.numel() * b.shape[-1] if a.dim() == 2 and b.dim() == 2 else _first(out).numel() * a.shape[-1]
    return [(macs, (b, a))]


def foreach_mm(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
    """``_foreach_mm``: one matrix product per pair of the two lists."""
    return [(a.numel() * b.shape[-1], (b, a)) for a, b in zip(args[0], args[1], strict=True)]


def convolution(args: Sequence, _kwargs: dict, out: object) -> list[Term]:
    """``convolution(input, weight, bias, stride, padding, dilation, transposed, ...)``."""
    x, w = args[0], args[1]
    return [((x if args[6] else _first(out)).numel() * _per_slice(w), (w, x))]


def conv_forward(args: Sequence, _kwargs: dict, out: object) -> list[Term]:
    """A convolution kernel ``(input, weight, ...)``: every output element meets one filter ``weight[0]``."""
    return [(_first(out).numel() * _per_slice(args[1]), (args[1], args[0]))]


def conv_transpose_forward(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
    """A transposed convolution kernel: every input element meets ``weight[0]`` (its out/groups x taps)."""
    return [(args[0].numel() * _per_slice(args[1]), (args[1], args[0]))]


def conv_tbc(args: Sequence, _kwargs: dict, out: object) -> list[Term]:
    """``conv_tbc(input (T, B, Cin), weight (k, Cin, Cout), ...)``: ``k * Cin`` per output element."""
    w = args[1]
    return [(_first(out).numel() * (w.numel() // w.shape[-1]), (w, args[0]))]


def attention(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
    """Scores ``q @ k^T`` and values ``p @ v`` of query (..., L, E), key (..., S, E), value (..., S, Ev);
    causal masks are not discounted (as ``FlopCounterMode``)."""
    q, k, v = args[0], args[1], args[2]
    return [(q.numel() // q.shape[-1] * k.shape[-2] * (q.shape[-1] + v.shape[-1]), ())]


def native_multi_head_attention(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
    """Fused ``nn.MultiheadAttention``: query/key/value slices of ``qkv_weight``, attention, ``proj_weight``."""
    q, k, e, qkv, proj = args[0], args[1], args[3], args[5], args[7]
    queries, keys = q.numel() // e, k.numel() // e
    scores = q.shape[0] * q.shape[-2] * k.shape[-2] * e  # all heads: B x L x S x (E / heads) x heads
    return [(queries * e * e, (qkv[:e],)), (keys * e * e, (qkv[e:2 * e],)), (keys * e * e, (qkv[2 * e:],)),
            (2 * scores, ()), (queries * e * e, (proj,))]


def transformer_encoder_layer(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
    """Fused ``nn.TransformerEncoderLayer`` (self-attention): qkv, attention, projection, two feed-forwards."""
    src, e, qkv, proj, ffn1, ffn2 = args[0], args[1], args[3], args[5], args[14], args[16]
    tokens = src.numel() // e
    scores = src.shape[0] * src.shape[-2] * src.shape[-2] * e
    return [(tokens * qkv.numel(), (qkv,)), (2 * scores, ()), (tokens * proj.numel(), (proj,)),
            (tokens * ffn1.numel(), (ffn1,)), (tokens * ffn2.numel(), (ffn2,))]


def rnn_weights(index: int) -> Rule:
    """A fused recurrent kernel whose argument ``index`` lists every layer's and direction's weights: each
    matrix meets every time step of every sequence once (``steps = input.numel() / input.shape[-1]``)."""

    def rule(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
        x = args[0]
        steps = x.numel() // x.shape[-1]
        return [(steps * w.numel(), (w,)) for w in args[index] if isinstance(w, Tensor) and w.dim() == 2]

    return rule


def mkldnn_rnn_layer(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
    """One layer and direction of ``nn.LSTM`` on the CPU: ``weight_ih`` and ``weight_hh`` every step."""
    x = args[0]
    steps = x.numel() // x.shape[-1]
    return [(steps * args[1].numel(), (args[1],)), (steps * args[2].numel(), (args[2],))]


def distance(args: Sequence, _kwargs: dict, out: object) -> list[Term]:
    """``cdist``: one multiply-accumulate per coordinate of every pair; distances are weight-free (a zero
    coordinate saves nothing)."""
    return [(_first(out).numel() * args[0].shape[-1], ())]


def linear_combination(args: Sequence, _kwargs: dict, out: object) -> list[Term]:
    """``_compute_linear_combination(input (n, ...), coefficients (m, n))``."""
    return [(_first(out).numel() * args[1].shape[-1], ())]


def trilinear(args: Sequence, _kwargs: dict, _out: object) -> list[Term]:
    """``_trilinear`` (``nn.Bilinear``): one multiply-accumulate per point of the broadcast index space
    (``N x out x in1 x in2`` for bilinear, whose weight is ``i2``)."""
    sizes: list[int] = []
    for tensor, expand in zip(args[:3], args[3:6], strict=True):
        shape = list(tensor.shape)
        for dim in sorted(expand):
            shape.insert(dim, 1)
        sizes = [max(a, b) for a, b in zip(sizes, shape, strict=True)] if sizes else shape
    return [(math.prod(sizes), (args[1], args[0], args[2]))]


def flop_formula(formula: Callable) -> Rule:
    """A ``torch.utils.flop_counter`` formula, halved: weight-free MACs."""

    def rule(args: Sequence, kwargs: dict, out: object) -> list[Term]:
        return [(int(formula(*args, **kwargs, out_val=out)) // 2, ())]

    return rule


def _torch_formula(name: str) -> Rule:
    """The flop counter's formula for aten operation ``name``, looked up when first used."""

    def rule(args: Sequence, kwargs: dict, out: object) -> list[Term] | None:
        import torch
        from torch.utils import flop_counter

        formula = flop_counter.flop_registry.get(getattr(torch.ops.aten, name))
        return flop_formula(formula)(args, kwargs, out) if formula is not None else None

    return rule


def _table(groups: dict[Rule, str]) -> dict[str, Rule]:
    return {f"aten::{name}": rule for rule, names in groups.items() for name in names.split()}


_CONV_NAMES = ("mkldnn_convolution cudnn_convolution cudnn_convolution_relu cudnn_convolution_add_relu "
               "miopen_convolution miopen_depthwise_convolution miopen_convolution_relu miopen_convolution_add_relu "
               "_conv_depthwise2d conv_depthwise3d _slow_conv2d_forward slow_conv3d_forward slow_conv_dilated2d "
               "slow_conv_dilated3d _nnpack_spatial_convolution _mps_convolution")
_ATTENTION_NAMES = ("_scaled_dot_product_flash_attention _scaled_dot_product_flash_attention_for_cpu "
                    "_scaled_dot_product_efficient_attention _scaled_dot_product_cudnn_attention "
                    "_scaled_dot_product_fused_attention_overrideable _scaled_dot_product_attention_math_for_mps "
                    "_triton_scaled_dot_attention")

RULES: dict[str, Rule] = {
    **_table({
        product(0): "mm bmm mv dot vdot _int_mm _scaled_mm _scaled_mm_v2 hspmm _sparse_sparse_matmul",
        product(1): "addmm addmm_ _addmm_activation addmv addmv_ baddbmm baddbmm_ addbmm addbmm_ _scaled_addmm "
                    "_scaled_addmm_ _sparse_addmm sspaddmm",
        rank_one_update: "addr addr_",
        linear_like(1): "linear mkldnn_linear _weight_int8pack_mm",
        linear_like(None): "_weight_int4pack_mm _weight_int4pack_mm_for_cpu _weight_int4pack_mm_with_scales_and_zeros "
                           "_dyn_quant_matmul_4bit _mixed_dtypes_linear",
        grouped_mm: "_grouped_mm _scaled_grouped_mm _scaled_grouped_mm_v2",
        foreach_mm: "_foreach_mm",
        convolution: "convolution _convolution convolution_overrideable",
        conv_forward: _CONV_NAMES,
        conv_transpose_forward: "cudnn_convolution_transpose miopen_convolution_transpose slow_conv_transpose2d "
                                "slow_conv_transpose3d _mps_convolution_transpose",
        conv_tbc: "conv_tbc",
        attention: _ATTENTION_NAMES,
        _torch_formula("_flash_attention_forward"): "_flash_attention_forward",
        _torch_formula("_efficient_attention_forward"): "_efficient_attention_forward",
        native_multi_head_attention: "_native_multi_head_attention _triton_multi_head_attention",
        transformer_encoder_layer: "_transformer_encoder_layer_fwd",
        mkldnn_rnn_layer: "mkldnn_rnn_layer",
        rnn_weights(1): "_cudnn_rnn miopen_rnn",
        rnn_weights(2): "_lstm_mps",
        distance: "_cdist_forward _euclidean_dist _pdist_forward",
        linear_combination: "_compute_linear_combination",
        trilinear: "_trilinear",
    }),
    "torchvision::deform_conv2d": conv_forward,
}
"""Counting rule by operation. ``linear`` and ``mkldnn_linear`` count ``input @ weight.T``; packed int4
weights and ``_mixed_dtypes_linear``'s are charged dense (their stored entries are not the weight's)."""

_LINALG = ("_linalg_solve_ex _linalg_det _linalg_slogdet _linalg_eigh _linalg_eigvals _linalg_svd linalg_inv_ex "
           "linalg_cholesky_ex linalg_eig linalg_eigvals linalg_householder_product linalg_ldl_factor_ex "
           "linalg_ldl_solve linalg_lstsq linalg_lu linalg_lu_factor_ex linalg_lu_solve linalg_matrix_exp "
           "linalg_matrix_sqrth linalg_pinv linalg_polar linalg_qr linalg_solve_triangular triangular_solve "
           "cholesky_solve _cholesky_solve_helper cholesky_inverse geqrf ormqr _spsolve")

UNCOUNTED: dict[str, str] = {
    **dict.fromkeys((f"aten::{name}" for name in _LINALG.split()),
                    "linear algebra whose multiply-accumulates depend on the data (pivoting, iterations)"),
    **dict.fromkeys(("aten::sparse_sampled_addmm", "aten::_sparse_mm_reduce_impl", "aten::_cslt_sparse_mm",
                     "aten::_sparse_semi_structured_mm", "aten::_sparse_semi_structured_addmm",
                     "aten::_sparse_semi_structured_linear"),
                    "compressed or sampled sparse operand: the dense count and the weight's density are unknown"),
    **dict.fromkeys(("aten::quantized_lstm", "aten::quantized_gru"), "packed quantized cell parameters"),
    **dict.fromkeys(("aten::_cudnn_attention_forward", "aten::_flash_attention_forward_no_dropout_inplace",
                     "aten::_cudnn_attention_forward_no_dropout_inplace"),
                    "internal attention kernel (its layout depends on the caller)"),
    "aten::einsum": "an einsum that reaches dispatch undecomposed (its contraction order is unknown)",
}
"""Multiply-accumulates that are flagged, not counted, with why."""

NOT_MACS: dict[str, str] = {
    **dict.fromkeys(("aten::_thnn_fused_lstm_cell", "aten::_thnn_fused_gru_cell"),
                    "gate arithmetic on gates already computed by counted matrix products"),
    **dict.fromkeys(("aten::upsample_linear1d", "aten::upsample_bilinear2d", "aten::upsample_trilinear3d",
                     "aten::_upsample_bilinear2d_aa"), "interpolation"),
    **dict.fromkeys(("aten::_cudnn_rnn_flatten_weight", "aten::_convert_weight_to_int4pack",
                     "aten::_convert_weight_to_int4pack_for_cpu", "aten::_dyn_quant_pack_4bit_weight",
                     "aten::mkldnn_reorder_conv2d_weight", "aten::mkldnn_reorder_conv3d_weight",
                     "aten::_cslt_sparse_mm_search"), "weight layout conversion"),
    **dict.fromkeys(("aten::linalg_vector_norm", "aten::linalg__powsum", "aten::linalg_cross",
                     "aten::_linalg_check_errors", "aten::lu_unpack", "aten::_dimV"),
                    "norm, cross product or bookkeeping"),
}
"""Operations whose names look like multiply-accumulates but are not, with why."""

_WORDS = ("mm", "mv", "dot", "gemm", "gemv", "matmul", "einsum", "tensordot", "linear", "rnn", "lstm", "gru",
          "attention", "attn", "mha", "sdpa", "cdist", "pdist")
_EXACT = frozenset(("addr", "ger", "kron", "linalg", "solve", "cholesky"))


def looks_like_macs(name: str) -> bool:
    """Whether operation ``name`` (``namespace::name``) is named like a multiply-accumulate: a word of its
    name (split at ``_``, ``.`` and digits) ends in ``mm``, ``mv``, ``dot``, ``linear``, ``rnn``, ``lstm``,
    ``gru``, ``attention``... or contains ``conv`` (not ``convert``). ``cummax`` or ``gamma`` do not match."""
    for word in re.split(r"[_.\d]+", name.rsplit("::", 1)[-1].lower()):
        if word in _EXACT or word.endswith(_WORDS) or ("conv" in word and not word.startswith("convert")):
            return True
    return False


def classify(name: str, packet: object = None) -> tuple[Rule | None, bool]:
    """``(rule, flagged)`` for operation ``name``: its rule from :data:`RULES` (else the flop counter's formula
    for ``packet``, when torch has one), or ``flagged`` when it is in :data:`UNCOUNTED` or looks like a
    multiply-accumulate without being in :data:`NOT_MACS`; ``(None, False)`` for anything else."""
    rule = RULES.get(name)
    if rule is not None:
        return rule, False
    if name in UNCOUNTED:
        return None, True
    if packet is not None:
        from torch.utils import flop_counter

        formula = flop_counter.flop_registry.get(packet)
        if formula is not None:
            return flop_formula(formula), False
    return None, name not in NOT_MACS and looks_like_macs(name)
