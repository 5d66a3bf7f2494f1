"""The device-resident path: whole splits on the Trainer's device, batched and augmented there (CPU here)."""

from __future__ import annotations

import torch
from torch.utils.data import DistributedSampler

from helpers import cli, last_value, read_metrics, run_dir
from lit_classifier import DigitsDataModule
from lit_classifier.data.augment import Augmentation, BatchTransform, DeviceBatches
from lit_classifier.data.splits import ImageTensors

MEAN, STD = (0.5,), (0.25,)


def numbered_images(count: int, size: int = 6) -> ImageTensors:
    """uint8 images whose every pixel holds the image's own number: a batch says which it came from."""
    images = torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 1, size, size)
    return ImageTensors(images.clone(), torch.arange(count), "numbered")


def seen_numbers(images: torch.Tensor) -> list[int]:
    """Undo the normalisation and read back each image's number (its centre pixel)."""
    centre = images[:, 0, images.shape[2] // 2, images.shape[3] // 2]
    return (centre * STD[0] + MEAN[0]).mul(255).round().long().tolist()


def training_batches(count: int = 40, seed: int = 0, rank: int = 0, world_size: int = 1) -> DeviceBatches:
    """Training batches ordered as the DataLoader path orders them: a seeded ``DistributedSampler``."""
    split = numbered_images(count)
    sampler = DistributedSampler(split, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    return DeviceBatches(split, 8, BatchTransform(MEAN, STD), sampler=sampler, drop_last=True, seed=seed)


def epoch_labels(batches: DeviceBatches) -> list[int]:
    return [label for _, labels in batches for label in labels.tolist()]


def test_training_sees_every_sample_exactly_once_per_epoch_in_full_batches() -> None:
    batches = training_batches(count=40)

    sizes = [len(labels) for _, labels in batches]
    labels = epoch_labels(batches)

    assert sizes == [8] * 5 and len(batches) == 5
    assert sorted(labels) == list(range(40))


def test_images_travel_with_their_labels_and_are_normalised() -> None:
    images, labels = next(iter(training_batches()))

    assert images.shape == (8, 1, 6, 6) and images.dtype == torch.float32
    assert labels.dtype == torch.int64
    assert seen_numbers(images) == labels.tolist()
    assert images.min() >= (0 - MEAN[0]) / STD[0] and images.max() <= (1 - MEAN[0]) / STD[0]


def test_evaluation_keeps_order_and_the_last_partial_batch() -> None:
    batches = DeviceBatches(numbered_images(19), 8, BatchTransform(MEAN, STD))

    assert [len(labels) for _, labels in batches] == [8, 8, 3]
    assert epoch_labels(batches) == list(range(19))


def test_order_changes_every_epoch_and_repeats_for_the_same_seed() -> None:
    first, again, other_seed = training_batches(seed=0), training_batches(seed=0), training_batches(seed=1)

    epochs = [epoch_labels(first), epoch_labels(first)]
    assert epochs[0] != epochs[1]
    assert [epoch_labels(again), epoch_labels(again)] == epochs
    assert epoch_labels(other_seed) != epochs[0]


def test_set_epoch_replays_an_epoch_as_after_a_restart() -> None:
    batches = training_batches()
    orders = [epoch_labels(batches) for _ in range(3)]

    restarted = training_batches()
    assert restarted.sampler is not None
    restarted.sampler.set_epoch(2)  # what Lightning does when a run resumes at epoch 2

    assert epoch_labels(restarted) == orders[2]


def test_processes_get_equal_shards_of_one_permutation_covering_every_sample() -> None:
    shards = [epoch_labels(training_batches(count=64, seed=3, rank=rank, world_size=4)) for rank in range(4)]

    assert [len(shard) for shard in shards] == [16] * 4
    assert sorted(label for shard in shards for label in shard) == list(range(64))


def test_without_augmentation_resident_batches_equal_the_dataloader_batches() -> None:
    data, resident = DigitsDataModule(seed=5), DigitsDataModule(seed=5, gpu_resident=True)
    data.setup("fit")
    resident.setup("fit")
    loader, batches = data.train_dataloader(), resident.train_dataloader()

    assert isinstance(batches, DeviceBatches)
    for epoch in (0, 3):
        loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        batches.sampler.set_epoch(epoch)  # type: ignore[union-attr]
        pairs = list(zip(loader, batches, strict=True))
        assert all(torch.equal(a[1], b[1]) for a, b in pairs)
        assert all(torch.equal(a[0], b[0]) for a, b in pairs)


def test_resident_batches_are_augmented_when_asked() -> None:
    plain, augmented = (
        DigitsDataModule(gpu_resident=True, augment=augment)
        for augment in (Augmentation(), Augmentation(flip=True, crop_padding=2))
    )
    plain.setup("fit")
    augmented.setup("fit")

    (plain_images, plain_labels), (augmented_images, augmented_labels) = (
        next(iter(data.train_dataloader())) for data in (plain, augmented)
    )

    assert torch.equal(plain_labels, augmented_labels)  # the same order: only the augmentation differs
    assert not torch.equal(plain_images, augmented_images)


def test_digits_reach_the_same_accuracy_as_the_ordinary_loader() -> None:
    settings = ["--trainer.max_epochs=2", "--plots.enabled=false"]
    ordinary = cli("fit", *settings)
    resident = cli("fit", *settings, "--data.gpu_resident=true")

    accuracies = [last_value(read_metrics(run_dir(run)), "val_acc") for run in (ordinary, resident)]
    assert type(resident.trainer.train_dataloader).__name__ == "DeviceBatches"
    assert min(accuracies) > 0.9
    assert abs(accuracies[0] - accuracies[1]) < 0.03  # 270 validation images: 0.03 is about 8 of them
