"""ShrinkBench datasets and models for vision: a bundled MNIST subset, MNIST / Fashion-MNIST / CIFAR /
ImageNet / Places365 loaders reading local files, LeNets, CIFAR ResNets, VGG and torchvision's models.

Importing this package (and its ``plugin`` module) does not import torch or torchvision; the loaders and
builders do, on first use.
"""

__version__ = "0.1.0"
