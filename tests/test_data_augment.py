"""Crop and flip per image, in batches: the one augmentation both data paths run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from data_files import write_cifar10, write_mnist
from helpers import cli
from lit_classifier import CIFAR10DataModule, MNISTDataModule
from lit_classifier.checkpoints.record import Record
from lit_classifier.data.augment import Augmentation, BatchTransform, CollateBatch, random_crop, random_flip


def test_crop_and_flip_are_chosen_per_image() -> None:
    same = torch.arange(36, dtype=torch.uint8).view(1, 1, 6, 6).expand(64, 1, 6, 6).contiguous()
    generator = torch.Generator().manual_seed(0)

    cropped = random_crop(same, padding=2, generator=generator)
    flipped = random_flip(same, generator=generator)

    assert cropped.shape == same.shape and cropped.dtype == torch.uint8
    assert len(torch.unique(cropped, dim=0)) > 10  # many offsets in one batch, not one per batch
    mirrored = (flipped == same.flip(3)).flatten(1).all(1)
    assert 10 < int(mirrored.sum()) < 54
    assert torch.equal(flipped[~mirrored], same[~mirrored])


@pytest.mark.parametrize("flip", [True, False], ids=["training", "evaluation"])
def test_decoded_samples_collate_to_the_stacked_batch_through_the_transform(flip: bool) -> None:
    # Decoded images are uint8 views of channels-last memory (decode.as_tensor), one per sample.
    samples = [
        (torch.randint(0, 256, (9, 7, 3), dtype=torch.uint8).permute(2, 0, 1), n % 4) for n in range(16)
    ]
    transform = BatchTransform([0.4, 0.5, 0.6], [0.2, 0.25, 0.3], Augmentation(flip=flip))

    torch.manual_seed(3)
    images, labels = CollateBatch(transform)(samples)
    torch.manual_seed(3)  # the same draw of which images to mirror
    expected = transform(torch.stack([image for image, _ in samples]))

    assert torch.allclose(images, expected, atol=1e-6) and images.dtype == torch.float32
    assert labels.tolist() == [n % 4 for n in range(16)]
    unflipped = BatchTransform([0.4, 0.5, 0.6], [0.2, 0.25, 0.3])(
        torch.stack([image for image, _ in samples])
    )
    mirrored = [not torch.equal(image, same) for image, same in zip(images, unflipped, strict=True)]
    assert (0 < sum(mirrored) < 16) if flip else not any(mirrored)


def test_crop_is_a_window_of_the_zero_padded_image() -> None:
    image = torch.randint(1, 255, (1, 3, 5, 7), dtype=torch.uint8)
    padded = torch.nn.functional.pad(image, (2, 2, 2, 2))
    windows = {
        padded[0, :, top : top + 5, left : left + 7].numpy().tobytes()
        for top in range(5)
        for left in range(5)
    }

    crops = random_crop(image.expand(32, -1, -1, -1), padding=2, generator=torch.Generator().manual_seed(1))

    assert all(crop.numpy().tobytes() in windows for crop in crops)


def test_the_dataloader_path_augments_training_batches_and_leaves_evaluation_alone(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    augment = Augmentation(flip=True, crop_padding=4)
    data = CIFAR10DataModule(data_dir=str(tmp_path), batch_size=40, num_workers=0, augment=augment)
    data.setup("fit")
    train, val = data.train_dataloader(), data.val_dataloader()

    # The same epoch twice: the same order, but each pass draws new crops and flips.
    first, again = (next(iter(train)) for _ in range(2))
    val_first, val_again = (next(iter(val)) for _ in range(2))

    assert torch.equal(first[1], again[1]) and not torch.equal(first[0], again[0])
    assert torch.equal(val_first[0], val_again[0])
    assert val_first[0].shape[1:] == (3, 32, 32) and val_first[0].dtype == torch.float32
    assert val_first[0].abs().max() < 5  # standardised


def test_without_augmentation_training_batches_repeat_for_the_same_epoch(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    data = MNISTDataModule(data_dir=str(tmp_path), batch_size=16)
    data.setup("fit")

    first, again = (next(iter(data.train_dataloader())) for _ in range(2))

    assert torch.equal(first[0], again[0])


@pytest.mark.parametrize(
    ("data", "flips"),
    [("MNISTDataModule", False), ("FashionMNISTDataModule", False), ("CIFAR10DataModule", True),
     ("CIFAR100DataModule", True), ("DigitsDataModule", False)],
)  # fmt: skip
def test_flip_is_on_by_default_only_where_every_class_survives_a_mirror_and_the_help_says_so(
    data: str, flips: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli("fit", f"--data.help={data}")

    text = " ".join(capsys.readouterr().out.split())
    group = text.split("--data.augment.flip {true,false} ")[0].rsplit("skipped with a warning.", 1)[1]
    flip = text.split("--data.augment.flip {true,false} ")[1].split(" --data.")[0]
    assert flip.endswith(f"(type: bool, default: {flips})")
    assert "never for digits or text" in flip
    assert ("every class survives a mirror" in group) == flips  # the CIFARs: a mirrored ship is a ship


@pytest.mark.parametrize(
    ("recorded", "augment"),
    [
        ({"flip": True, "crop_padding": 4}, {"flip": True, "crop_padding": 4}),
        (
            {"augment": True, "flip": False, "crop_padding": 0},
            {"flip": True, "crop_padding": 0, "crop_scale": (0.35, 1.0)},
        ),
        ({"augment": {"flip": False}}, {"flip": False}),
    ],
    ids=["tensor set", "image folder", "current"],
)
def test_a_checkpoint_recorded_before_augment_was_one_option_is_read_as_one(
    recorded: dict, augment: dict
) -> None:
    data = {"class_path": "lit_classifier.CIFAR10DataModule", "init_args": {"batch_size": 8, **recorded}}

    record = Record.read({"hyper_parameters": {"data": data}})

    assert record.data is not None
    assert record.data["init_args"] == {"batch_size": 8, "augment": augment}
    Augmentation.of(record.data["init_args"]["augment"])  # the class takes it
