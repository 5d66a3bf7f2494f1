"""lit-classifier: train any image classifier with PyTorch Lightning.

>>> from lit_classifier import ClassifierModule, DigitsDataModule, train_model
"""

from lit_classifier.data import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    ClassificationDataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    HuggingFaceDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    StreamingDataModule,
)
from lit_classifier.inference import Prediction, predict_images
from lit_classifier.module import ClassifierModule
from lit_classifier.recipe import TrainingResult, train_model

__all__ = [
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "ClassificationDataModule",
    "ClassifierModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "HuggingFaceDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "Prediction",
    "StreamingDataModule",
    "TrainingResult",
    "predict_images",
    "train_model",
]
