"""The ``vision`` plugin: datasets and models as lazy import paths (importing this module is instant: no
torch, no torchvision)."""

from __future__ import annotations

from shrinkbench import DatasetSpec, ModelFamilySpec, ModelSpec, hookimpl

_D = "shrinkbench_vision.datasets."
_M = "shrinkbench_vision.models."


@hookimpl
def shrinkbench_datasets() -> list[DatasetSpec]:
    """The bundled MNIST subset, and MNIST / Fashion-MNIST / CIFAR / ImageNet / Places365 from local files.

    The MNIST-style datasets have no training augmentation (as in ShrinkBench): ``augmented=False``.
    """
    return [
        DatasetSpec("mnist-5k", "5,000 real MNIST digits bundled with the package (4,000 train / 1,000 test)",
                    _D + "bundled:mnist_5k", num_classes=10, input_shape=(1, 28, 28), bundled=True,
                    augmented=False),
        DatasetSpec("mnist", "MNIST digits from DATAPATH/MNIST/raw (torchvision layout)",
                    _D + "torchvision_sets:mnist", num_classes=10, input_shape=(1, 28, 28), augmented=False),
        DatasetSpec("fashion-mnist", "Fashion-MNIST from DATAPATH/FashionMNIST/raw (torchvision layout)",
                    _D + "torchvision_sets:fashion_mnist", num_classes=10, input_shape=(1, 28, 28),
                    augmented=False),
        DatasetSpec("cifar10", "CIFAR-10 from DATAPATH/cifar-10-batches-py (crop + flip augmentation)",
                    _D + "torchvision_sets:cifar10", num_classes=10, input_shape=(3, 32, 32)),
        DatasetSpec("cifar100", "CIFAR-100 from DATAPATH/cifar-100-python (crop + flip augmentation)",
                    _D + "torchvision_sets:cifar100", num_classes=100, input_shape=(3, 32, 32)),
        DatasetSpec("imagenet", "ImageNet ILSVRC-2012 from DATAPATH/imagenet/{train,val}/<class>/ (224px)",
                    _D + "folders:imagenet", num_classes=1000, input_shape=(3, 224, 224)),
        DatasetSpec("places365", "Places365-Standard from DATAPATH/places365/{train,val}/<class>/ (224px)",
                    _D + "folders:places365", num_classes=365, input_shape=(3, 224, 224)),
    ]


_CIFAR_RESNETS = {"resnet20": "0.27M", "resnet32": "0.46M", "resnet44": "0.66M", "resnet56": "0.85M",
                  "resnet110": "1.7M"}


@hookimpl
def shrinkbench_models() -> list[ModelSpec | ModelFamilySpec]:
    """LeNets and MnistNet (digits), CIFAR ResNets and VGG-BN-Drop (32px), and the torchvision family."""
    specs: list[ModelSpec | ModelFamilySpec] = [
        ModelSpec("lenet-300-100", "LeNet-300-100 MLP (266,610 params on MNIST)", _M + "lenet:lenet_300_100",
                  min_size=28, max_size=32),
        ModelSpec("lenet-5", "LeNet-5 CNN, ReLU + max-pool (61,706 params on MNIST)", _M + "lenet:lenet5",
                  min_size=28, max_size=32),
        ModelSpec("mnistnet", "ShrinkBench's MNIST CNN: conv20-conv50-fc500 (431,080 params)",
                  _M + "lenet:mnistnet", min_size=28, max_size=32),
    ]
    specs += [
        ModelSpec(name, f"CIFAR ResNet-{name[6:]}, He et al. 2016 option A ({size} params)",
                  f"{_M}cifar_resnet:{name}", min_size=8)
        for name, size in _CIFAR_RESNETS.items()
    ]
    specs += [
        ModelSpec("vgg-bn-drop", "CIFAR VGG with batch norm and dropout, cifar.torch (15.0M params)",
                  _M + "vgg:vgg_bn_drop", max_size=32),
        ModelFamilySpec("torchvision", "torchvision classification model", _M + "torchvision_family:names",
                        _M + "torchvision_family:build"),
    ]
    return specs
