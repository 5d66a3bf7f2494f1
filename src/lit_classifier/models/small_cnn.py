"""The default network: a small CNN for digits-, MNIST- and CIFAR-sized images."""

from __future__ import annotations

from torch import Tensor, nn


def conv_bn(out_channels: int, bn_momentum: float = 0.1) -> nn.Sequential:
    """3x3 convolution, batch norm (``bn_momentum``: torch's default), ReLU: the block every small
    CNN here is built from."""
    return nn.Sequential(
        nn.LazyConv2d(out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels, momentum=bn_momentum),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Two conv blocks that each halve the image, a 4x4 map flattened, a hidden linear layer and the
    linear head (about 150k parameters).

    The first convolution is lazy, so the network takes any number of input channels, and the
    adaptive pooling to 4x4 takes any image size from 8x8 (digits) to 32x32 (CIFAR) and beyond.
    Three choices make it learn real images in the recipe's 8 epochs at the recipe's learning rate
    (``benchmarks/real_data.py`` measures it against the hand-written recipe, ``docs/accuracy.md``
    each choice):

    - the 4x4 map is flattened, not averaged over the image: the linear layers see where each
      stroke or edge lies, not only that it is there;
    - the logits are scaled by ``logit_scale``: batch norm keeps the 1,024 flattened features at
      unit scale, so the linear layers on them take steps that grow with their count; at lr 0.05
      with momentum 0.9 those steps overshoot and training stalls without the scale;
    - the running statistics that evaluation uses follow the last batches closely: at lr 0.05 the
      weights move in a few steps, and torch's average over the last ten or so batches describes
      weights that are gone. One batch of 64 images already holds thousands of values per channel.

    Args:
        num_classes: size of the output; ``ClassifierModule`` resizes it to the data's class count.
        width: channels of the first block (doubled in the second).
        hidden: size of the hidden linear layer.
        logit_scale: factor of the logits (1/4).
        bn_momentum: batch norm's momentum of the running statistics (0.5; torch's default is 0.1).
    """

    def __init__(
        self,
        num_classes: int = 10,
        width: int = 32,
        hidden: int = 128,
        logit_scale: float = 0.25,
        bn_momentum: float = 0.5,
    ) -> None:
        super().__init__()
        self.logit_scale = logit_scale
        self.features = nn.Sequential(
            conv_bn(width, bn_momentum),
            nn.MaxPool2d(2),
            conv_bn(width * 2, bn_momentum),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
        )
        self.hidden = nn.Sequential(nn.Linear(width * 2 * 16, hidden), nn.ReLU(inplace=True))
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.hidden(self.features(images))) * self.logit_scale
