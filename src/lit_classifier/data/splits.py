"""A data module's splits: held in memory as image tensors, cut by seed, their labels and options
checked, and the order in which each process sees their samples.

**In memory** (digits, MNIST, Fashion-MNIST, the CIFARs, synthetic images): ``ImageTensors`` stores
a split's pixels as they came (uint8 in 0..255, or floats in [0, 1]); both data paths make batches
of them the same way: a gather of the batch's indices, then ``augment.BatchTransform``. A seeded cut
(``random_split_indices``, ``carve_validation``) gives the same split on every machine and process.

**Checks**, made before any work: an option out of range is one ``error:`` line naming the option,
its allowed range and the value (``check_fraction``, ``check_at_least``), not a traceback from a
loader minutes later; a label outside ``[0, num_classes)`` is named with its sample and file
(``check_labels``) when a split is loaded, where ``cross_entropy`` on a GPU would stop the process
with a device-side assert naming neither (one ``min``/``max`` per split costs nothing next to that).

**Which samples each process sees** when training runs on several processes (DDP). Lightning's
default puts a ``DistributedSampler`` on every loader, and that sampler *pads* a split that does not
divide by the number of processes with repeated samples, so validation and test would count some
images twice. Here the data module chooses instead:

- training: ``DistributedSampler`` seeded with the data module's seed. Each process trains on its
  own shard; the order changes every epoch (Lightning calls ``set_epoch``) and is the same again
  when a run restarts with the same seed. Padding is harmless there. A single process gets it
  too (one shard: the whole set), so that the order of epoch ``e`` is a function of the seed and
  ``e`` alone, and a run resumed after epoch ``e`` sees the epochs an uninterrupted run sees.
- a run resumed from a checkpoint written inside an epoch continues that epoch's order at the
  next batch: the data module saves where training stood (``training_position``), and the
  sampler of that epoch leaves out the samples already trained on (``TrainingOrder``).
- the sampler knows its epoch when it is made (``epoch_to_train``): a resumed fit iterates its
  loader before it calls ``set_epoch``, and loader workers fetch ahead at once, so a sampler left at
  epoch 0 would replay the first epoch's order.
- validation, test and predict: Lightning's ``UnrepeatedDistributedSampler``: every sample exactly
  once, so shards may differ by one sample and processes may run different numbers of batches
  (the epoch metrics are reduced once at epoch end, so nothing waits on a missing batch).

Lightning leaves a loader that already has a ``DistributedSampler`` alone. The device-resident path
(``augment.DeviceBatches``) takes its order from the same sampler.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence, Sized

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor
from torch.utils.data import Dataset, DistributedSampler

from lit_classifier.errors import ConfigError, DataError
from lit_classifier.framework import batches_begun, ended_epoch, epochs_processed, restarting


def random_split_indices(size: int, fractions: Sequence[float], seed: int) -> tuple[torch.Tensor, ...]:
    """Split ``range(size)`` into a remainder and one part per fraction, in a seeded random order.

    ``random_split_indices(100, (0.1, 0.2), seed=0)`` gives index tensors of 70, 10 and 20. These are
    the parts ``torch.utils.data.random_split`` gives for the same sizes and seed, which took 15 times
    as long here, making Python lists (``benchmarks/library_features.py``).
    """
    if any(not 0 <= f < 1 for f in fractions) or sum(fractions) >= 1:
        raise ValueError(
            f"split fractions must each be in [0, 1) and sum to less than 1, got {list(fractions)}"
        )
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    sizes = [round(size * f) for f in fractions]
    return tuple(torch.split(order, [size - sum(sizes), *sizes]))


class ImageTensors(Dataset):
    """One split: images (N, C, H, W), uint8 or floats in [0, 1]; labels (N,) int64; ``source`` says
    where they came from (a file), for error messages.

    The DataLoader asks ``__getitems__`` for a whole batch at once: one gather instead of a Python
    call and a stack per image.
    """

    def __init__(self, images: Tensor, labels: Tensor, source: str) -> None:
        if images.ndim != 4 or len(images) != len(labels):
            raise ValueError(
                f"expected images (N, C, H, W) and N labels, got {tuple(images.shape)} and {len(labels)}"
            )
        self.images = images
        self.labels = labels
        self.source = source

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images.index_select(0, index), self.labels.index_select(0, index)

    def subset(self, index: Tensor) -> ImageTensors:
        return ImageTensors(self.images[index], self.labels[index], self.source)


def carve_validation(train: ImageTensors, fraction: float, seed: int) -> tuple[ImageTensors, ImageTensors]:
    """Hold out ``fraction`` of the training split as validation, the same images for a given seed."""
    rest, held_out = random_split_indices(len(train.labels), (fraction,), seed=seed)
    return train.subset(rest), train.subset(held_out)


def check_labels(labels: Tensor, num_classes: int, where: str) -> None:
    """Raise ``DataError`` naming the first label outside ``[0, num_classes)`` and ``where`` it is."""
    if len(labels) == 0:
        return
    bad = (labels < 0) | (labels >= num_classes)
    if bool(bad.any()):
        position = int(bad.nonzero()[0, 0])
        raise DataError(
            f"label {int(labels[position])} of sample {position} in {where} is outside "
            f"[0, {num_classes}): the data set has {num_classes} classes"
        )


def check_fraction(name: str, value: float, *, zero_allowed: bool = False) -> None:
    """``value`` is a share of the images held out: in (0, 1), or [0, 1) where none may be held out."""
    inside = 0 <= value < 1 if zero_allowed else 0 < value < 1
    if not inside:
        interval = "[0, 1)" if zero_allowed else "(0, 1)"
        raise ConfigError(
            f"{name} must be in {interval}, the share of the images it holds out (0.1 is a tenth), "
            f"got {value}"
        )


def check_at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")


class TrainingOrder(DistributedSampler):
    """The training order of one process (a ``DistributedSampler`` shard), which a resumed run can
    enter part-way: in epoch ``skip[0]`` it leaves out the first ``skip[1]`` samples, those the
    checkpoint's run had already trained on. Its length stays the whole epoch's, so
    Lightning counts the epoch's batches as the uninterrupted run does.

    With ``labels`` (balanced sampling), an epoch draws as many samples as the split holds, with
    replacement, each class equally likely (a sample's chance is the inverse of its class's count);
    every process makes the same draw from the seed and the epoch and takes every
    ``num_replicas``-th sample of it, so the processes together train on the one draw."""

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int,
        rank: int,
        seed: int,
        skip: tuple[int, int] | None,
        labels: Tensor | None = None,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.skip = skip  # (epoch, samples)
        self.labels = labels

    def __iter__(self) -> Iterator[int]:
        order = super().__iter__() if self.labels is None else self._balanced()
        if self.skip is None or self.skip[0] != self.epoch:
            return order
        return itertools.islice(order, self.skip[1], None)

    def _balanced(self) -> Iterator[int]:
        assert self.labels is not None
        chance = 1 / torch.bincount(self.labels)[self.labels].double()
        drawn = torch.multinomial(chance, self.total_size, replacement=True, generator=self._generator())
        return iter(drawn[self.rank : self.total_size : self.num_replicas].tolist())

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + self.epoch)  # as DistributedSampler seeds its own


def training_position(trainer: L.Trainer | None) -> tuple[int, int] | None:
    """(epoch, batches trained in it) while ``fit`` is inside an epoch; ``None`` between epochs,
    where a resume starts the next epoch from its beginning anyway."""
    if trainer is None or trainer.state.fn != TrainerFn.FITTING:
        return None
    done = batches_begun(trainer)
    if done == 0 or ended_epoch(trainer):
        return None
    return trainer.current_epoch, done


def epoch_to_train(trainer: L.Trainer | None) -> int:
    """The epoch a fit trains next, as known when its training loader is made: the epochs the fit
    loop has finished (restored from a checkpoint on a resume), plus one when the checkpoint was
    written after an epoch's last batch, whose end has run. ``trainer.current_epoch`` still reads the
    checkpoint's epoch there."""
    if trainer is None:
        return 0
    epoch = epochs_processed(trainer)
    return epoch + 1 if restarting(trainer) and ended_epoch(trainer) else epoch


