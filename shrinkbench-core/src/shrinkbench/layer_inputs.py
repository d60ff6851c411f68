"""Every prunable layer as a matrix product, and the statistics of its inputs that post-training pruning uses.

A linear or convolution layer computes, per conv group ``g``, ``Y_g = W_g X_g`` where ``W_g`` is a
``(rows, K)`` matrix of its weights and ``X_g`` has one ``K``-vector column per token / output position:

- ``nn.Linear (out, in)``: one group, ``W = weight``, ``K = in``, one column per token;
- ``nn.Conv1d/Conv2d (O, I/g, *kernel)``: ``W_g = weight[g-th O/g outputs].reshape(O/g, I/g * prod(kernel))``,
  columns are the input patches of ``torch.nn.functional.unfold`` (after the layer's padding, in its
  ``padding_mode``) -- channel-major ``(i, *kernel)`` order, as the convolution handling of GPTQ/SparseGPT and
  Wanda's code flattens a conv weight (``W.flatten(1)``);
- ``nn.ConvTranspose1d/2d (I, O/g, *kernel)``: the same as the convolution it equals -- input dilated by the
  stride, padded by ``dilation * (kernel - 1) - padding`` (plus ``output_padding`` at the end), weight of
  group ``g`` transposed to ``(O/g, I/g, *kernel)`` and flipped along the kernel.

:func:`weight_matrices` and :func:`from_weight_matrices` convert between a weight and its ``(groups, rows, K)``
stack; :func:`input_rows` turns a layer's input into ``(groups, tokens, K)``; :class:`LayerStats` accumulates
what Wanda (Sun et al. 2024, "A Simple and Effective Pruning Approach for Large Language Models", ICLR) and
SparseGPT (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot",
ICML) need: the squared input norms per column and the Gram matrix ``X Xᵀ``. :mod:`shrinkbench.layerwise`
collects them block by block.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MATRIX_TYPES", "STATISTICS", "LayerStats", "from_weight_matrices", "input_rows", "input_sums", "is_matrix_layer",
           "matrix_size", "weight_matrices"]

MATRIX_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d,
                                               nn.ConvTranspose2d)
"""Layer types (subclasses included) whose weight this module writes as matrices (3-D convolutions are not)."""

STATISTICS = ("norms", "hessian")
"""What :class:`LayerStats` can accumulate: ``norms`` (Σ x_j² per column, Wanda) and ``hessian`` (Σ x xᵀ,
SparseGPT)."""

_CHUNK = 1 << 25  # input-patch elements unfolded at a time (128 MiB of float32)


def is_matrix_layer(module: nn.Module) -> bool:
    """Whether ``module`` is a :data:`MATRIX_TYPES` layer (its weight has a matrix view)."""
    return isinstance(module, MATRIX_TYPES)


def _transposed(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.conv._ConvTransposeNd)


def weight_matrices(weight: Tensor, module: nn.Module) -> Tensor:
    """``weight`` (of ``module``, or a tensor shaped like it) as ``(groups, rows, K)`` matrices (a copy where
    the layout needs one), rows the outputs of each group, columns in :func:`input_rows` order."""
    groups = int(getattr(module, "groups", 1))
    if isinstance(module, nn.Linear):
        return weight.unsqueeze(0)
    if not is_matrix_layer(module):
        raise TypeError(f"no matrix view for a {type(module).__name__} weight")
    if _transposed(module):  # (I, O/g, *k) -> (g, O/g, I/g, *k), kernel flipped
        split = weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:]).transpose(1, 2)
        flipped = split.flip(tuple(range(3, split.dim())))
        return flipped.reshape(groups, weight.shape[1], -1)
    return weight.reshape(groups, weight.shape[0] // groups, -1)


def from_weight_matrices(matrices: Tensor, module: nn.Module, shape: torch.Size) -> Tensor:
    """The inverse of :func:`weight_matrices`: ``(groups, rows, K)`` matrices back into a tensor of ``shape``."""
    if isinstance(module, nn.Linear):
        return matrices.reshape(shape)
    if _transposed(module):
        groups = matrices.shape[0]
        kernel = tuple(shape[2:])
        split = matrices.reshape(groups, shape[1], shape[0] // groups, *kernel)
        return split.flip(tuple(range(3, split.dim()))).transpose(1, 2).reshape(shape)
    return matrices.reshape(shape)


def _pair(value: int | tuple, fill: int) -> tuple[int, int]:
    """A 1-D or 2-D convolution's setting as a 2-D pair (a 1-D layer runs as 2-D of height 1: ``fill`` first)."""
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return (fill, value[0]) if len(value) == 1 else (value[0], value[1])


def _patches(x: Tensor, module: nn.Module) -> Tensor:
    """A 1-D or 2-D (transposed) convolution's input ``(N, C, *spatial)`` as patches ``(N, L, C * prod(k))``."""
    one_d = x.dim() == 3
    if _transposed(module):
        kernel, stride, dilation = _pair(module.kernel_size, 1), _pair(module.stride, 1), _pair(module.dilation, 1)
        padding, out_pad = _pair(module.padding, 0), _pair(module.output_padding, 0)
        if one_d:
            x = x.unsqueeze(2)
        n, c, h, w = x.shape
        dilated = x.new_zeros(n, c, (h - 1) * stride[0] + 1, (w - 1) * stride[1] + 1)
        dilated[:, :, ::stride[0], ::stride[1]] = x
        lo = [dilation[i] * (kernel[i] - 1) - padding[i] for i in (0, 1)]
        x = F.pad(dilated, (lo[1], lo[1] + out_pad[1], lo[0], lo[0] + out_pad[0]))
        return F.unfold(x, kernel, dilation=dilation).transpose(1, 2)
    if module.padding_mode != "zeros" or any(module._reversed_padding_repeated_twice):
        mode = "constant" if module.padding_mode == "zeros" else module.padding_mode
        x = F.pad(x, module._reversed_padding_repeated_twice, mode=mode)
    kernel, stride, dilation = _pair(module.kernel_size, 1), _pair(module.stride, 1), _pair(module.dilation, 1)
    if one_d:
        x = x.unsqueeze(2)
    return F.unfold(x, kernel, dilation=dilation, stride=stride).transpose(1, 2)


