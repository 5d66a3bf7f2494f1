"""Data modules: each knows its classes and image shape and supplies the loaders."""

from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.digits import DigitsDataModule

__all__ = ["ClassificationDataModule", "DigitsDataModule"]
