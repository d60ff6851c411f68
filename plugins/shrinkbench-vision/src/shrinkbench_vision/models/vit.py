"""A Vision Transformer sized for small images (28x28 digits, 32x32 CIFAR), trainable on a CPU.

Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words" (ViT): the image cut into non-overlapping patches,
each linearly embedded, a learned class token and learned position embeddings, pre-norm transformer encoder
blocks (multi-head self-attention, then a GELU MLP, each in a residual branch), a final LayerNorm and a linear
head on the class token. The shape here is DeiT-Tiny's recipe shrunk (Touvron et al. 2021): 4x4 patches
(49 tokens and the class token for a 28x28 digit), width 64, 4 blocks of 4 heads, MLP ratio 2.

Every projection is an ``nn.Linear`` (``qkv``, ``proj``, ``fc1``, ``fc2``, as in timm's ViT), so the
post-training strategies prune the attention and MLP weights the way Wanda's ViT experiments do, and
:func:`shrinkbench.layerwise.find_blocks` finds the blocks in ``blocks``. The patch embedding is a
convolution (prunable like any other), the head is the classifier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shrinkbench.errors import IncompatibleError

from .weights import finish

PATCH, WIDTH, DEPTH, HEADS, MLP_RATIO = 4, 64, 4, 4, 2


class Attention(nn.Module):
    """Multi-head self-attention with one ``qkv`` projection and an output ``proj`` (no dropout)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, T, width)`` -> ``(N, T, width)``."""
        n, t, width = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, t, width))


class Block(nn.Module):
    """Pre-norm encoder block: ``x + attn(norm1(x))``, then ``x + fc2(gelu(fc1(norm2(x))))``."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, mlp_ratio * width)
        self.fc2 = nn.Linear(mlp_ratio * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, T, width)`` -> ``(N, T, width)``."""
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """The ViT of this module's docstring for ``(C, H, W)`` images whose sides the patch size divides."""

    shrinkbench_classifier = "head"

    def __init__(self, num_classes: int = 10, input_shape: tuple[int, int, int] = (1, 28, 28), *, patch: int = PATCH,
                 width: int = WIDTH, depth: int = DEPTH, heads: int = HEADS, mlp_ratio: int = MLP_RATIO) -> None:
        super().__init__()
        channels, height, side = input_shape
        if height % patch or side % patch:
            raise IncompatibleError(f"model 'vit-p4' cannot take {height}x{side} images: its {patch}x{patch} patches "
                                    f"must tile them (a side divisible by {patch})")
        tokens = (height // patch) * (side // patch) + 1
        self.patch_embed = nn.Conv2d(channels, width, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, width) * 0.02)
        self.blocks = nn.Sequential(*(Block(width, heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``(N, C, H, W)``."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def vit_p4(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """Build :class:`ViT` (4x4 patches, width 64, depth 4); ``pretrained`` is a local state-dict path or ``None``."""
    return finish(ViT(num_classes, tuple(input_shape)), "head", pretrained)