def process_grid(trainer: L.Trainer | None) -> tuple[int, int]:
    """(number of processes, this process's global rank) of ``trainer``; (1, 0) without one."""
    kwargs = trainer.distributed_sampler_kwargs if trainer is not None else None
    if not kwargs:
        return 1, 0
    return int(kwargs["num_replicas"]), int(kwargs["rank"])


def distributed_sampler(
    dataset: Dataset,
    num_replicas: int,
    rank: int,
    *,
    train: bool,
    seed: int,
    split: str,
    batch_size: int = 1,
    resume_at: tuple[int, int] | None = None,
    epoch: int = 0,
    balanced_labels: Tensor | None = None,
) -> DistributedSampler | None:
    """The sampler of process ``rank`` out of ``num_replicas``; ``None``: evaluate in order, one process.

    Args:
        dataset: the split to sample.
        num_replicas: number of processes, over all machines (``process_grid``).
        rank: this process's global rank.
        train: shuffle and pad (training), or keep order and count every sample once.
        seed: seed of the training order; epoch ``e`` shuffles with ``seed + e``.
        split: name of the split, for the error message.
        batch_size: images per step of each process; training refuses a shard without one full batch.
        resume_at: (epoch, batches of it already trained), from a checkpoint written inside that
            epoch (``training_position``): the training order goes on at the next batch.
        epoch: the epoch the training order starts at (``epoch_to_train``); Lightning moves it on.
        balanced_labels: the training split's labels, for balanced sampling (``TrainingOrder``).
    """
    if train:
        skip = None if resume_at is None else (resume_at[0], resume_at[1] * batch_size)
        sampler: DistributedSampler = TrainingOrder(dataset, num_replicas, rank, seed, skip, balanced_labels)
        sampler.set_epoch(epoch)
        if len(sampler) < batch_size:  # training keeps full batches only: there would be no step at all
            each = f"each of the {num_replicas} processes gets" if num_replicas > 1 else "there are"
            raise ConfigError(
                f"batch_size={batch_size} is larger than the {len(sampler)} training images {each} "
                f"(batch_size is per process), so training would have no full batch: set batch_size "
                f"to {len(sampler)} or less"
            )
        return sampler
    if num_replicas < 2:
        return None
    check_evaluation_size(len(dataset) if isinstance(dataset, Sized) else 0, num_replicas, split)
    return UnrepeatedDistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)


def check_evaluation_size(size: int, num_replicas: int, split: str) -> None:
    """Refuse an evaluation split of ``size`` samples that cannot give each of ``num_replicas``
    processes one: a process with no batch would skip the first forward pass, where DDP syncs
    buffers, and Lightning refuses a loader without batches on any process."""
    if size < num_replicas:
        raise ConfigError(
            f"the {split} split has {size} samples for {num_replicas} processes: each process needs at "
            "least one; run on fewer processes (--trainer.devices, --trainer.num_nodes) or a larger split"
        )
