"""What the data modules of encoded images share: image folders, streaming chunks, Hugging Face sets.

Their samples are the bytes of image files (JPEG, PNG, ...), decoded one by one in the loader's
workers (``decode``) and brought to the network's size: a random resized crop for training (with
``augment``), the shorter side resized and the centre cropped for evaluation and for new images.
Every batch is then flipped (training) and standardised by ``augment.BatchTransform``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lit_classifier.data.augment import FILE_AUGMENTATION, Augmentation
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.decode import Decoder, EvaluationImage, RandomResizedCropDecode
from lit_classifier.errors import ConfigError

# ImageNet statistics: what torchvision's and timm's pretrained networks were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EncodedImagesDataModule(ClassificationDataModule):
    """Base of the data modules whose samples are encoded images, decoded as they load.

    Args:
        image_size: side of the square the network sees.
        resize: evaluation images are resized so their shorter side is this, then centre-cropped to
            ``image_size``; ``None``: ``image_size / 0.875`` (224 from 256, the ImageNet convention).
        augment: what training images go through (``augment.Augmentation``): by default a random
            part of 35% to 100% of the area, resized, and a horizontal flip (``FILE_AUGMENTATION``);
            with neither, training images are prepared as evaluation images.
        mean: per-channel mean for normalisation (default: ImageNet's, for pretrained networks).
        std: per-channel standard deviation for normalisation (default: ImageNet's).
        batch_size: see ``ClassificationDataModule``; 32 here, for images of 224 pixels.
        **kwargs: the other options of ``ClassificationDataModule`` (``seed``, ``num_workers``, ...).
    """

    reads_files: ClassVar[bool] = True

    def __init__(
        self,
        *,
        image_size: int = 224,
        resize: int | None = None,
        augment: Augmentation = FILE_AUGMENTATION,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_size=batch_size, augment=augment, **kwargs)
        if image_size < 1 or (resize is not None and resize < image_size):
            raise ConfigError(f"need 1 <= image_size <= resize, got image_size={image_size}, resize={resize}")
        self.image_size = image_size
        self.resize = resize if resize is not None else round(image_size / 0.875)
        self.mean = tuple(mean)
        self.std = tuple(std)
        self._class_names: list[str] = []  # filled when the splits are read

    @property
    def class_names(self) -> list[str]:
        """The names read with the splits, at ``setup``."""
        if self._class_names:
            return self._class_names
        raise RuntimeError(f"{type(self).__name__} reads its class names in setup(): call it first")

    @property
    def channels(self) -> int:
        """Channels of the images: 3 (RGB) unless the data says otherwise."""
        return 3

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def decoder(self, train: bool) -> Decoder:
        """How the samples of a ``train`` or evaluation split are decoded and brought to size."""
        if train and self.augment.crop_scale is not None:
            scale, limit = self.augment.crop_scale, self.max_image_pixels
            return RandomResizedCropDecode(self.image_size, scale, mode=self.image_mode, max_pixels=limit)
        return self.evaluation_decoder()

    def evaluation_decoder(self) -> Decoder:
        size = (self.image_size, self.image_size)
        return EvaluationImage(self.resize, size, self.image_mode, self.channels, self.max_image_pixels)
