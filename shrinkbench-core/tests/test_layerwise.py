"""Sequential (block-by-block) calibration statistics: every layer type's matrix view is its real product; the
blocks are the transformer layers / residual blocks / CNN layers; each block's statistics are those of its
inputs with the blocks before it already pruned, whichever way the inputs are obtained (chained reruns, caught
from the model, whole forwards for a shared block); nothing but the pruned weights changes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shrinkbench.layer_inputs import LayerStats, from_weight_matrices, input_rows, weight_matrices
from shrinkbench.layerwise import find_blocks, prune_sequentially, unsupported_layers
from shrinkbench.pruning import prunable_parameters

LAYERS = {
    "linear, 3-d input": (lambda: nn.Linear(6, 5), (3, 4, 6)),
    "conv": (lambda: nn.Conv2d(6, 4, 3, padding=1), (2, 6, 7, 7)),
    "strided dilated grouped reflect conv": (lambda: nn.Conv2d(6, 4, (3, 2), stride=2, dilation=(1, 2), padding=(2, 1),
                                                                groups=2, padding_mode="reflect"), (2, 6, 9, 9)),
    "depthwise same conv": (lambda: nn.Conv2d(6, 6, 3, padding="same", groups=6), (2, 6, 5, 5)),
    "grouped conv1d": (lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 9)),
    "circular conv1d": (lambda: nn.Conv1d(4, 6, 3, padding=1, padding_mode="circular"), (2, 4, 9)),
    "grouped transposed conv": (lambda: nn.ConvTranspose2d(20, 12, 2, stride=2, groups=2), (2, 20, 4, 4)),
    "transposed conv, padding": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1,
                                                            dilation=2), (2, 4, 5, 5)),
    "grouped transposed conv1d": (lambda: nn.ConvTranspose1d(15, 6, 3, groups=3, stride=2, padding=1), (2, 15, 7)),
}


@pytest.mark.parametrize("case", list(LAYERS))
def test_every_layer_is_its_weight_matrices_times_its_input_rows(case):
    torch.manual_seed(0)
    make, shape = LAYERS[case]
    layer, x = make(), torch.randn(shape)
    with torch.no_grad():
        y = layer(x) - (layer.bias if isinstance(layer, nn.Linear) else layer.bias.view(-1, *[1] * (x.dim() - 2)))
        mats = weight_matrices(layer.weight, layer)
        rows = torch.cat(list(input_rows(x, layer)), 1)  # (groups, tokens, K)
    got = (rows @ mats.mT).transpose(0, 1).reshape(rows.shape[1], -1)  # tokens x outputs
    want = y.reshape(-1, y.shape[-1]) if isinstance(layer, nn.Linear) else y.flatten(2).transpose(1, 2).reshape(-1, y.shape[1])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert torch.equal(from_weight_matrices(mats, layer, layer.weight.shape), layer.weight)
    stats = LayerStats("w", layer)
    stats.add(x)
    flat = rows.double()
    torch.testing.assert_close(stats.gram, flat.mT @ flat, rtol=1e-5, atol=1e-5)  # float32 products
    torch.testing.assert_close(stats.sq_norms, flat.square().sum(1), rtol=1e-5, atol=1e-5)
    assert stats.tokens == rows.shape[1]


def tiny_llama(layers: int = 3):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(config).eval()


def direct_inputs(model: nn.Module, prunable, calibration) -> dict[str, list[torch.Tensor]]:
    """Every prunable layer's inputs over the calibration batches, captured by plain hooks on full forwards."""
    seen: dict[str, list[torch.Tensor]] = {}
    modules = dict(model.named_modules())
    handles = [modules[w.rpartition(".")[0]].register_forward_pre_hook(
        lambda _, args, w=w: seen.setdefault(w, []).append(args[0].detach().clone())) for w in prunable]
    with torch.no_grad():
        for batch in calibration:
            model(batch)
    for h in handles:
        h.remove()
    return seen


def assert_stats_of(stats: LayerStats, inputs: list[torch.Tensor]) -> None:
    rows = torch.cat([torch.cat(list(input_rows(x, stats.module)), 1) for x in inputs], 1).double()
    torch.testing.assert_close(stats.gram, rows.mT @ rows, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(stats.sq_norms, rows.square().sum(1), rtol=1e-5, atol=1e-5)


def test_llama_decoder_layers_are_the_blocks_chained_with_the_first_layers_keyword_arguments():
    model = tiny_llama()
    prunable = prunable_parameters(model)
    assert "lm_head.weight" not in prunable
    assert [b.name for b in find_blocks(model, prunable)] == ["model.layers.0", "model.layers.1", "model.layers.2"]
    calibration = [torch.randint(0, 100, (2, 16)) for _ in range(3)]
    collected: list[dict[str, LayerStats]] = []
    blocks = prune_sequentially(model, calibration, prunable, collected.append)
    assert [(b.calls, b.chained) for b in blocks] == [(1, False), (1, True), (1, True)]
    assert model.config.use_cache is True  # restored
    want = direct_inputs(model, prunable, calibration)  # nothing pruned: the dense inputs
    assert [list(c) for c in collected] == [b.weights for b in blocks]
    for block_stats in collected:
        for name, stats in block_stats.items():
            assert_stats_of(stats, want[name])


class TwoBlocks(nn.Module):
    """Two blocks; ``between`` says what the forward does with block 1's output before block 2."""

    def __init__(self, between: str = "nothing") -> None:
        super().__init__()
        self.between = between
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8)) for _ in range(2)])
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks[0](x)
        if self.between == "scale":
            x = x * 2
        elif self.between == "in-place":
            x.mul_(2)
        return self.head(self.blocks[1](x))


