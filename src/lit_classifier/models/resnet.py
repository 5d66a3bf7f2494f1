"""ResNet-18 for 32x32 images: a 3x3 stem instead of ImageNet's 7x7 convolution and max pooling."""

from __future__ import annotations

from torch import Tensor, nn


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with a shortcut (a 1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        return (self.body(x) + self.shortcut(x)).relu()


class CifarResNet18(nn.Module):
    """The ResNet-18 layout (four stages of two basic blocks, 64 to 512 channels, about 11.2M
    parameters) with a 3x3 stride-1 stem, so 32x32 images keep their resolution into the first
    stage (torchvision's ImageNet stem would shrink them to 8x8 at once).

    The stem is lazy (any channel count); global average pooling takes any image size.

    Args:
        num_classes: size of the output; ``ClassifierModule`` resizes it to the data's class count.
        width: channels of the first stage (doubled at each of the next three).
    """

    def __init__(self, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        layers: list[nn.Module] = [
            nn.LazyConv2d(width, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        in_channels = width
        for stage, out_channels in enumerate(widths):
            stride = 1 if stage == 0 else 2
            layers += [BasicBlock(in_channels, out_channels, stride), BasicBlock(out_channels, out_channels)]
            in_channels = out_channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        return self.fc(self.features(images))
