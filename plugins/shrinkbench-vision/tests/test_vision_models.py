"""Every vision model builds, runs forward and backward on its dataset's input shape, and marks its classifier."""

from __future__ import annotations

import pytest
import torch

from shrinkbench.errors import IncompatibleError, WeightsNotFoundError
from shrinkbench.modules import find_classifier
from shrinkbench.plugins import load_registry
from shrinkbench.pruning import count_parameters, make_context, prunable_parameters
from shrinkbench.specs import ModelFamilySpec
from shrinkbench.testing import check_model

MNIST, CIFAR, IMAGENET = (1, 28, 28), (3, 32, 32), (3, 224, 224)
# model -> (input shape of its dataset, parameters for 10 classes, the paper's / original's figure)
EXPECTED = {
    "lenet-300-100": (MNIST, 266_610, None),
    "lenet-5": (MNIST, 61_706, None),
    "mnistnet": (MNIST, 431_080, None),  # the original ShrinkBench MnistNet
    "vit-p4": (MNIST, 139_018, None),  # 49 patches + class token, width 64, 4 blocks
    "resnet20": (CIFAR, 269_722, 0.27e6),  # He et al. 2016, table 6
    "resnet32": (CIFAR, 464_154, 0.46e6),
    "resnet44": (CIFAR, 658_586, 0.66e6),
    "resnet56": (CIFAR, 853_018, 0.85e6),
    "resnet110": (CIFAR, 1_727_962, 1.7e6),
    "vgg-bn-drop": (CIFAR, 14_991_946, None),
}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_every_listed_model_is_tested(registry):
    listed = {e.name for e in registry.list("models") if e.plugin == "shrinkbench-vision"}
    assert listed == set(EXPECTED) | {"torchvision:*"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_forward_backward_and_classifier(registry, name, one_thread):
    shape, params, _ = EXPECTED[name]
    spec = registry.model(name)
    assert spec.incompatibility(shape) is None
    model = check_model(spec, num_classes=10, input_shape=shape)  # forward + backward, classifier not prunable
    assert count_parameters(model) == params
    head = find_classifier(model)
    assert f"{head}.weight" not in prunable_parameters(model)
    assert f"{head}.weight" in prunable_parameters(model, include_classifier=True)
    make_context(model, 4.0)  # the classifier excluded, compression 4 is reachable


@pytest.mark.parametrize("name", [n for n, (_, _, paper) in EXPECTED.items() if paper])
def test_cifar_resnet_parameter_counts_match_the_paper(registry, name):
    _, _, paper = EXPECTED[name]
    model = registry.model(name).load()(10, CIFAR, None)
    assert abs(count_parameters(model) - paper) / paper < 0.02


def test_models_adapt_to_the_dataset(registry):
    assert registry.model("resnet20").load()(100, (1, 28, 28), None)(torch.randn(2, 1, 28, 28)).shape == (2, 100)
    assert registry.model("lenet-5").load()(10, CIFAR, None)(torch.randn(2, *CIFAR)).shape == (2, 10)


@pytest.mark.parametrize("name", ["lenet-300-100", "lenet-5", "mnistnet", "vgg-bn-drop"])
def test_impossible_pairs_are_refused_up_front(registry, name):
    reason = registry.model(name).incompatibility(IMAGENET)
    assert reason and "224" in reason


def test_torchvision_family_is_lazy_and_lists_resnet18(registry):
    family = registry.get("models", "torchvision:*")
    assert isinstance(family, ModelFamilySpec)
    assert "torchvision:resnet18" in [e.name for e in registry.list("models", "torchvision:res*")]
    assert registry.model("torchvision:resnet18").incompatibility(MNIST) is None  # no blanket minimum size


def test_torchvision_resnet18_builds_with_10_classes(registry, one_thread):
    spec = registry.model("torchvision:resnet18")
    model = check_model(spec, num_classes=10, input_shape=CIFAR)
    assert find_classifier(model) == "fc" and model.fc.out_features == 10
    assert count_parameters(model) == 11_181_642
    gray = spec.load()(10, (1, 32, 32), None)
    assert gray.conv1.in_channels == 1 and gray(torch.randn(2, 1, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name, head", [("squeezenet1_1", "classifier.1"), ("vit_b_32", "heads.head"),
                                        ("mobilenet_v3_small", "classifier.3"), ("googlenet", "fc")])
def test_torchvision_heads_are_found(registry, name, head, one_thread):
    model = check_model(registry.model(f"torchvision:{name}"), num_classes=7, input_shape=CIFAR)
    assert find_classifier(model) == head


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_torchvision_models_take_mnist_digits(registry, name, one_thread):
    model = registry.model(f"torchvision:{name}").load()(10, MNIST, None)
    assert model.training  # the build-time forward pass restored the mode
    assert model(torch.randn(3, *MNIST)).shape == (3, 10)


def test_torchvision_size_limits_are_found_by_a_forward_pass(registry):
    with pytest.raises(IncompatibleError, match=r"^model 'torchvision:alexnet' cannot take 1x28x28 inputs: ") as info:
        registry.model("torchvision:alexnet").load()(10, MNIST, None)  # its pooling runs out of pixels
    assert "\n" not in str(info.value)
    assert registry.model("torchvision:alexnet").load()(10, (3, 64, 64), None)(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_local_pretrained_weights_replace_the_head(registry, tmp_path):
    build = registry.model("torchvision:resnet18").load()
    imagenet = build(1000, CIFAR, None)
    torch.save(imagenet.state_dict(), tmp_path / "resnet18.pth")
    model = build(10, CIFAR, str(tmp_path / "resnet18.pth"))
    torch.testing.assert_close(model.conv1.weight, imagenet.conv1.weight)
    torch.testing.assert_close(model.layer4[1].bn2.running_var, imagenet.layer4[1].bn2.running_var)
    assert model.fc.out_features == 10
    gray = build(10, (1, 32, 32), str(tmp_path / "resnet18.pth"))
    torch.testing.assert_close(gray.conv1.weight, imagenet.conv1.weight.sum(1, keepdim=True))


def test_own_models_load_their_weights(registry, tmp_path):
    build = registry.model("mnistnet").load()
    trained = build(10, MNIST, None)
    torch.save({"state_dict": trained.state_dict()}, tmp_path / "mnistnet.pt")
    torch.testing.assert_close(build(10, MNIST, str(tmp_path / "mnistnet.pt")).fc1.weight, trained.fc1.weight)


def test_missing_pretrained_weights_are_a_clear_error(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache: nothing is ever downloaded
    build = registry.model("torchvision:resnet18").load()
    with pytest.raises(WeightsNotFoundError, match="not in the local cache") as info:
        build(10, CIFAR, "DEFAULT")
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        build(10, CIFAR, str(tmp_path / "missing.pth"))
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        registry.model("resnet20").load()(10, CIFAR, str(tmp_path / "missing.pt"))


@pytest.mark.parametrize("name, shape", [("torchvision:resnet18", (3, 224, 224)), ("torchvision:inception_v3", (3, 299, 299)),
                                         ("torchvision:vit_h_14", (3, 518, 518)), ("torchvision:efficientnet_b3", (3, 300, 300)),
                                         ("lenet-5", (1, 28, 28)), ("resnet20", (3, 32, 32))])
def test_each_model_declares_the_input_it_is_made_for(registry, name, shape):
    """torchvision models: the crop of their default weights' transforms, read without any weights on disk."""
    assert registry.model(name).default_input_shape() == shape


def test_vit_attention_equals_torchs_multi_head_attention(one_thread):
    from shrinkbench_vision.models.vit import Attention

    torch.manual_seed(0)
    ours, theirs = Attention(64, 4), torch.nn.MultiheadAttention(64, 4, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.qkv.weight)
        theirs.in_proj_bias.copy_(ours.qkv.bias)
        theirs.out_proj.weight.copy_(ours.proj.weight)
        theirs.out_proj.bias.copy_(ours.proj.bias)
    x = torch.randn(3, 50, 64)
    torch.testing.assert_close(ours(x), theirs(x, x, x, need_weights=False)[0], rtol=1e-5, atol=1e-5)


def test_vit_blocks_are_found_for_post_training_pruning(registry):
    from shrinkbench.layerwise import find_blocks

    model = registry.model("vit-p4").load()(10, MNIST, None)
    blocks = find_blocks(model, prunable_parameters(model))
    inside = [sorted(w.removeprefix(f"{b.name}.") for w in b.weights) for b in blocks if b.name.startswith("blocks.")]
    assert [b.name for b in blocks if b.name.startswith("blocks.")] == [f"blocks.{i}" for i in range(4)]
    assert inside == [["attn.proj.weight", "attn.qkv.weight", "fc1.weight", "fc2.weight"]] * 4


def test_vit_refuses_images_its_patches_do_not_tile(registry):
    with pytest.raises(IncompatibleError, match="30x30 images: its 4x4 patches must tile them"):
        registry.model("vit-p4").load()(10, (3, 30, 30), None)
    assert registry.model("vit-p4").load()(100, CIFAR, None)(torch.randn(2, *CIFAR)).shape == (2, 100)