@pytest.mark.parametrize("between, chained", [("nothing", True), ("scale", False), ("in-place", False)])
def test_block_two_sees_the_pruned_outputs_of_block_one(between, chained):
    torch.manual_seed(0)
    model = TwoBlocks(between)
    prunable = prunable_parameters(model)
    calibration = [torch.randn(5, 8) for _ in range(2)]
    dense = direct_inputs(model, prunable, calibration)
    collected: list[dict[str, LayerStats]] = []

    def prune_block(stats: dict[str, LayerStats]) -> None:
        collected.append(stats)
        if len(collected) == 1:  # prune block 1: half of each of its weights
            with torch.no_grad():
                for name in stats:
                    prunable[name].view(-1)[::2] = 0

    blocks = prune_sequentially(model, calibration, prunable, prune_block)
    assert [b.name for b in blocks] == ["blocks.0", "blocks.1"] and blocks[1].chained is chained
    after = direct_inputs(model, prunable, calibration)  # block 1 pruned, block 2 untouched
    for name, stats in collected[1].items():
        assert_stats_of(stats, after[name])
        assert not torch.allclose(stats.gram, torch.cat(dense[name]).double().mT @ torch.cat(dense[name]).double())
    for name, stats in collected[0].items():
        assert_stats_of(stats, dense[name])


class Shared(nn.Module):
    """A block called twice per forward (shared weights) between two ordinary ones."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.shared, self.out = nn.Linear(4, 6), nn.Linear(6, 6), nn.Linear(6, 5)
        self.head = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.out(self.shared(torch.relu(self.shared(self.stem(x))))))


def test_a_block_called_twice_gets_the_statistics_of_both_calls():
    torch.manual_seed(0)
    model = Shared()
    prunable = prunable_parameters(model)
    calibration = [torch.randn(3, 4), torch.randn(2, 4)]
    want = direct_inputs(model, prunable, calibration)
    collected: dict[str, LayerStats] = {}
    blocks = prune_sequentially(model, calibration, prunable, collected.update)
    assert [(b.name, b.calls) for b in blocks] == [("stem", 1), ("shared", 2), ("out", 1)]
    assert collected["shared.weight"].tokens == 10
    for name, stats in collected.items():
        assert_stats_of(stats, want[name])


def test_cnn_blocks_are_top_level_layers_and_sequential_members_in_call_order():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 1)),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    model.train()
    prunable = prunable_parameters(model)
    assert [b.name for b in find_blocks(model, prunable)] == ["0", "3"]  # a stage of a Sequential stays whole
    calibration = [torch.randn(2, 3, 6, 6)]
    want = direct_inputs(model.eval(), prunable, calibration)
    model.train()
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    collected: dict[str, LayerStats] = {}
    prune_sequentially(model, calibration, prunable, collected.update)
    assert all(m.training for m in model.modules())  # modes restored, batch-norm statistics untouched
    assert all(torch.equal(v, buffers[k]) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    for name, stats in collected.items():
        assert_stats_of(stats, want[name])


def test_statistics_asked_for_are_the_only_ones_kept():
    torch.manual_seed(0)
    model = TwoBlocks()
    collected: dict[str, LayerStats] = {}
    prune_sequentially(model, [torch.randn(4, 8)], prunable_parameters(model), collected.update, stats=("norms",))
    assert all(s.gram is None and s.sq_norms is not None for s in collected.values())
    with pytest.raises(ValueError, match="ask for 'hessian'"):
        next(iter(collected.values())).hessian()


def test_layers_without_statistics_and_layers_that_never_run_are_named():
    model = nn.Sequential(nn.Linear(4, 4), nn.MultiheadAttention(4, 2), nn.Linear(4, 2))
    prunable = prunable_parameters(model)
    assert unsupported_layers(model, prunable) == ["1.in_proj_weight"]
    with pytest.raises(ValueError, match="1.in_proj_weight"):
        prune_sequentially(model, [torch.randn(2, 4)], prunable, lambda stats: None)

    class Skips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.used(x))

    model = Skips()
    with pytest.raises(ValueError, match="'unused' saw no calibration input"):
        prune_sequentially(model, [torch.randn(2, 4)], prunable_parameters(model), lambda stats: None)
    with pytest.raises(ValueError, match="calibration batches"):
        prune_sequentially(model, [], prunable_parameters(model), lambda stats: None)


class _Masked(nn.Module):
    """One block called with a keyword mask the model makes anew for every batch (as a causal mask is)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([_MaskedBlock()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(x.shape[1]) if x.shape[0] < 3 else torch.zeros(x.shape[1])
        return self.blocks[0](x, mask=mask, scale=(torch.full((1,), 2.0), "label"))


class _MaskedBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, scale: tuple) -> torch.Tensor:
        return self.fc(x * mask) * scale[0]


def test_equal_keyword_tensors_of_the_calibration_batches_are_held_once():
    from shrinkbench.layerwise import Block, _catch

    model = _Masked()
    block = Block("blocks.0", model.blocks[0], ["blocks.0.fc.weight"])
    batches = [torch.randn(2, 4), torch.randn(1, 4), torch.randn(3, 4)]  # the third makes another mask
    caught = _catch(model, block, batches)
    masks = [kwargs["mask"] for _, kwargs in caught]
    assert masks[0] is masks[1] and masks[2] is not masks[1] and not torch.equal(masks[2], masks[1])
    scales = [kwargs["scale"] for _, kwargs in caught]
    assert scales[0][0] is scales[1][0] is scales[2][0] and scales[2][1] == "label"
    assert all(args[0] is x for (args, _), x in zip(caught, batches, strict=True))  # the inputs themselves, never shared