def input_rows(x: Tensor, module: nn.Module) -> Iterable[Tensor]:
    """The input ``x`` of ``module`` as ``(groups, tokens, K)`` float32 rows, so that ``module``'s output less its
    bias is ``rows @ weight_matrices(weight).mT`` per group; yielded in chunks of samples (a convolution's
    patches can be many times its input)."""
    if isinstance(module, nn.Linear):
        yield x.reshape(1, -1, x.shape[-1]).float()
        return
    if not is_matrix_layer(module):
        raise TypeError(f"no matrix view for a {type(module).__name__} layer")
    groups = int(module.groups)
    x = x.float() if x.dim() == module.weight.dim() else x.float().unsqueeze(0)  # unbatched input
    per_sample = max(1, _patches(x[:1], module).numel())
    step = max(1, _CHUNK // per_sample)
    for start in range(0, x.shape[0], step):
        patches = _patches(x[start:start + step], module)  # (n, L, C * prod(k)), channel-major
        k = patches.shape[-1] // groups
        yield patches.reshape(-1, groups, k).transpose(0, 1)


def input_sums(x: Tensor, module: nn.Module, want: Sequence[str] = STATISTICS
               ) -> tuple[int, Tensor | None, Tensor | None]:
    """``(tokens, Σ x_j² (groups, K), Σ x xᵀ (groups, K, K))`` of one input ``x`` of ``module`` in float64 (each
    chunk's products in float32); a sum not in ``want`` is ``None``."""
    tokens, sq_norms, gram = 0, None, None
    for rows in input_rows(x.detach(), module):
        tokens += rows.shape[1]
        if "norms" in want:
            part = rows.square().sum(1).double()
            sq_norms = part if sq_norms is None else sq_norms.add_(part)
        if "hessian" in want:
            part = (rows.mT @ rows).double()
            gram = part if gram is None else gram.add_(part)
    return tokens, sq_norms, gram


@dataclass
class LayerStats:
    """Statistics of the inputs one prunable layer saw during calibration, per conv group, accumulated in
    float64 (each batch's products in float32).

    ``name``: the weight's qualified parameter name; ``module``: the layer; ``want``: which of :data:`STATISTICS`
    to accumulate; ``tokens``: how many input columns
    (tokens, or output positions of a convolution) were added; ``sq_norms`` ``(groups, K)``: Σ x_j² over them
    (``None`` unless ``"norms"`` was asked for); ``gram`` ``(groups, K, K)``: Σ x xᵀ (``None`` unless
    ``"hessian"``). Column order is that of :func:`weight_matrices`.
    """

    name: str
    module: nn.Module
    want: tuple[str, ...] = STATISTICS
    tokens: int = 0
    sq_norms: Tensor | None = field(default=None, repr=False)
    gram: Tensor | None = field(default=None, repr=False)

    def add(self, x: Tensor) -> None:
        """Add the input ``x`` of one call of the layer (the first positional argument of its forward)."""
        self.add_sums(*input_sums(x, self.module, self.want))

    def add_sums(self, tokens: int, sq_norms: Tensor | None, gram: Tensor | None) -> None:
        """Add the sums of :func:`input_sums` (shared by layers that read the same input)."""
        self.tokens += tokens
        if "norms" in self.want:
            self.sq_norms = sq_norms.clone() if self.sq_norms is None else self.sq_norms.add_(sq_norms)
        if "hessian" in self.want:
            self.gram = gram.clone() if self.gram is None else self.gram.add_(gram)

    def norms(self) -> Tensor:
        """Wanda's ‖X_j‖₂ over every calibration token, ``(groups, K)`` float32."""
        if self.sq_norms is None:
            raise ValueError(f"{self.name}: input norms were not collected (ask for 'norms')")
        return self.sq_norms.sqrt().float()

    def hessian(self) -> Tensor:
        """SparseGPT's ``H = 2/n Σ x xᵀ`` (n = tokens), ``(groups, K, K)`` float32.

        The reference divides by the number of sequences instead of tokens; a constant factor changes neither
        SparseGPT's mask (w²/[H⁻¹]²_jj) nor its update, and dampening is relative to mean(diag H)."""
        if self.gram is None:
            raise ValueError(f"{self.name}: input Gram matrices were not collected (ask for 'hessian')")
        return (self.gram * (2 / max(self.tokens, 1))).float()

    @property
    def groups(self) -> int:
        """The layer's conv groups (1 for a linear layer)."""
        return int(getattr(self.module, "groups", 1))


def matrix_size(module: nn.Module) -> tuple[int, int, int]:
    """``(groups, rows, K)`` of ``module``'s weight matrices."""
    return tuple(weight_matrices(torch.empty(module.weight.shape, device="meta"), module).shape)

