"""A network for CIFAR speed runs: few, wide conv + batch-norm blocks that keep a GPU busy."""

from __future__ import annotations

from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv, pool, BN, GELU, conv, BN, GELU: one resolution step (halves the image size).

    Pooling right after the first convolution makes the second one four times cheaper; this is
    the block shape of the fastest published CIFAR-10 trainers (cifar10-airbench).
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.MaxPool2d(2),
        nn.BatchNorm2d(out_channels),
        nn.GELU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.GELU(),
    )


class FastCifarNet(nn.Module):
    """Stem and three blocks at widths 64/256/256 (airbench-like, about 1.97M parameters).

    Small classifiers are launch-bound on a GPU, so the network has few layers and wide ones
    (few kernel launches, each with enough work); every layer is a convolution or batch norm, so
    it runs in ``channels_last`` memory format without copies. The first convolution is lazy
    (any channel count) and the global max pooling takes any image size from 8x8 up.

    Args:
        num_classes: size of the output; ``ClassifierModule`` resizes it to the data's class count.
        widths: channels of the three blocks.
        stem_width: channels of the 3x3 stem convolution.
    """

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, int, int] = (64, 256, 256),
        stem_width: int = 32,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.LazyConv2d(stem_width, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.GELU(),
            conv_block(stem_width, widths[0]),
            conv_block(widths[0], widths[1]),
            conv_block(widths[1], widths[2]),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(widths[2], num_classes, bias=False)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))
