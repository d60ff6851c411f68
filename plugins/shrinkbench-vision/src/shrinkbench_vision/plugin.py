"""The ``vision`` plugin: datasets and models as lazy import paths (importing this module is instant: no
torch, no torchvision)."""

from __future__ import annotations

from shrinkbench import DatasetSpec, ModelFamilySpec, ModelSpec, Recipe, Reference, hookimpl

_D = "shrinkbench_vision.datasets."
_M = "shrinkbench_vision.models."


_S = "shrinkbench_vision.datasets.status:"
_G = "shrinkbench_vision.datasets.download:"
_TV = "torchvision's URL and MD5s"
IMAGENET_SOURCE = ("the ImageNet licence requires signing up at https://image-net.org/download-images.php: fetch "
                   "ILSVRC2012_img_train.tar (148 GB) and ILSVRC2012_img_val.tar (6.7 GB), extract them into "
                   "<dir>/imagenet/train/<wnid>/ and <dir>/imagenet/val/<wnid>/ (val sorted into class folders, "
                   "e.g. with valprep.sh)")


# The standard (pretrain, finetune) recipes of each dataset family, declared with the datasets they belong to.
# Small where CPUs are the norm (MNIST); CIFAR and ImageNet follow the usual step schedules.
_MNIST = (Recipe(epochs=10, lr=0.05), Recipe(epochs=4, lr=0.01, lr_schedule="constant"))
_CIFAR = (Recipe(epochs=160, lr=0.1, batch_size=128, weight_decay=1e-4, lr_schedule="step"),
          Recipe(epochs=30, lr=0.01, batch_size=128, weight_decay=1e-4))
_IMAGENET = (Recipe(epochs=90, lr=0.1, batch_size=256, weight_decay=1e-4, lr_schedule="step"),
             Recipe(epochs=10, lr=0.001, batch_size=256, weight_decay=1e-4))


@hookimpl
def shrinkbench_datasets() -> list[DatasetSpec]:
    """The bundled MNIST subset, and MNIST / Fashion-MNIST / CIFAR / ImageNet / Places365 from local files.

    The MNIST-style datasets have no training augmentation (as in ShrinkBench): ``augmented=False``. Every
    dataset has a ``status`` check; all but ImageNet (licence) and the bundled subset can be downloaded with
    ``shrinkbench data download`` (see :mod:`shrinkbench_vision.datasets.download` for what each fetches).
    """
    return [
        DatasetSpec("mnist-5k", "5,000 real MNIST digits bundled with the package (4,000 train / 1,000 test)",
                    _D + "bundled:mnist_5k", num_classes=10, input_shape=(1, 28, 28), bundled=True,
                    augmented=False, status=_S + "mnist_5k", source="bundled with shrinkbench-vision",
                    recipes=_MNIST),
        DatasetSpec("mnist", "MNIST digits from DATAPATH/MNIST/raw (torchvision layout)",
                    _D + "torchvision_sets:mnist", num_classes=10, input_shape=(1, 28, 28), augmented=False,
                    status=_S + "mnist", download=_G + "mnist", download_size=70_000_000,
                    source="4 .gz files, 11.6 MB, from torchvision's MNIST mirrors "
                    "(https://ossci-datasets.s3.amazonaws.com/mnist/, then yann.lecun.com); 67 MB on disk", recipes=_MNIST),
        DatasetSpec("fashion-mnist", "Fashion-MNIST from DATAPATH/FashionMNIST/raw (torchvision layout)",
                    _D + "torchvision_sets:fashion_mnist", num_classes=10, input_shape=(1, 28, 28),
                    augmented=False, status=_S + "fashion_mnist", download=_G + "fashion_mnist",
                    download_size=90_000_000,
                    source="4 .gz files, 30.9 MB, from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ "
                    "(torchvision's mirror); 86 MB on disk", recipes=_MNIST),
        DatasetSpec("cifar10", "CIFAR-10 from DATAPATH/cifar-10-batches-py (crop + flip augmentation)",
                    _D + "torchvision_sets:cifar10", num_classes=10, input_shape=(3, 32, 32),
                    status=_S + "cifar10", download=_G + "cifar10", download_size=360_000_000,
                    source="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (170 MB, "
                    f"{_TV}); 178 MB on disk", recipes=_CIFAR),
        DatasetSpec("cifar100", "CIFAR-100 from DATAPATH/cifar-100-python (crop + flip augmentation)",
                    _D + "torchvision_sets:cifar100", num_classes=100, input_shape=(3, 32, 32),
                    status=_S + "cifar100", download=_G + "cifar100", download_size=360_000_000,
                    source="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (169 MB, "
                    f"{_TV}); 178 MB on disk", recipes=_CIFAR),
        DatasetSpec("imagenet", "ImageNet ILSVRC-2012 from DATAPATH/imagenet/{train,val}/<class>/ (224px)",
                    _D + "folders:imagenet", num_classes=1000, input_shape=(3, 224, 224), status=_S + "imagenet",
                    source=IMAGENET_SOURCE, recipes=_IMAGENET),
        DatasetSpec("places365", "Places365-Standard from DATAPATH/places365/{train,val}/<class>/ (224px)",
                    _D + "folders:places365", num_classes=365, input_shape=(3, 224, 224),
                    status=_S + "places365", download=_G + "places365", download_size=52_000_000_000,
                    source="the 256x256 images from http://data.csail.mit.edu/places/places365/ (torchvision's "
                    "small=True): train_256_places365standard.tar (~24 GB), val_256.tar (0.5 GB) and the file "
                    "lists; ~25 GB on disk, ~50 GB free needed while extracting", recipes=_IMAGENET),
    ]


