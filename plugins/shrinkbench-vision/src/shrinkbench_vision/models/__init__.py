"""Model builders. Each public builder follows the :class:`shrinkbench.ModelSpec` contract:
``build(num_classes, input_shape, pretrained) -> torch.nn.Module`` whose ``shrinkbench_classifier`` attribute
names its classifier module.

- :mod:`.lenet` -- LeNet-300-100, LeNet-5 and ShrinkBench's MnistNet.
- :mod:`.cifar_resnet` -- ResNet-20/32/44/56/110 for 32x32 images (He et al. 2016).
- :mod:`.vgg` -- VGG-BN-Drop for CIFAR (cifar.torch).
- :mod:`.torchvision_family` -- every torchvision classification model as ``torchvision:<name>``.
"""
