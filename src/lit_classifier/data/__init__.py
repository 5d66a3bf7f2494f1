"""Data modules: each knows its classes and image shape and supplies the loaders."""

from lit_classifier.data.augment import Augmentation
from lit_classifier.data.base import ClassificationDataModule, EncodedImagesDataModule
from lit_classifier.data.chunks import DataInfo, optimize_data
from lit_classifier.data.decode import EvaluationTransform, PredictImages
from lit_classifier.data.digits import DigitsDataModule
from lit_classifier.data.folder import ImageFolderDataModule
from lit_classifier.data.huggingface import HuggingFaceDataModule
from lit_classifier.data.standard import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    StandardDataModule,
)
from lit_classifier.data.streaming import StreamingDataModule
from lit_classifier.data.synthetic import SyntheticDataModule

__all__ = [
    "Augmentation",
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "ClassificationDataModule",
    "DataInfo",
    "DigitsDataModule",
    "EncodedImagesDataModule",
    "EvaluationTransform",
    "FashionMNISTDataModule",
    "HuggingFaceDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "PredictImages",
    "StandardDataModule",
    "StreamingDataModule",
    "SyntheticDataModule",
    "optimize_data",
]
