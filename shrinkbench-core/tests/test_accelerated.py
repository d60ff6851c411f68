"""The accelerated engine on the CPU: device-resident batches, mixed precision, compilation with fallback,
no host synchronisation per step, and weights saved as CPU tensors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
from shrinkbench.engine.data import TensorLoader, make_loader
from shrinkbench.engine.dense import save_weights
from shrinkbench.engine.runtime import Runtime
from shrinkbench.engine.train import CHECK_EVERY, train
from shrinkbench.images import TensorImages


def config(**changes) -> SweepConfig:
    base = dict(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(epochs=3, lr=0.05),
                finetune=Recipe(epochs=2, lr=0.01, lr_schedule="constant"), strategies=("toy-magnitude",),
                compressions=(4.0,), seeds=(0,), threads=1)
    return SweepConfig(**{**base, **changes})


def blobs(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = torch.arange(n) % 4
    for cls in range(4):
        x[y == cls, :, (cls // 2) * 4:(cls // 2) * 4 + 4, (cls % 2) * 4:(cls % 2) * 4 + 4] += 1.5
    return x, y


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_sweep_on_cpu_runs_finite_and_is_recorded(toy_registry, tmp_path, precision):
    run_sweep(toy_registry, config(precision=precision), ResultsStore(tmp_path))
    row = ResultsStore(tmp_path).rows()[0]
    assert row["status"] == "ok", row["error"]
    assert row["precision"] == precision and row["device"] == "cpu"
    assert all(math.isfinite(row[c]) for c in ("top1", "loss", "top1_pre", "dense_top1"))
    assert row["top1"] > 0.5  # it still learns the 4 quadrants


def test_precision_is_part_of_the_fingerprint_and_the_dense_key(toy_registry):
    from shrinkbench.engine import resolve

    def experiment(**changes):
        return resolve(toy_registry, config(**changes)).experiments[0]

    assert experiment(precision="bf16").fingerprint() != experiment().fingerprint()
    assert experiment(precision="bf16").dense_key(0) != experiment().dense_key(0)
    assert experiment(threads=4, jobs=2, channels_last=True).fingerprint() == experiment().fingerprint()
    # compiled models train on full batches only (the short last batch is dropped): that changes the numbers
    assert experiment(compile=True).fingerprint() != experiment().fingerprint()


def test_training_reads_the_device_once_per_epoch(monkeypatch):
    """Loss and accuracy accumulate on the device: 2 reads per epoch, not one per step."""
    x, y = blobs(8 * (CHECK_EVERY - 1))
    loader = make_loader(TensorDataset(x, y), 8, True, 0, "cpu", augmented=False)
    model = mlp()
    calls = {"item": 0}
    real_item = torch.Tensor.item

    def counting_item(self):
        calls["item"] += 1
        return real_item(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    result = train(model, Recipe(epochs=2, lr=0.05), loader)
    assert len(loader) == CHECK_EVERY - 1 and len(result.epochs) == 2
    assert calls["item"] == 2 * 2


def test_divergence_is_still_caught():
    from shrinkbench.engine.train import DivergedError

    x, y = blobs(32)
    model = mlp()
    with torch.no_grad():
        model[1].weight.fill_(float("inf"))
    with pytest.raises(DivergedError, match="loss became"):
        train(model, Recipe(epochs=1, lr=0.05), make_loader(TensorDataset(x, y), 8, True))


def test_compile_trains_and_drops_the_short_last_batch():
    x, y = blobs(36)

    def loader():
        return make_loader(TensorDataset(x, y), 8, True, 0, "cpu", augmented=False, drop_last=True)

    assert [len(t) for _, t in loader()] == [8, 8, 8, 8]
    runtime = Runtime(compile=True, compile_backend="eager")
    result = train(mlp(), Recipe(epochs=2, lr=0.05), loader(), runtime=runtime)
    assert result.compile_seconds is not None and result.notes == []
    eager = train(mlp(), Recipe(epochs=2, lr=0.05), loader())
    assert [e.train_loss for e in result.epochs] == pytest.approx([e.train_loss for e in eager.epochs], rel=1e-5)


def test_a_model_that_fails_to_compile_trains_eagerly_with_a_note(monkeypatch):
    def broken(self, model):
        def compiled(_inputs):
            raise RuntimeError("backend exploded")
        return compiled

    monkeypatch.setattr(Runtime, "compiled", broken)
    x, y = blobs(32)
    result = train(mlp(), Recipe(epochs=1, lr=0.05), make_loader(TensorDataset(x, y), 8, True),
                   runtime=Runtime(compile=True))
    eager = train(mlp(), Recipe(epochs=1, lr=0.05), make_loader(TensorDataset(x, y), 8, True))
    assert result.notes and "compile failed, ran eager (RuntimeError: backend exploded)" in result.notes[0]
    assert result.epochs[0].train_loss == pytest.approx(eager.epochs[0].train_loss)


def test_weights_are_saved_as_cpu_tensors_with_tied_weights(tmp_path):
    from safetensors.torch import load_file

    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[1].weight = model[0].weight  # tied
    save_weights(model, tmp_path / "w.safetensors")
    state = load_file(tmp_path / "w.safetensors")
    assert set(state) == set(model.state_dict()) and all(t.device.type == "cpu" for t in state.values())
    assert torch.equal(state["0.weight"], state["1.weight"])


def test_tensor_images_batches_normalise_and_follow_the_seed():
    images = torch.randint(0, 256, (20, 3, 4, 4), dtype=torch.uint8)
    data = TensorImages(images, torch.arange(20) % 3, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))
    loader = TensorLoader(data, True, torch.arange(2, 20), 5, True, seed=7, device=torch.device("cpu"))
    batches = list(loader)
    assert [len(t) for _, t in batches] == [5, 5, 5, 3] and len(loader) == 4
    order = 2 + torch.randperm(18, generator=torch.Generator().manual_seed(7))
    first = (images[order[:5]].float() / 255 - torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1)) / 0.2
    torch.testing.assert_close(batches[0][0], first)
    assert torch.equal(torch.cat([t for _, t in batches]), (order % 3))
    again = list(TensorLoader(data, True, torch.arange(2, 20), 5, True, seed=7, device=torch.device("cpu")))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again, strict=True))


class Noisy(Dataset):
    """A dataset without tensors() whose items change on every read (an augmented folder dataset, say)."""

    def __init__(self) -> None:
        self.x, self.y = blobs(40)

    def __len__(self) -> int:
        return 40

    def __getitem__(self, i):
        return self.x[i] + 0.01 * torch.randn(self.x[i].shape), int(self.y[i])


def test_folder_like_datasets_go_through_seeded_dataloader_workers():
    plain = make_loader(Noisy(), 8, True, 3, "cpu", augmented=True, workers=0)
    two = make_loader(Noisy(), 8, True, 3, "cpu", augmented=True, workers=2)
    assert type(plain).__name__ == "DeviceDataLoader" and two.loader.num_workers == 2
    assert two.loader.persistent_workers and not two.loader.pin_memory  # pinned memory is for CUDA only
    labels = [torch.cat([t for _, t in loader]) for loader in (plain, two, two)]
    assert torch.equal(labels[0], labels[1])  # the order comes from the seed, not from the workers
    assert not torch.equal(labels[1], labels[2])  # and moves on from epoch to epoch
    views = [torch.cat([x for x, _ in make_loader(Noisy(), 8, True, 3, "cpu", workers=2)]) for _ in range(2)]
    torch.testing.assert_close(views[0], views[1])  # worker seeds follow the loader's seed


def test_mask_factors_keep_the_channels_last_layout_of_their_weights():
    """Otherwise the foreach multiply after each step leaves its fused path (strides differ)."""
    from shrinkbench.masking import apply_masks

    conv = nn.Conv2d(4, 8, 3).to(memory_format=torch.channels_last)
    masks = {"weight": torch.rand(conv.weight.shape, generator=torch.Generator().manual_seed(0)) > 0.5}
    masked = apply_masks(conv, masks)
    (factor,) = masked._factors
    assert factor.stride() == conv.weight.stride() and factor.dtype == conv.weight.dtype
    assert torch.equal(conv.weight.detach() != 0, masks["weight"] & (conv.weight.detach() != 0))
    assert not conv.weight.detach()[~masks["weight"]].any()


def test_compile_on_the_cpu_keeps_the_foreach_optimizer(monkeypatch):
    """--compile forced fused=True on CPU/MPS, outside the compile fallback; only CUDA gets the fused kernel."""
    from shrinkbench.engine import train as train_module

    asked = []
    real = train_module.make_optimizer
    monkeypatch.setattr(train_module, "make_optimizer", lambda *a, **k: asked.append(k.get("fused")) or real(*a, **k))
    x, y = blobs(32)
    train(mlp(), Recipe(epochs=1, lr=0.05), make_loader(TensorDataset(x, y), 8, True, drop_last=True),
          runtime=Runtime(compile=True, compile_backend="eager"))
    assert asked == [False]
    assert Runtime("cuda:0").fused_optimizer and not Runtime("mps", compile=True).fused_optimizer


class Recompiling(nn.Module):
    """Guards on a Python counter that changes every call, so Dynamo recompiles at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.net(x) * (1 + 0 * self.calls)


