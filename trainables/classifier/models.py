"""Classifier registry: name -> constructor (channels, height, width, num_classes) -> nn.Module.

Every model takes float images in [-1, 1] of shape (B, C, H, W) and returns logits (B, K).
All of them work on MNIST-sized (1, 28, 28) and CIFAR-sized (3, 32, 32) inputs, and on 64x64 and
128x128 (alexnet pools its last map to 4x4, inception and resnet18 keep their stem pools
as the side grows, so their blocks see the maps they see at 32x32); the architectures come from the
papers each constructor's docstring names.
"""

from __future__ import annotations

import torch
from torch import nn

from trainables.terms.choices import CLASSIFIER_NAMES
from trainables.terms.registry import Registry


def _flat_features(features: nn.Module, channels: int, height: int, width: int) -> int:
    """Size of `features(x)` flattened, found with one dummy forward pass.

    Run in eval mode under no_grad so that no BatchNorm statistics change and no random
    number is drawn: building a model must leave nothing behind but its parameters.
    """
    was_training = features.training
    features.eval()
    with torch.no_grad():
        out = features(torch.zeros(1, channels, height, width))
    features.train(was_training)
    return out.numel()


def mlp(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """Fully connected net with one hidden layer of 300 units, BatchNorm, ReLU, dropout 0.1.

    Source: Abadi, "An Empirical Analysis of GAN-based Data Augmentation for Classification",
    section 3.1 (784-300-10 on MNIST; the input size here is C*H*W, so it also runs on CIFAR).
    """
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(channels * height * width, 300),
        nn.BatchNorm1d(300),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(300, num_classes),
    )


def cnn2(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """Two-layer CNN: conv 32 -> pool -> conv 64 -> pool -> FC 128 -> K.

    Source: Abadi, section 5 (CIFAR-10 experiments use "a two layered CNN" reaching 0.74 on the
    full training set). The paper gives no further detail; 3x3 convolutions with 32 and 64
    filters, 2x2 max-pooling and one hidden FC layer of 128 units is the standard Keras
    two-conv CIFAR example it most likely follows.
    """
    features = nn.Sequential(
        nn.Conv2d(channels, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    flat = _flat_features(features, channels, height, width)
    return nn.Sequential(
        features,
        nn.Dropout(0.25),
        nn.Linear(flat, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )


def lenet(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """LeNet-5: conv5x5 6 -> pool -> conv5x5 16 -> pool -> conv5x5 120 -> FC 64 -> K.

    Source: Xing, "Exploiting DCGAN Generated Images for Enhanced Image Classification",
    section 2.2.3 (channel counts and the 64-unit FC layer are the paper's). 28x28 inputs get
    2 pixels of padding on the first convolution, as LeCun did for MNIST, so both sizes reach the
    third convolution at 5x5. ReLU and max-pooling replace the 1998 squashing functions and
    subsampling (the modern form; the paper notes LeNet already converges slowly).
    """
    first_pad = max(0, (32 - min(height, width)) // 2)
    features = nn.Sequential(
        nn.Conv2d(channels, 6, kernel_size=5, padding=first_pad),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 120, kernel_size=5),
        nn.ReLU(),
        nn.Flatten(),
    )
    flat = _flat_features(features, channels, height, width)
    return nn.Sequential(features, nn.Linear(flat, 64), nn.ReLU(), nn.Linear(64, num_classes))


def alexnet(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """AlexNet for 32x32 inputs: 5 convolutions, three 3x3/stride-2 max-pools, 3 FC layers.

    Source: Xing, section 2.2.3 (AlexNet: five convolutions, overlapping 3x3 stride-2 pooling
    after conv 1, 2 and 5, two large dropout FC layers, then the classifier layer). Adapted to
    small inputs: the 11x11 stride-4 stem becomes 5x5 stride 1, and the widths are those of one
    of the original network's two GPU towers (48/128/192/192/128 filters) with 1024-unit FC
    layers, which keeps it trainable on a CPU.
    """
    features = nn.Sequential(
        nn.Conv2d(channels, 48, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),  # 32 -> 16, 28 -> 14
        nn.Conv2d(48, 128, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),  # -> 8 / 7
        nn.Conv2d(128, 192, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(192, 192, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(192, 128, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),  # -> 4 / 4
        nn.AdaptiveMaxPool2d(4),               # 28/32: already 4x4; 64/128: 8/16 -> 4, so the FC stays 2048 wide
        nn.Flatten(),
    )
    flat = _flat_features(features, channels, height, width)
    return nn.Sequential(
        features,
        nn.Dropout(0.5),
        nn.Linear(flat, 1024),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(1024, 1024),
        nn.ReLU(),
        nn.Linear(1024, num_classes),
    )


def inception(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """GoogLeNet (Inception v1) from torchvision, adapted to 28x28/32x32 inputs.

    Source: Xing, section 2.2.3 (InceptionNet v1, Szegedy et al. 2015). The 7x7 stride-2 stem
    becomes a 3x3 stride-1 convolution taking C channels and the two stem max-pools are removed,
    so the inception blocks see 32x32 (28x28), 16x16 and 8x8 maps instead of collapsing a small
    image to 1x1. No auxiliary heads, no ImageNet input transform.
    """
    from torchvision.models import googlenet  # lazy: torchvision's import costs ~1 s in every trial worker
    from torchvision.models.googlenet import BasicConv2d

    model = googlenet(
        weights=None, aux_logits=False, init_weights=True, transform_input=False, num_classes=num_classes
    )
    model.conv1 = BasicConv2d(channels, 64, kernel_size=3, stride=1, padding=1)
    # Same initialisation torchvision gives every other GoogLeNet convolution.
    nn.init.trunc_normal_(model.conv1.conv.weight, mean=0.0, std=0.01, a=-2, b=2)
    # 64x64 keeps the first stem pool and 128x128 both: the blocks see 32/16/8 maps again
    side = min(height, width)
    if side < 64:
        model.maxpool1 = nn.Identity()
    if side < 128:
        model.maxpool2 = nn.Identity()
    return model


def resnet18_small(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """ResNet-18 from torchvision with the usual CIFAR stem: 3x3 stride-1 conv, no max-pool.

    Source: Xing, section 4 (suggests ResNet as a stronger classifier); He et al. 2016, section
    4.2 on why small images drop the 7x7 stride-2 stem and its max-pool.
    """
    from torchvision.models import resnet18  # lazy, like googlenet above

    model = resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    # Same initialisation torchvision gives its own stem.
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    if min(height, width) < 64:   # 64x64 and larger keep the stem's max-pool (128: and its stride 2): 32x32 maps again
        model.maxpool = nn.Identity()
    if min(height, width) >= 128:
        model.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=2, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


# The builder of every name in trainables.terms.choices.CLASSIFIER_NAMES, the names' home, where a study
# file's classifier.name is checked without torch.
_BUILDERS = {"mlp": mlp, "cnn2": cnn2, "lenet": lenet, "alexnet": alexnet, "inception": inception,
             "resnet18": resnet18_small}
CLASSIFIERS: Registry = Registry("classifier", {name: _BUILDERS[name] for name in CLASSIFIER_NAMES})
