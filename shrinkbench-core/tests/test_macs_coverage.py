"""Every multiply-accumulate operation aten executes is counted or flagged, and a weight transformed before
use (weight norm, cast, copy, mask) is charged to its parameter at the density of what actually runs."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.utils.flop_counter
from torch import nn

from shrinkbench import MetricNote, MetricSpec
from shrinkbench.metrics import MetricContext, flops, mac_rules
from shrinkbench.metrics.collect import measure_all
from shrinkbench.metrics.macs import OpMacs, count_macs
from shrinkbench.plugins import Registry
from shrinkbench.schema import FLOPS


class Functional(nn.Module):
    """``forward(x) = fn(self, x)`` with the given parameters (frozen unless float32/float64)."""

    def __init__(self, fn, **parameters: torch.Tensor) -> None:
        super().__init__()
        for name, value in parameters.items():
            trainable = value.dtype in (torch.float32, torch.float64)
            self.register_parameter(name, nn.Parameter(value, requires_grad=trainable))
        self.fn = fn

    def forward(self, x):
        return self.fn(self, x)


def half_zero(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Nonzero entries (1 to 2 in magnitude) whose first half along dim 0 is zero: density exactly 1/2."""
    values = (torch.rand(*shape) + 1) * (torch.randint(0, 2, shape) * 2 - 1)
    values[: shape[0] // 2] = 0
    return values.to(dtype)


def the_op(model: nn.Module, x: torch.Tensor) -> OpMacs:
    counted = count_macs(model, x)
    assert counted.notes() == []
    assert len(counted.ops) == 1, counted.ops
    return counted.ops[0]


def int8pack(s, x):
    return torch.ops.aten._weight_int8pack_mm(x, s.w, torch.ones(32))


def int4pack(_s, x):
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(torch.randint(0, 16, (32, 64), dtype=torch.int32), 8)
    return torch.ops.aten._weight_int4pack_mm_for_cpu(x.bfloat16(), packed, 32, torch.ones(2, 32, 2, dtype=torch.bfloat16))


def scaled_mm(s, x):
    one = torch.ones(())
    return torch._scaled_mm(x.to(torch.float8_e4m3fn), s.w.t(), one, one, out_dtype=torch.float32)


CASES = {  # fn, parameters, input shape -> op, MACs, weight, density
    "dot": (lambda s, x: torch.dot(x, s.w), {"w": half_zero(8)}, (8,), "aten.dot", 8, "w", 0.5),
    "vdot": (lambda s, x: torch.vdot(x, s.w), {"w": half_zero(8)}, (8,), "aten.vdot", 8, "w", 0.5),
    "addr": (lambda s, x: torch.addr(torch.zeros(3, 4), x, s.w), {"w": half_zero(4)}, (3,), "aten.addr", 12, "w", 0.5),
    "addbmm": (lambda s, x: torch.addbmm(torch.zeros(3, 5), x, s.w), {"w": half_zero(2, 4, 5)}, (2, 3, 4),
               "aten.addbmm", 2 * 3 * 4 * 5, "w", 0.5),
    "_int_mm": (lambda s, x: torch._int_mm(x.to(torch.int8), s.w), {"w": half_zero(64, 32, dtype=torch.int8)},
                (32, 64), "aten._int_mm", 32 * 64 * 32, "w", 0.5),
    "_weight_int8pack_mm": (int8pack, {"w": half_zero(32, 64, dtype=torch.int8)}, (4, 64),
                            "aten._weight_int8pack_mm", 4 * 64 * 32, "w", 0.5),
    "_weight_int4pack_mm_for_cpu": (int4pack, {}, (4, 64), "aten._weight_int4pack_mm_for_cpu", 4 * 64 * 32, None,
                                    1.0),
    "_scaled_mm": (scaled_mm, {"w": half_zero(16, 32, dtype=torch.float8_e4m3fn)}, (16, 32), "aten._scaled_mm",
                   16 * 32 * 16, "w", 0.5),
    "_grouped_mm": (lambda s, x: torch._grouped_mm(x.bfloat16(), s.w), {"w": half_zero(2, 8, 16, dtype=torch.bfloat16)},
                    (2, 4, 8), "aten._grouped_mm", 2 * 4 * 8 * 16, "w", 0.5),
    "_foreach_mm": (lambda s, x: torch.ops.aten._foreach_mm([x], [s.w])[0], {"w": half_zero(4, 5)}, (3, 4),
                    "aten._foreach_mm", 3 * 4 * 5, "w", 0.5),
    "conv_tbc": (lambda s, x: torch.conv_tbc(x, s.w, torch.zeros(4)), {"w": half_zero(2, 3, 4)}, (5, 2, 3),
                 "aten.conv_tbc", (4 * 2 * 4) * (2 * 3), "w", 0.5),  # output (T=4, B=2, 4), k x Cin = 2 x 3
    "_compute_linear_combination": (lambda s, x: torch._compute_linear_combination(x, s.c), {"c": torch.randn(3, 4)},
                                    (4, 5), "aten._compute_linear_combination", 3 * 4 * 5, None, 1.0),
    "cdist": (lambda s, x: torch.cdist(x, s.w), {"w": half_zero(6, 4)}, (3, 4), "aten._cdist_forward", 3 * 6 * 4,
              None, 1.0),
    "cdist-mm": (lambda s, x: torch.cdist(x, s.w), {"w": half_zero(60, 4)}, (30, 4), "aten._euclidean_dist",
                 30 * 60 * 4, None, 1.0),
    "pdist": (lambda s, x: torch.pdist(x), {}, (5, 4), "aten._pdist_forward", 10 * 4, None, 1.0),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_multiply_accumulate_operation_has_a_rule(case):
    fn, parameters, shape, op, macs, weight, density = case
    counted = the_op(Functional(fn, **parameters), torch.randn(*shape))
    assert (counted.op, counted.macs, counted.weight) == (op, macs, weight)
    assert counted.density == pytest.approx(density)


def test_bilinear_counts_every_output_against_both_inputs_and_charges_its_weight():
    class Bilinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bilinear = nn.Bilinear(3, 4, 5)

        def forward(self, x):
            return self.bilinear(x[:, :3], x[:, 3:])

    model = Bilinear()
    with torch.no_grad():
        model.bilinear.weight[:, :, :2] = 0  # half of in2
    counted = the_op(model, torch.randn(2, 7))
    assert (counted.op, counted.macs, counted.weight) == ("aten._trilinear", 2 * 5 * 3 * 4, "bilinear.weight")
    assert counted.density == 0.5


def test_decomposed_products_are_counted_and_elementwise_products_are_not():
    a, b, c = torch.randn(3, 4), torch.randn(4, 5), torch.randn(5, 2)
    cases = {
        lambda x: torch.einsum("ij,jk->ik", x, b): 3 * 4 * 5,
        lambda x: torch.tensordot(x, b, dims=1): 3 * 4 * 5,
        lambda x: torch.inner(x, b.t()): 3 * 4 * 5,
        lambda x: torch.linalg.multi_dot([x, b, c]): 4 * 5 * 2 + 3 * 4 * 2,  # cheapest order: x @ (b @ c)
        lambda x: x[0] @ b[:, 0]: 4,
        lambda x: torch.kron(x, b): 0,  # products without accumulation
        lambda x: torch.outer(x[0], b[0]): 0,
        lambda x: torch.linalg.vecdot(x, x): 0,  # elementwise product, then a sum
    }
    for fn, macs in cases.items():
        counted = count_macs(Functional(lambda _s, x, fn=fn: fn(x)), a)
        assert (sum(op.macs for op in counted.ops), counted.notes()) == (macs, [])


def test_fused_attention_kernels_count_as_their_ordinary_path():
    """Under no_grad, nn.MultiheadAttention and nn.TransformerEncoderLayer run these fused kernels."""
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    attention = layer.self_attn
    with torch.no_grad():
        attention.in_proj_weight[:8] = 0  # the query block
    x = torch.randn(1, 5, 8)

    def fused_attention(_s, x):
        return torch._native_multi_head_attention(x, x, x, 8, 2, attention.in_proj_weight, attention.in_proj_bias,
                                                  attention.out_proj.weight, attention.out_proj.bias)[0]

    def fused_layer(_s, x):
        return torch._transformer_encoder_layer_fwd(
            x, 8, 2, attention.in_proj_weight, attention.in_proj_bias, attention.out_proj.weight,
            attention.out_proj.bias, False, False, 1e-5, layer.norm1.weight, layer.norm1.bias, layer.norm2.weight,
            layer.norm2.bias, layer.linear1.weight, layer.linear1.bias, layer.linear2.weight, layer.linear2.bias, None)

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = attention

        def forward(self, x):
            return self.attention(x, x, x)[0]

    kernels = {"aten._native_multi_head_attention": (fused_attention, Attention()),
               "aten._transformer_encoder_layer_fwd": (fused_layer, layer)}
    for kernel, (fused, ordinary) in kernels.items():
        model = Functional(fused)
        model.layer = layer  # registers the parameters
        counted = count_macs(model, x)
        assert {op.op for op in counted.ops} == {kernel} and counted.notes() == []
        assert counted.ops[0].weight == "layer.self_attn.in_proj_weight"
        assert flops.count(model, x) == pytest.approx(flops.count(ordinary, x))
        assert flops.count(model, x)["nonzero_macs"] < flops.count(model, x)["macs"]


def test_lstm_on_the_cpu_is_counted_per_weight_as_its_decomposition():
    torch.manual_seed(0)
    model = nn.LSTM(4, 3, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():
        model.weight_ih_l0[:6] = 0
    x = torch.randn(2, 5, 4)
    steps = 2 * 5
    by_hand = 2 * steps * (12 * 4 + 12 * 3) + 2 * steps * (12 * 6 + 12 * 3)  # two directions, two layers
    counted = count_macs(model, x)
    assert counted.notes() == []
    if torch.backends.mkldnn.is_available():
        assert {op.op for op in counted.ops} == {"aten.mkldnn_rnn_layer"}
    assert sum(op.macs for op in counted.ops) == by_hand == 3840
    counts = flops.count(model, x)
    assert counts["nonzero_macs"] == pytest.approx(by_hand - steps * 12 * 4 / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # oneDNN's TF32 setting
        with torch.backends.mkldnn.flags(enabled=False):  # the mm/addmm decomposition
            assert flops.count(model, x) == pytest.approx(counts)
            assert flops.torch_flop_count(model, x) == 2 * by_hand


@pytest.mark.parametrize(("kernel", "weights_at"), [("aten::_cudnn_rnn", 1), ("aten::miopen_rnn", 1),
                                                    ("aten::_lstm_mps", 2)])
def test_accelerator_recurrent_kernels_count_every_weight_matrix_once_per_step(kernel, weights_at):
    """The rule of each GPU kernel, on the arguments nn.LSTM gives it (their order of weights)."""
    model = nn.LSTM(4, 3, num_layers=2, bidirectional=True)
    args = [torch.randn(5, 2, 4), None, None]
    args[weights_at] = model._flat_weights
    terms = mac_rules.RULES[kernel](args, {}, None)
    matrices = [w for w in model._flat_weights if w.dim() == 2]
    assert len(terms) == len(matrices) == 8
    assert all(operands[0] is w for (_, operands), w in zip(terms, matrices, strict=True))
    assert sum(macs for macs, _ in terms) == 3840  # as mkldnn_rnn_layer on the CPU


@pytest.mark.parametrize("build", [
    lambda: nn.GRU(4, 3, num_layers=2, bidirectional=True, batch_first=True),
    lambda: nn.RNN(4, 3, batch_first=True),
    lambda: nn.LSTM(4, 3, proj_size=2, batch_first=True),
], ids=["gru", "rnn", "lstm-proj"])
def test_recurrent_layers_agree_with_flop_counter_mode(build):
    model, x = build(), torch.randn(2, 5, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # LSTM with projections is not supported with oneDNN
        counted = count_macs(model, x)
        assert sum(op.macs for op in counted.ops) == flops.torch_flop_count(model, x) / 2 > 0
    assert counted.notes() == []
    assert all(op.weight.startswith("weight_") for op in counted.ops)


def test_an_operation_without_a_rule_is_flagged_not_silently_dropped(monkeypatch):
    monkeypatch.delitem(mac_rules.RULES, "aten::dot")
    model = Functional(lambda s, x: torch.dot(x, s.w) + torch.mv(s.m, x).sum(), w=torch.randn(4), m=torch.randn(3, 4))
    counted = count_macs(model, torch.randn(4))
    assert [op.op for op in counted.ops] == ["aten.mv"]
    assert counted.uncounted == {"aten.dot": 1}
    with pytest.warns(MetricNote, match=r"^1 operation not counted \(no MAC rule\): aten\.dot \(1\)$"):
        flops.measure(MetricContext(model, torch.randn(4)))


def test_linear_algebra_is_flagged():
    model = Functional(lambda s, x: torch.linalg.solve(s.a, x) + torch.linalg.matrix_exp(s.a) @ x,
                       a=torch.randn(4, 4) + 4 * torch.eye(4))
    counted = count_macs(model, torch.randn(4, 2))
    assert set(counted.uncounted) == {"aten._linalg_solve_ex", "aten.linalg_matrix_exp"}
    assert [op.op for op in counted.ops] == ["aten.mm"]


@torch.library.custom_op("shrinkbench_test::fused_matmul", mutates_args=())
def fused_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b


@torch.library.custom_op("shrinkbench_test::scale", mutates_args=())
def scale(a: torch.Tensor) -> torch.Tensor:
    return a * 2


@torch.library.custom_op("shrinkbench_test::projection", mutates_args=())
def projection(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b


@torch.utils.flop_counter.register_flop_formula(torch.ops.shrinkbench_test.projection)
def _projection_flops(a_shape, b_shape, *args, **kwargs) -> int:
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def flops_registry() -> Registry:
    registry = Registry()
    registry.add("metrics", MetricSpec("flops", "MACs", "shrinkbench.metrics.flops:measure", columns=FLOPS), "core")
    return registry


def test_a_custom_op_named_like_a_matmul_is_flagged_in_the_row_notes():
    model = Functional(lambda s, x: scale(fused_matmul(x, s.w)) + projection(x, s.w), w=torch.randn(4, 5))
    counted = count_macs(model, torch.randn(3, 4))
    assert counted.uncounted == {"shrinkbench_test.fused_matmul": 1}  # scale is not a MAC op
    assert [(op.op, op.macs) for op in counted.ops] == [("shrinkbench_test.projection", 3 * 4 * 5)]  # has a formula
    notes = measure_all(flops_registry(), model, torch.randn(3, 4), None).notes
    assert notes == ["metric 'flops': 1 operation not counted (no MAC rule): shrinkbench_test.fused_matmul (1)"]


@pytest.mark.parametrize("name", ["aten::_int_mm", "aten::mkldnn_rnn_layer", "quantized::linear_dynamic",
                                  "torchvision::deform_conv2d", "mylib::fused_attention", "onednn::qconv2d_pointwise",
                                  "aten::_thnn_fused_gru_cell", "mylib::lstm_cell", "aten::vdot", "aten::addr"])
def test_names_of_multiply_accumulates_are_recognised(name):
    assert mac_rules.looks_like_macs(name)


@pytest.mark.parametrize("name", ["aten::cummax", "aten::hamming_window", "aten::lgamma", "aten::add",
                                  "aten::_convert_indices_from_coo_to_csr", "aten::native_batch_norm",
                                  "aten::mvlgamma", "aten::gelu"])
def test_other_names_are_not(name):
    assert not mac_rules.looks_like_macs(name)


def _composite_implicit(packet) -> bool:  # noqa: ANN001
    def implicit(overload: str) -> bool:
        name = packet._qualified_op_name + ("" if overload == "default" else f".{overload}")
        try:
            return torch._C._dispatch_has_kernel_for_dispatch_key(name, "CompositeImplicitAutograd")
        except RuntimeError:  # a TorchScript builtin, not a dispatcher operator
            return True

    return all(implicit(overload) for overload in packet.overloads())


def test_every_aten_operation_named_like_a_multiply_accumulate_is_reviewed():
    """Counted, flagged, known not to be one, or decomposed before dispatch: a new torch kernel fails here."""
    names = {str(schema.name) for schema in torch._C._jit_get_all_schemas()}
    unreviewed = []
    for name in sorted(n for n in names if n.startswith("aten::") and "backward" not in n):
        if not mac_rules.looks_like_macs(name) or name in {**mac_rules.RULES, **mac_rules.UNCOUNTED,
                                                           **mac_rules.NOT_MACS}:
            continue
        packet = getattr(torch.ops.aten, name[len("aten::"):])
        if packet not in torch.utils.flop_counter.flop_registry and not _composite_implicit(packet):
            unreviewed.append(name)
    assert unreviewed == []


@pytest.mark.parametrize("apply", [nn.utils.parametrizations.weight_norm, nn.utils.weight_norm],
                         ids=["parametrizations", "hook"])
@pytest.mark.parametrize("build", [lambda: nn.Linear(8, 6), lambda: nn.Conv2d(2, 4, 3)], ids=["linear", "conv"])
def test_weight_norm_is_charged_to_its_direction_parameter(apply, build):
    torch.manual_seed(0)
    module = build()
    x = torch.randn(2, 8) if isinstance(module, nn.Linear) else torch.randn(1, 2, 6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the hook API is deprecated
        model = nn.Sequential(apply(module))
    direction = dict(model.named_parameters())
    name = "0.parametrizations.weight.original1" if "0.parametrizations.weight.original1" in direction else "0.weight_v"
    with torch.no_grad():
        v = direction[name].view(-1)
        v[torch.randperm(v.numel())[: v.numel() // 2]] = 0  # 50% unstructured
    counted = count_macs(model, x)
    assert [op.weight for op in counted.ops] == [name] and counted.notes() == []
    counts = flops.count(model, x)
    assert counts["macs"] == flops.torch_flop_count(model, x) / 2
    assert counts["nonzero_macs"] == pytest.approx(counts["macs"] / 2)


@pytest.mark.parametrize(("use", "pruned"), [
    (lambda s, x: nn.functional.linear(x.double(), s.w.double()), "w"),  # a dtype cast
    (lambda s, x: nn.functional.linear(x.bfloat16(), s.w.to(torch.bfloat16)), "w"),
    (lambda s, x: x @ s.w.t().contiguous(), "w"),  # a copy
    (lambda s, x: nn.functional.linear(x, s.w * s.mask), "mask"),  # a mask buffer multiplied in
], ids=["double", "bfloat16", "contiguous", "mask"])
def test_a_transformed_weight_is_charged_to_its_parameter_at_the_density_it_runs_with(use, pruned):
    model = Functional(use, w=torch.rand(6, 4) + 1)
    model.register_buffer("mask", torch.ones(6, 4))
    with torch.no_grad():
        getattr(model, pruned)[:3] = 0
    op = the_op(model, torch.randn(2, 4))
    assert (op.weight, op.macs, op.density) == ("w", 2 * 4 * 6, 0.5)


def test_a_weight_mixed_from_several_parameters_is_charged_dense_and_noted():
    model = Functional(lambda s, x: x @ (s.a @ s.b) + x @ torch.kron(s.c, s.d), a=torch.zeros(4, 2),
                       b=torch.randn(2, 6), c=torch.randn(2, 3), d=torch.randn(2, 2))
    counted = count_macs(model, torch.randn(3, 4))
    assert [(op.weight, op.macs, op.density) for op in counted.ops] == [
        ("b", 4 * 2 * 6, 1.0),  # computing the low-rank weight: input-independent, but executed
        (None, 3 * 4 * 6, 1.0), (None, 3 * 4 * 6, 1.0)]  # reading it and the kron weight: dense (a is zero)
    assert counted.charged_dense == {("aten.mm", ("a", "b")): 1, ("aten.mm", ("c", "d")): 1}
    with pytest.warns(MetricNote, match=r"^2 operations charged dense \(weight mixed from several parameters\): "
                                        r"aten\.mm \(1\) from a, b, aten\.mm \(1\) from c, d$"):
        flops.measure(MetricContext(model, torch.randn(3, 4)))


def test_data_is_never_taken_for_a_weight():
    """``x + pos`` has a parameter's size but depends on the input: the product of two such tensors is
    weight-free, at full density, whatever zeros it holds."""
    model = Functional(lambda s, x: (h := torch.relu(x + s.pos)) @ h.t(), pos=torch.zeros(3, 4))
    op = the_op(model, -torch.ones(3, 4))
    assert (op.weight, op.density) == (None, 1.0)


def test_parameters_sharing_one_storage_are_told_apart_by_offset():
    flat = torch.randn(2 * 4 * 4)
    model = Functional(lambda s, x: x @ s.a.t() @ s.b.t(), a=flat[:16].view(4, 4), b=flat[16:].view(4, 4))
    assert model.a.untyped_storage().data_ptr() == model.b.untyped_storage().data_ptr()
    with torch.no_grad():
        model.b[:1] = 0
    counted = count_macs(model, torch.randn(2, 4))
    assert [(op.weight, op.density) for op in counted.ops] == [("a", 1.0), ("b", 0.75)]
