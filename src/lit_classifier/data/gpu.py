"""Device-resident batches: a whole split held on the Trainer's device, batched and augmented there.

For sets that fit in device memory (digits, MNIST, CIFAR: 150 MB as uint8 for CIFAR-10's 50,000
training images) the per-sample DataLoader path does Python work per image (one call, one crop,
one flip, in a worker) and a host-to-device copy per batch, which a small network on a fast
accelerator waits for (the design notes' launch-bound regime). Here the
split is copied to the device once as uint8 and every batch is one gather, one batched crop, one
batched flip and one normalisation, each a handful of tensor ops. The random choices are drawn per
image (cifar10-airbench does the same), so a batch is as varied as the DataLoader path's.

``DeviceBatches`` is a plain iterable of ``(images, labels)``: Lightning accepts it as a loader,
leaves it unwrapped (it only injects distributed samplers into ``DataLoader``s) and calls
``sampler.set_epoch(epoch)`` on it at each epoch start, so the order is a function of the seed and
the epoch: the same again after a restart, and the same order as the DataLoader path. Several
processes each iterate over their own shard (``rank``, ``world_size``) of one shared permutation.

Works on any device, the CPU included (the tests run there).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


class EpochOrder:
    """Which samples process ``rank`` of ``world_size`` visits in one epoch, and in which order.

    Training draws the order exactly as the DataLoader path's ``DistributedSampler`` does (a
    permutation seeded with ``seed + epoch``, padded by repeating its start to a multiple of
    ``world_size``, every ``world_size``-th sample from ``rank``), so both paths visit the same
    samples in the same order and every process runs the same number of steps. Evaluation keeps
    the order and every sample exactly once.
    """

    def __init__(self, size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this at the start of each epoch (as for a ``DistributedSampler``)."""
        self.epoch = epoch

    def indices(self) -> Tensor:
        """This process's sample indices for the current epoch, as a CPU int64 tensor."""
        if not self.shuffle:
            return torch.arange(self.size)[self.rank :: self.world_size]
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        total = len(self) * self.world_size
        order = order.repeat(-(-total // self.size))[:total]
        return order[self.rank :: self.world_size]

    def __len__(self) -> int:
        if self.shuffle:
            return -(-self.size // self.world_size)
        return len(range(self.rank, self.size, self.world_size))


class DeviceBatches:
    """Batches of one split, gathered, augmented and normalised on ``device``.

    Args:
        images: the whole split, (N, C, H, W); uint8 in 0..255, or floats already in [0, 1].
        labels: (N,) int64 class indices.
        batch_size: images per batch.
        mean: per-channel mean of the [0, 1]-scaled pixels, subtracted after augmentation.
        std: per-channel standard deviation, divided by after subtracting ``mean``.
        device: where the split lives and the batches are made (the Trainer's root device).
        train: shuffle each epoch, augment, and drop the last partial batch; otherwise keep order
            and every sample.
        crop_padding: pad each image by this many zero pixels per side and crop it back at a random
            offset (0: no crop). Only when ``train``.
        flip: mirror each image left-right with probability 1/2. Only when ``train``.
        seed: seed of the order (epoch ``e`` shuffles with ``seed + e``, as ``DistributedSampler``)
            and of the augmentation.
        rank: this process's index among ``world_size`` processes; each iterates over its shard.
        world_size: number of processes sharing the split.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str = "cpu",
        train: bool = False,
        crop_padding: int = 0,
        flip: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if images.ndim != 4 or len(images) != len(labels):
            raise ValueError(
                f"expected images (N, C, H, W) and N labels, got {tuple(images.shape)} and {len(labels)}"
            )
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device, torch.long)
        self.batch_size = batch_size
        self.train = train
        self.crop_padding = crop_padding if train else 0
        self.flip = flip and train
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        # `sampler` and `batch_sampler` as a DataLoader names them: Lightning reads both, and calls
        # `sampler.set_epoch` at every epoch start.
        self.sampler = EpochOrder(len(labels), shuffle=train, seed=seed, rank=rank, world_size=world_size)
        self.batch_sampler = None

    def __len__(self) -> int:
        count = len(self.sampler)
        return count // self.batch_size if self.train else -(-count // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self.sampler.indices().to(self.device)
        generator = torch.Generator(self.device).manual_seed(
            _mix(self.sampler.seed, self.sampler.epoch, self.sampler.rank)
        )
        # Without a `set_epoch` call (a hand-written loop) the next pass is the next epoch.
        self.sampler.epoch += 1
        for batch in range(len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            images = self.images.index_select(0, index)  # not `images[index]`: slower on the CPU
            if self.crop_padding:
                images = random_crop(images, self.crop_padding, generator)
            if self.flip:
                images = random_flip(images, generator)
            yield normalize(images, self.mean, self.std), self.labels.index_select(0, index)


def random_crop(images: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad each image by ``padding`` per side and crop it back to its size at a random offset,
    one offset per image (as torchvision's ``RandomCrop(size, padding)``, for a whole batch)."""
    n, channels, height, width = images.shape
    padded_width = width + 2 * padding
    padded = F.pad(images, (padding, padding, padding, padding)).flatten(2)  # (N, C, pixels)
    top = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=images.device, generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=images.device, generator=generator)
    rows = top + torch.arange(height, device=images.device).view(1, height, 1)
    cols = left + torch.arange(width, device=images.device).view(1, 1, width)
    # One gather of each image's window from its flattened pixels: 6x faster on the CPU than
    # indexing rows and columns separately, and one kernel on a GPU.
    pixels = (rows * padded_width + cols).view(n, 1, height * width).expand(n, channels, -1)
    return padded.gather(2, pixels).view(n, channels, height, width)


def random_flip(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability 1/2, one choice per image."""
    chosen = torch.rand(len(images), device=images.device, generator=generator) < 0.5
    return torch.where(chosen.view(-1, 1, 1, 1), images.flip(3), images)


def normalize(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Float images: uint8 scaled to [0, 1] (floats taken as already scaled), then standardised."""
    scaled = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    return (scaled - mean) / std


def _mix(*numbers: int) -> int:
    """One 63-bit seed from several integers (seed, epoch, rank), distinct for distinct tuples."""
    value = 0
    for number in numbers:
        value = (value * 1_000_003 + number) % (2**63)
    return value