_CIFAR_RESNETS = {"resnet20": "0.27M", "resnet32": "0.46M", "resnet44": "0.66M", "resnet56": "0.85M",
                  "resnet110": "1.7M"}
_HE = "He et al. 2016, Deep Residual Learning for Image Recognition, Table 6 (CIFAR-10 test error {}%)"
_CIFAR_RESNET_TOP1 = {"resnet20": 8.75, "resnet32": 7.51, "resnet44": 7.17, "resnet56": 6.97, "resnet110": 6.61}
_HAN = "Han et al. 2015, Learning both Weights and Connections, Table 1 (MNIST test error {}%)"
_TORCHVISION = "torchvision model card, {} IMAGENET1K_V1 (acc@1 {}%)"
_TORCHVISION_TOP1 = {"resnet18": 69.758, "resnet34": 73.314, "resnet50": 76.130, "vgg16_bn": 73.360,
                     "mobilenet_v2": 71.878}


@hookimpl
def shrinkbench_models() -> list[ModelSpec | ModelFamilySpec]:
    """LeNets and MnistNet (digits), CIFAR ResNets and VGG-BN-Drop (32px), and the torchvision family.

    Each declares the input it is made for (``default_shape``): 1x28x28 digits, 3x32x32 CIFAR images, and for
    torchvision models the crop of their default weights (:func:`shrinkbench_vision.models.torchvision_family.default_shape`)."""
    specs: list[ModelSpec | ModelFamilySpec] = [
        ModelSpec("lenet-300-100", "LeNet-300-100 MLP (266,610 params on MNIST)", _M + "lenet:lenet_300_100",
                  min_size=28, max_size=32, default_shape=(1, 28, 28),
                  references=(Reference("mnist", 0.9836, _HAN.format(1.64), 0.005),)),
        ModelSpec("lenet-5", "LeNet-5 CNN, ReLU + max-pool (61,706 params on MNIST)", _M + "lenet:lenet5",
                  min_size=28, max_size=32, default_shape=(1, 28, 28)),
        ModelSpec("mnistnet", "ShrinkBench's MNIST CNN: conv20-conv50-fc500 (431,080 params)",
                  _M + "lenet:mnistnet", min_size=28, max_size=32, default_shape=(1, 28, 28),
                  references=(Reference("mnist", 0.9920, _HAN.format(0.80) + ", Caffe's LeNet-5 = this net", 0.005),)),
        ModelSpec("vit-p4", "Vision Transformer for small images: 4x4 patches, width 64, 4 blocks of 4 heads (139k "
                  "params on MNIST)", _M + "vit:vit_p4", min_size=8, default_shape=(1, 28, 28)),
    ]
    specs += [
        ModelSpec(name, f"CIFAR ResNet-{name[6:]}, He et al. 2016 option A ({size} params)",
                  f"{_M}cifar_resnet:{name}", min_size=8, default_shape=(3, 32, 32),
                  references=(Reference("cifar10", 1 - _CIFAR_RESNET_TOP1[name] / 100,
                                        _HE.format(_CIFAR_RESNET_TOP1[name])),))
        for name, size in _CIFAR_RESNETS.items()
    ]
    specs += [
        ModelSpec("vgg-bn-drop", "CIFAR VGG with batch norm and dropout, cifar.torch (15.0M params)",
                  _M + "vgg:vgg_bn_drop", max_size=32, default_shape=(3, 32, 32),
                  references=(Reference("cifar10", 0.9245, "Zagoruyko 2015, 92.45% on CIFAR-10 in Torch (cifar.torch)"),)),
        ModelFamilySpec("torchvision", "torchvision classification model", _M + "torchvision_family:names",
                        _M + "torchvision_family:build", default_shape=_M + "torchvision_family:default_shape",
                        references=tuple(Reference("imagenet", top1 / 100, _TORCHVISION.format(name, top1), 0.005, name)
                                         for name, top1 in _TORCHVISION_TOP1.items())),
    ]
    return specs
