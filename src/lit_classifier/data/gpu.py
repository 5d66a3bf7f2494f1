"""Device-resident batches: a whole split held on the Trainer's device, batched and augmented there.

For sets that fit in device memory (digits, MNIST, CIFAR: 150 MB as uint8 for CIFAR-10's 50,000
training images) the DataLoader path copies every batch from the host to the device, which a small
network on a fast accelerator waits for (the design notes' launch-bound regime). Here the split is
copied to the device once as uint8, and every batch is one gather and one ``BatchTransform`` (crop,
flip and standardisation: the same functions the DataLoader path runs in its ``collate_fn``).

``DeviceBatches`` is a plain iterable of ``(images, labels)``: Lightning accepts it as a loader,
leaves it unwrapped (it only injects distributed samplers into ``DataLoader``s) and calls
``sampler.set_epoch(epoch)`` on it at each epoch start. The sampler is the DataLoader path's own
(``splits.distributed_sampler``), so both paths visit the same samples in the same order: a
function of the seed and the epoch, the same again after a restart, each process its own shard.

Works on any device, the CPU included (the tests run there).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DistributedSampler

from lit_classifier.data.augment import BatchTransform
from lit_classifier.data.splits import ImageTensors


class DeviceBatches:
    """Batches of one split, gathered, augmented and standardised on ``device``.

    Args:
        split: the split's images and labels.
        batch_size: images per batch.
        transform: what each batch goes through (augmentation when training, standardisation).
        sampler: the order of one epoch, as the DataLoader path's sampler gives it; ``None``: every
            sample in order.
        drop_last: drop the last partial batch (training).
        device: where the split lives and the batches are made (the Trainer's root device).
        seed: seed of the augmentation's random choices, mixed with the epoch and the rank.
    """

    def __init__(
        self,
        split: ImageTensors,
        batch_size: int,
        transform: BatchTransform,
        sampler: DistributedSampler | None = None,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        self.device = torch.device(device)
        self.images = split.images.to(self.device)
        self.labels = split.labels.to(self.device, torch.long)
        self.batch_size = batch_size
        self.transform = transform.to(self.device)
        self.drop_last = drop_last
        self.seed = seed
        # `sampler` and `batch_sampler` as a DataLoader names them: Lightning reads both, and calls
        # `sampler.set_epoch` at every epoch start.
        self.sampler = sampler
        self.batch_sampler = None

    def __len__(self) -> int:
        return self._batches(len(self.sampler) if self.sampler is not None else len(self.labels))

    def _batches(self, samples: int) -> int:
        return samples // self.batch_size if self.drop_last else -(-samples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.as_tensor(list(self.sampler) if self.sampler is not None else range(len(self.labels)))
        order = order.to(self.device)
        epoch, rank = 0, 0
        if self.sampler is not None:
            epoch, rank = self.sampler.epoch, self.sampler.rank
            # Without a `set_epoch` call (a hand-written loop) the next pass is the next epoch.
            self.sampler.set_epoch(epoch + 1)
        generator = torch.Generator(self.device).manual_seed(_mix(self.seed, epoch, rank))
        # The order may be shorter than the epoch (a run resumed inside it): as many batches as it holds.
        for batch in range(self._batches(len(order))):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            images = self.images.index_select(0, index)  # not `images[index]`: slower on the CPU
            yield self.transform(images, generator), self.labels.index_select(0, index)


def _mix(*numbers: int) -> int:
    """One 63-bit seed from several integers (seed, epoch, rank), distinct for distinct tuples."""
    value = 0
    for number in numbers:
        value = (value * 1_000_003 + number) % (2**63)
    return value
