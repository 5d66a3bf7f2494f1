"""Reference networks, each selectable by ``class_path`` (e.g. ``lit_classifier.models.SmallCNN``)."""

from lit_classifier.models.fast_cifar import FastCifarNet
from lit_classifier.models.pretrained import TimmModel, TorchvisionModel
from lit_classifier.models.resnet import CifarResNet18
from lit_classifier.models.small_cnn import SmallCNN
from lit_classifier.models.tutorial_cnn import TutorialCNN

__all__ = ["CifarResNet18", "FastCifarNet", "SmallCNN", "TimmModel", "TorchvisionModel", "TutorialCNN"]
