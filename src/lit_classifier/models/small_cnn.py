"""The default network: a small CNN for digits- and MNIST-sized images."""

from __future__ import annotations

from torch import Tensor, nn


def conv_bn(out_channels: int) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU: the block every small CNN here is built from."""
    return nn.Sequential(
        nn.LazyConv2d(out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Three conv blocks, global average pooling and a linear head (about 95k parameters).

    The first convolution is lazy, so the network takes any number of input channels, and the
    global pooling takes any image size from 8x8 (digits) to 32x32 (CIFAR) and beyond.

    Args:
        num_classes: size of the output; ``ClassifierModule`` resizes it to the data's class count.
        width: channels of the first block (then doubled twice).
    """

    def __init__(self, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(width),
            conv_bn(width * 2),
            nn.MaxPool2d(2),
            conv_bn(width * 4),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(width * 4, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))
