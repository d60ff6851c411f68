"""``--pretrained`` end to end: local weight files of a 1000-class model (torchvision) and a cached timm tag
start a 10-class CIFAR sweep through the same head-replacing loader as ``--checkpoint``. Nothing is downloaded:
the tests write the files (a state dict, a fake Hugging Face cache snapshot) themselves."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from shrinkbench.plugins import load_registry
from shrinkbench_vision.datasets.synthetic import write_cifar

TINY = ("-d", "cifar10", "-s", "global-magnitude", "-c", "1", "--pretrain-epochs", "0", "--finetune-epochs", "0",
        "--no-report")
RUN = "global-magnitude_c1_s0"  # in the experiment's folder: runs/<experiment>/<run>


def run_dir(out, model: str):
    return out / "runs" / f"cifar10-{model.replace(':', '-')}" / RUN


@pytest.fixture
def cifar(tmp_path):
    write_cifar(tmp_path / "data", train_per_batch=8, test_size=16)
    return tmp_path / "data"


def imagenet_model(name: str) -> torch.nn.Module:
    return load_registry().model(name).load()(1000, (3, 32, 32), None)


def test_pretrained_torchvision_file_gets_a_fresh_10_class_head(shrinkbench, cifar, tmp_path):
    source = imagenet_model("torchvision:resnet18")
    torch.save(source.state_dict(), tmp_path / "resnet18-imagenet.pth")
    out = tmp_path / "out"
    result = shrinkbench("bench", *TINY, "-m", "torchvision:resnet18", "--data-root", str(cifar),
                         "--pretrained", str(tmp_path / "resnet18-imagenet.pth"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    weights = load_file(run_dir(out, "torchvision:resnet18") / "weights.safetensors")
    torch.testing.assert_close(weights["conv1.weight"], source.conv1.weight.detach())
    torch.testing.assert_close(weights["layer4.1.bn2.running_var"], source.layer4[1].bn2.running_var)
    assert weights["fc.weight"].shape == (10, 512)
    fixed = json.loads((out / "sweep.json").read_text())["experiments"]["cifar10-torchvision-resnet18"]["fixed"]
    assert fixed["initial_weights"].startswith("pretrained:") and len(fixed["initial_weights"]) > 60  # the file's hash


def test_pretrained_timm_tag_from_the_local_hugging_face_cache(shrinkbench, cifar, tmp_path):
    source = imagenet_model("timm:resnet18")
    snapshot = tmp_path / "hf" / "models--timm--resnet18.a1_in1k" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(snapshot / "model.safetensors"))
    out = tmp_path / "out"
    result = shrinkbench("bench", *TINY, "-m", "timm:resnet18", "--data-root", str(cifar), "--pretrained", "a1_in1k",
                         "--out", str(out), HF_HUB_CACHE=str(tmp_path / "hf"))
    assert result.returncode == 0, result.stderr
    weights = load_file(run_dir(out, "timm:resnet18") / "weights.safetensors")
    torch.testing.assert_close(weights["conv1.weight"], source.conv1.weight.detach())
    assert weights["fc.weight"].shape == (10, 512)
    experiments = json.loads((out / "sweep.json").read_text())["experiments"]
    assert experiments["cifar10-timm-resnet18"]["fixed"]["initial_weights"] == "pretrained:a1_in1k"


@pytest.mark.parametrize(("model", "tag", "message"), [
    ("timm:resnet18", "no_such_tag", "has no pretrained weights 'no_such_tag'; known tags: default"),
    ("timm:resnet18", "a1_in1k", "not in the local cache"),
    ("torchvision:resnet18", "IMAGENET1K_V1", "nothing is downloaded"),
    ("resnet20", "missing.pth", "does not exist"),
])
def test_pretrained_weights_that_are_not_here_are_one_line_exit_2(shrinkbench, cifar, tmp_path, model, tag, message):
    result = shrinkbench("bench", *TINY, "-m", model, "--data-root", str(cifar), "--pretrained", tag,
                         "--out", str(tmp_path / "out"), HF_HUB_CACHE=str(tmp_path / "hf"), TORCH_HOME=str(tmp_path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_checkpoint_for_another_number_of_classes_points_to_pretrained(shrinkbench, cifar, tmp_path):
    torch.save(imagenet_model("torchvision:resnet18").state_dict(), tmp_path / "imagenet.pth")
    result = shrinkbench("bench", *TINY, "-m", "torchvision:resnet18", "--data-root", str(cifar),
                         "--checkpoint", str(tmp_path / "imagenet.pth"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "use --pretrained" in result.stderr and "1000 outputs" in result.stderr
    assert not (tmp_path / "out").exists()