def test_hitting_dynamos_recompile_limit_is_said_in_the_row_not_silent():
    x, y = blobs(48)
    with torch._dynamo.config.patch(recompile_limit=2):
        result = train(Recompiling(), Recipe(epochs=1, lr=0.05),
                       make_loader(TensorDataset(x, y), 8, True, drop_last=True),
                       runtime=Runtime(compile=True, compile_backend="eager"))
    assert len(result.epochs) == 1 and math.isfinite(result.epochs[0].train_loss)
    assert any(note.startswith("recompile limit hit at step 3, ran eager") for note in result.notes), result.notes


def test_a_run_that_reuses_an_earlier_runs_compiled_graphs_says_so():
    """Dynamo caches per process: the second run of an architecture compiles nothing, and its compile time
    is not a compile time."""
    x, y = blobs(16)
    notes = []
    for width in (8, 8, 12):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 4))
        result = train(model, Recipe(epochs=1, lr=0.05), make_loader(TensorDataset(x, y), 8, True, drop_last=True),
                       runtime=Runtime(compile=True, compile_backend="eager"))
        assert result.compile_seconds is not None
        notes.append([n for n in result.notes if n.startswith("compile: reused")])
    assert notes[1] and not notes[2]


class WarnsNondeterministic(nn.Sequential):
    """Stands in for a CUDA kernel without a deterministic version: it raises torch's own warning."""

    def forward(self, x):
        import warnings

        warnings.warn("adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation, but you "
                      "set 'torch.use_deterministic_algorithms(True, warn_only=True)'.", UserWarning, stacklevel=1)
        return super().forward(x)


