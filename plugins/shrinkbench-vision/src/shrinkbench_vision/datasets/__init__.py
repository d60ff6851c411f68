"""Dataset loaders. Each public loader follows the :class:`shrinkbench.DatasetSpec` contract:
``build(split, root, augment) -> torch.utils.data.Dataset`` of ``(normalized image tensor, int label)``.

- :mod:`.bundled` -- ``mnist-5k``, shipped inside the package.
- :mod:`.torchvision_sets` -- MNIST, Fashion-MNIST, CIFAR-10/100 in torchvision's on-disk formats.
- :mod:`.folders` -- ImageNet and Places365 as ImageFolder trees.
- :mod:`.layouts` -- the search path (several directories) and where each dataset's files live (no torch).
- :mod:`.status` / :mod:`.download` -- the ``status`` and ``download`` targets behind ``shrinkbench data``.
"""
