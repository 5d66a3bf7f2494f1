"""The PyTorch CIFAR-10 tutorial's ``Net``: two convolutions and three linear layers."""

from __future__ import annotations

from torch import Tensor, nn


class TutorialCNN(nn.Module):
    """The classic tutorial network for 32x32 colour images (about 62k parameters).

    The layers are the tutorial's (conv 5x5 to 6 channels, pool, conv 5x5 to 16, pool, linear
    400-120-84-classes). Two changes let it take what the data gives: the first convolution is
    lazy, so it takes any channel count, and an adaptive pooling to 5x5 before the linear layers
    keeps them at the tutorial's sizes for images other than 32x32 (from 16x16 up).

    Args:
        num_classes: size of the output; ``ClassifierModule`` resizes it to the data's class count.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.LazyConv2d(6, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(5),  # the identity on 32x32 images, as in the tutorial
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.features(images))
