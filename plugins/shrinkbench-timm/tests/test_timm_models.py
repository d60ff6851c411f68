"""timm models build offline for a dataset's shape, mark their classifier, and prune with shrinkbench.pruning."""

from __future__ import annotations

import pytest
import torch

from shrinkbench.errors import IncompatibleError, ShrinkBenchError, WeightsNotFoundError
from shrinkbench.masking import apply_masks
from shrinkbench.modules import find_classifier
from shrinkbench.plugins import load_registry
from shrinkbench.pruning import count_parameters, make_context, prunable_parameters

CIFAR = (3, 32, 32)
FAMILIES = [("resnet18", "fc"), ("mobilenetv3_small_050", "classifier"), ("vit_tiny_patch16_224", "head")]


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.mark.parametrize("name, head", FAMILIES)
def test_build_forward_backward_and_prune(registry, one_thread, name, head):
    spec = registry.model(f"timm:{name}")
    assert spec.incompatibility(CIFAR) is None
    model = spec.load()(10, CIFAR, None)
    assert model.training and find_classifier(model) == head == model.shrinkbench_classifier
    x = torch.randn(4, *CIFAR)
    out = model(x)
    assert out.shape == (4, 10)
    torch.nn.functional.cross_entropy(out, torch.arange(4)).backward()
    prunable = prunable_parameters(model)
    assert f"{head}.weight" not in prunable and all(p.grad is not None for p in prunable.values())

    ctx = make_context(model, 4.0)
    masks = ctx.masks({n: p.detach().abs() for n, p in ctx.prunable.items()})
    apply_masks(model, masks).remove()
    kept = sum(int(m.sum()) for m in masks.values())
    dense_rest = count_parameters(model) - sum(p.numel() for p in prunable.values())
    assert abs(count_parameters(model) / (kept + dense_rest) - 4.0) < 1e-3
    assert all(bool((p.detach()[~masks[n]] == 0).all()) for n, p in prunable.items())  # pruned weights are zero
    assert bool((model.get_submodule(head).weight != 0).all())  # the classifier stays dense
    assert model(x).shape == (4, 10)


def test_in_channels_and_image_size_follow_the_dataset(registry):
    model = registry.model("timm:vit_tiny_patch16_224").load()(7, (1, 48, 48), None)
    assert model(torch.randn(2, 1, 48, 48)).shape == (2, 7)
    assert model.patch_embed.proj.in_channels == 1


def test_impossible_shapes_fail_up_front(registry):
    with pytest.raises(IncompatibleError, match="timm:inception_v3. cannot take 3x32x32"):
        registry.model("timm:inception_v3").load()(10, CIFAR, None)  # found by the build-time forward pass
    assert registry.model("timm:resnet18").incompatibility((1, 28, 28)) is None  # no blanket minimum size


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv3_small_100"])
def test_convolutional_models_take_mnist_digits(registry, one_thread, name):
    model = registry.model(f"timm:{name}").load()(10, (1, 28, 28), None)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_local_weights_file(registry, tmp_path):
    build = registry.model("timm:resnet18").load()
    source = build(1000, (3, 64, 64), None)
    torch.save({"state_dict": source.state_dict()}, tmp_path / "r18.pth")
    model = build(10, (1, 32, 32), str(tmp_path / "r18.pth"))
    torch.testing.assert_close(model.layer1[0].conv1.weight, source.layer1[0].conv1.weight)
    torch.testing.assert_close(model.conv1.weight, source.conv1.weight.sum(1, keepdim=True))
    assert model.fc.out_features == 10


def test_cached_pretrained_tag_loads_offline(registry, empty_weight_caches):
    """A tag is looked up in the Hugging Face cache only; this fakes a cached snapshot of resnet18.a1_in1k."""
    from safetensors.torch import save_file

    build = registry.model("timm:resnet18").load()
    source = build(1000, CIFAR, None)
    repo = empty_weight_caches / "hf" / "models--timm--resnet18.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, str(repo / "snapshots" / ("0" * 40) / "model.safetensors"))
    model = build(10, CIFAR, "a1_in1k")
    torch.testing.assert_close(model.conv1.weight, source.conv1.weight)
    assert model.fc.out_features == 10
    torch.testing.assert_close(build(10, CIFAR, "default").conv1.weight, source.conv1.weight)


def test_missing_pretrained_weights_are_a_clear_error(registry, empty_weight_caches):
    build = registry.model("timm:resnet18").load()
    with pytest.raises(WeightsNotFoundError, match="not in the local cache") as info:
        build(10, CIFAR, "default")
    assert "\n" not in str(info.value) and str(empty_weight_caches) in str(info.value)
    with pytest.raises(ShrinkBenchError, match="known tags: default, .*a1_in1k"):
        build(10, CIFAR, "no_such_tag")
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        build(10, CIFAR, str(empty_weight_caches / "missing.pth"))


@pytest.mark.parametrize("name, shape", [("resnet18", (3, 224, 224)), ("crossvit_15_dagger_240", (3, 240, 240)),
                                         ("vit_base_patch16_384", (3, 384, 384)), ("inception_v3", (3, 299, 299))])
def test_each_model_declares_the_input_of_its_pretrained_config(registry, name, shape):
    """The default input comes from timm's pretrained config, without weights (nothing here is cached)."""
    assert registry.model(f"timm:{name}").default_input_shape() == shape


def test_a_model_builds_at_its_declared_input_when_no_other_fits(registry, one_thread):
    spec = registry.model("timm:crossvit_tiny_240")
    with pytest.raises(IncompatibleError):
        spec.load()(10, (3, 224, 224), None)  # a fixed position table: 240 px only
    model = spec.load()(10, spec.default_input_shape(), None)
    assert model(torch.randn(1, 3, 240, 240)).shape == (1, 10)
