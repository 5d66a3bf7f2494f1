"""Reference networks, each selectable by ``class_path`` (e.g. ``lit_classifier.models.SmallCNN``)."""

from lit_classifier.models.small_cnn import SmallCNN

__all__ = ["SmallCNN"]
