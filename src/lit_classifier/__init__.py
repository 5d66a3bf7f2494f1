"""lit-classifier: train any image classifier with PyTorch Lightning.

>>> from lit_classifier import ClassifierModule, DigitsDataModule, train_model
"""

from lit_classifier.data import ClassificationDataModule, DigitsDataModule
from lit_classifier.module import ClassifierModule
from lit_classifier.recipe import TrainingResult, train_model

__all__ = [
    "ClassificationDataModule",
    "ClassifierModule",
    "DigitsDataModule",
    "TrainingResult",
    "train_model",
]
