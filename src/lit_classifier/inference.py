"""Classify new images with a trained module, from Python: files or a folder in, named classes out.

    from lit_classifier import ClassifierModule, predict_images

    module = ClassifierModule.load_from_checkpoint("runs/lightning_logs/version_0/checkpoints/last.ckpt")
    for prediction in predict_images(module, "new_photos/"):
        print(prediction.path, prediction.class_name, f"{prediction.probability:.3f}")

Each image is prepared as the data module the module was trained with prepares its evaluation
images (size, channels, mean and std): the checkpoint records that data module, which is rebuilt
from the record (``lit_classifier.checkpoints.trust`` checks it first); its training files need not be there.
The command line does the same with ``lit-classifier predict --ckpt_path CKPT --data.predict_root DIR``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from lit_classifier.checkpoints.trust import build
from lit_classifier.data.augment import CollateBatch, check_tta
from lit_classifier.data.decode import EvaluationTransform, PredictImages
from lit_classifier.errors import InputError
from lit_classifier.module import ClassifierModule


@dataclass(frozen=True)
class Prediction:
    """One image's class: the most likely ``class_name`` with its ``probability``, and the ``top_k``
    most likely classes as (name, probability) pairs, best first."""

    path: Path
    class_name: str
    probability: float
    top_k: list[tuple[str, float]]


def predict_images(
    module: ClassifierModule,
    images: str | Path | Sequence[str | Path],
    top_k: int = 3,
    batch_size: int = 32,
    trusted_modules: Sequence[str] = (),
) -> list[Prediction]:
    """The predictions of ``module`` for an image file, a list of them, or a folder (searched at any
    depth), sorted by path; unreadable files are skipped with a warning naming them."""
    transform = evaluation_transform(module, trusted_modules)
    dataset = PredictImages(images, transform.decode, max_pixels=transform.max_pixels)
    batches = DataLoader(dataset, batch_size=batch_size, collate_fn=CollateBatch(transform.standardize))
    was_training, found = module.training, list[list[tuple[str, float]]]()
    module.eval()
    try:
        for batch, _ in batches:
            found += ranked(module, batch, top_k)
    finally:
        module.train(was_training)
    return [
        Prediction(Path(path), top[0][0], top[0][1], top)
        for (path, _), top in zip(dataset.samples, found, strict=True)
    ]


def evaluation_transform(
    module: ClassifierModule, trusted_modules: Sequence[str] = ()
) -> EvaluationTransform:
    """What turns a new image into the module's input: the evaluation transform of the data module
    recorded in the module (rebuilt only if ``lit_classifier.checkpoints.trust`` allows it), whose
    training augmentation must allow the module's ``tta``."""
    spec = module.record.data_spec("the module's record", trusted_modules)
    if spec is None:
        raise InputError(
            "the module does not record the data module it was trained with, so it cannot prepare new "
            "images the same way: train it with a data module (lit_classifier.data), or prepare the "
            "images yourself and call the module on them"
        )
    data = build(spec)
    check_tta(module.tta, getattr(data, "augment", None), spec["class_path"])
    return data.evaluation_transform()


@torch.no_grad()
def ranked(module: ClassifierModule, batch: Tensor, top_k: int) -> list[list[tuple[str, float]]]:
    """For each image of ``batch`` (prepared by ``evaluation_transform``), its ``top_k`` most likely
    classes as (name, probability) pairs, best first; the module should be in evaluation mode."""
    names, k = module.class_names, min(top_k, len(module.class_names))
    probabilities, classes = module.evaluation_logits(batch.to(module.device)).softmax(dim=1).topk(k, dim=1)
    return [
        [(names[i], q) for i, q in zip(c, p, strict=True)]
        for p, c in zip(probabilities.tolist(), classes.tolist(), strict=True)
    ]
