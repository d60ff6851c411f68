"""Attention projections are prunable like any linear weight, and stay pruned under training."""

from __future__ import annotations

import torch
from torch import nn

from shrinkbench.masking import apply_masks
from shrinkbench.pruning import make_context, prunable_parameters


class TinyTransformer(nn.Module):
    """Token embedding, position embedding, class token, self- and cross-attention, norm, MLP, head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.pos = nn.Parameter(torch.randn(1, 5, 8))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.cross = nn.MultiheadAttention(8, 2, kdim=4, vdim=4, batch_first=True)  # separate q/k/v weights
        self.norm = nn.LayerNorm(8)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
        self.head = nn.Linear(8, 3)

    def forward(self, tokens):
        x = torch.cat([self.cls_token.expand(len(tokens), -1, -1), self.embed(tokens) + self.pos[:, 1:]], 1)
        x = x + self.attn(x, x, x)[0]
        memory = x[..., :4]
        x = x + self.cross(x, memory, memory)[0]
        return self.head(self.mlp(self.norm(x))[:, 0])


def test_attention_weights_are_prunable_in_module_order_and_nothing_else():
    model = TinyTransformer()
    assert list(prunable_parameters(model)) == [
        "attn.in_proj_weight", "attn.out_proj.weight",
        "cross.q_proj_weight", "cross.k_proj_weight", "cross.v_proj_weight", "cross.out_proj.weight",
        "mlp.0.weight", "mlp.2.weight",
    ]
    assert list(prunable_parameters(model, include_embeddings=True))[0] == "embed.weight"
    assert list(prunable_parameters(model, True))[-1] == "head.weight"
    assert prunable_parameters(model, include_classifier=False) == prunable_parameters(model)


def test_transposed_convolutions_are_prunable():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ConvTranspose1d(4, 4, 3), nn.Flatten(), nn.Linear(32, 2))
    assert list(prunable_parameters(model)) == ["0.weight", "1.weight"]


def test_pruned_attention_weights_stay_zero_over_20_masked_steps():
    torch.manual_seed(0)
    model = TinyTransformer()
    ctx = make_context(model, 1.5)  # keeps about half of every prunable tensor
    masks = ctx.masks({name: weight.detach().abs() for name, weight in ctx.prunable.items()}, scope="layer")
    assert all(0 < int(m.sum()) < m.numel() for m in masks.values())  # every tensor, in_proj too, is cut
    kept_before = {name: weight.detach()[masks[name]].clone() for name, weight in ctx.prunable.items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    apply_masks(model, masks).enforce(optimizer)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        tokens, targets = torch.randint(20, (4, 4), generator=generator), torch.randint(3, (4,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(tokens), targets).backward()
        optimizer.step()
    for name, weight in ctx.prunable.items():
        assert torch.count_nonzero(weight.detach()[~masks[name]]) == 0, name
        assert not torch.equal(weight.detach()[masks[name]], kept_before[name]), f"{name} never trained"