def test_a_deterministic_run_that_used_a_nondeterministic_op_says_so():
    """--deterministic used warn_only=True and still recorded the run as deterministic."""
    runtime = Runtime(deterministic=True)
    with runtime.watch_determinism() as found:
        WarnsNondeterministic(nn.Flatten())(torch.zeros(1, 4))
    assert found == ["adaptive_avg_pool2d_backward_cuda"]
    with runtime.watch_determinism() as clean:
        nn.Flatten()(torch.zeros(1, 4))
    assert clean == []
    torch.use_deterministic_algorithms(False)


def test_rows_record_determinism_and_tf32(toy_registry, tmp_path):
    run_sweep(toy_registry, config(deterministic=True), ResultsStore(tmp_path / "d"))
    row = ResultsStore(tmp_path / "d").rows()[0]
    assert row["status"] == "ok" and row["deterministic"] is True and row["tf32"] is False  # no TF32 on a CPU
    torch.use_deterministic_algorithms(False)
    run_sweep(toy_registry, config(), ResultsStore(tmp_path / "n"))
    assert ResultsStore(tmp_path / "n").rows()[0]["deterministic"] is False


def test_evaluation_runs_in_the_training_precision():
    """--precision applied to training only; evaluation (accuracy, validation, latency) now uses it too."""
    from shrinkbench.metrics.accuracy import evaluate

    seen = []
    model = mlp()
    model.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    x, y = blobs(16)
    loader = make_loader(TensorDataset(x, y), 8, False)
    fp32 = evaluate(model, loader)
    bf16 = evaluate(model, loader, autocast=Runtime(precision="bf16").autocast)
    assert seen == [torch.float32] * 2 + [torch.bfloat16] * 2
    assert bf16["loss"] == pytest.approx(fp32["loss"], rel=0.05)
