"""Data that is not on the training machine: litdata's chunks, streamed from a folder or an object store.

Convert once (``lit-classifier-optimize``, see ``lit_classifier.command.optimize``), then train on any
number of machines, each streaming only the chunks its processes read::

    lit-classifier-optimize --data lit_classifier.ImageFolderDataModule --data.root photos \\
        --output_dir s3://my-bucket/photos
    lit-classifier fit --data lit_classifier.StreamingDataModule --data.input_dir s3://my-bucket/photos \\
        --config configs/trainer/ddp.yaml --config configs/trainer/multinode.yaml

Class names, the image shape and the statistics come from the data (``chunks.DataInfo``). Samples
are decoded and augmented as image folders do (``base.EncodedImagesDataModule``). litdata (the
``stream`` extra) is imported only when a module is used, never by importing the package.

What litdata's ``StreamingDataset`` and ``StreamingDataLoader`` guarantee, and this module relies on:

- every process of every node reads its own share of the chunks, found from the process group
  (which Lightning has started before ``setup``); with DataLoader workers, each worker its share
  of that. Shares are disjoint. Training takes the same number of full batches on every process
  (so no process waits on a collective another never reaches), which leaves out fewer than
  processes x ``batch_size`` samples per epoch: those at the end of the shuffled order of the
  chunks, so other ones each epoch when the split has several chunks, and the same ones when it
  is a single chunk; evaluation reads every sample exactly once, in whole batches, the last
  process taking what is left over, so processes may run different numbers of batches (see
  ``splits``). A split too small to give every process a batch is read in smaller batches
  (``evaluation_batch_size``);
- training order: chunks and the samples within them shuffled by (``seed``, epoch), the same on
  every machine and again on a restart;
- the training loader's state (epoch, samples yielded) is saved in every checkpoint by Lightning,
  and a run resumed from a mid-epoch checkpoint continues at the next sample of that epoch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from torch import Tensor
from torch.utils.data import Dataset

from lit_classifier.data.augment import FILE_AUGMENTATION, Augmentation, CollateBatch
from lit_classifier.data.base import EncodedImagesDataModule
from lit_classifier.data.chunks import check_chunks, read_info, split_dir
from lit_classifier.data.decode import Decoder
from lit_classifier.data.splits import check_evaluation_size, check_labels, process_grid
from lit_classifier.errors import ConfigError, DataError

if TYPE_CHECKING:
    from litdata import StreamingDataLoader, StreamingDataset


class DecodeSample:
    """``StreamingDataset``'s transform: a stored sample to (uint8 pixels at the network's size, label)."""

    def __init__(self, decoder: Decoder, where: str) -> None:
        self.decoder = decoder
        self.where = where

    def __call__(self, sample: dict[str, Any]) -> tuple[Tensor, int]:
        return self.decoder(sample["image"], f"a sample of {self.where}"), int(sample["label"])


class StreamingDataModule(EncodedImagesDataModule):
    """Chunks written by ``lit-classifier-optimize``, streamed with litdata (the ``stream`` extra).

    Args:
        input_dir: where the chunks are: a local folder, or an object-store URL (``s3://bucket/path``,
            ``gs://...``, anything litdata reads); it holds ``train``, ``val``, ``info`` and
            optionally ``test`` (otherwise test is val).
        cache_dir: where this machine keeps the chunks it streams from an object store (``None``:
            litdata's default); local folders are read in place.
        image_size: side of the square the network sees; ``None``: the side of the stored shape.
        resize: evaluation images are resized so their shorter side is this, then centre-cropped to
            ``image_size``; ``None``: ``image_size / 0.875``.
        augment: what training images go through: a random part of 35% to 100% of the area and a
            flip by default (see ``EncodedImagesDataModule``).
        mean: per-channel mean for normalisation; ``None``: the one stored with the data.
        std: per-channel standard deviation for normalisation; ``None``: the one stored with the data.
        trusted_data: read chunks whatever litdata serializer they name, ``pickle`` included, which
            runs code when read: only for chunks you made yourself. Off, such chunks are refused
            (``chunks.check_chunks``); a checkpoint never turns it on.
        batch_size: see ``ClassificationDataModule``; 32 here, for images of 224 pixels.
        **kwargs: the other options of ``ClassificationDataModule`` (``seed``, ``num_workers``, ...).
    """

    def __init__(
        self,
        input_dir: str,
        *,
        cache_dir: str | None = None,
        image_size: int | None = None,
        resize: int | None = None,
        augment: Augmentation = FILE_AUGMENTATION,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        trusted_data: bool = False,
        batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        # The info is one small sample: read here, so that the class names, the shape and the
        # statistics are known before setup, as `predict` on new images needs them.
        self.info = read_info(input_dir, cache_dir, trusted_data)
        super().__init__(
            image_size=image_size if image_size is not None else self.info.shape[-1],
            resize=resize,
            augment=augment,
            mean=mean if mean is not None else self.info.mean,
            std=std if std is not None else self.info.std,
            batch_size=batch_size,
            **kwargs,
        )
        if self.sampling != "shuffle":
            raise ConfigError(
                f"sampling={self.sampling}: StreamingDataModule reads its chunks in litdata's order and "
                "does not list its labels: use sampling=shuffle (or class_weights on the model)"
            )
        self.input_dir = input_dir
        self.cache_dir = cache_dir
        self.trusted_data = trusted_data

    @property
    def class_names(self) -> list[str]:
        return self.info.class_names

    @property
    def channels(self) -> int:
        return self.info.shape[0]

    def load_splits(self) -> Mapping[str, Dataset]:
        from litdata import StreamingDataset

        def stream(split: str, train: bool) -> StreamingDataset:
            where = split_dir(self.input_dir, split)
            cache = split_dir(self.cache_dir, split) if self.cache_dir else None
            transform = DecodeSample(self.decoder(train), where)
            dataset = StreamingDataset(
                where, cache_dir=cache, shuffle=train, seed=self.seed, transform=transform
            )
            check_chunks(dataset, where, self.trusted_data)
            return dataset

        try:
            train, val = stream("train", train=True), stream("val", train=False)
        except DataError:
            raise
        except (OSError, ValueError) as error:  # a split without its index: a conversion cut short
            reason = str(error).strip().splitlines()[0]  # litdata's hints follow on further lines
            raise DataError(f"{self.input_dir}: a split is missing ({reason}): convert it again") from None
        try:
            test = stream("test", train=False)
        except DataError:
            raise
        except (OSError, ValueError):  # no test split of its own: litdata finds no index there
            test = val
        return {"train": train, "val": val, "test": test}

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """The labels are known only as they stream, so each batch's are checked here, on the CPU
        before the batch moves: a label out of range is one error naming it, not a device-side
        assert in the loss."""
        trainer = self.trainer
        evaluated = trainer is not None and not trainer.predicting
        if evaluated and isinstance(batch, list | tuple) and len(batch) == 2:  # not an example input
            stage = trainer.state.stage if trainer is not None else None
            where = f"a {stage.value if stage else 'training'} batch streamed from {self.input_dir}"
            check_labels(batch[1], self.num_classes, where)
        return batch

    def loader(self, split: str) -> Iterable:
        """litdata's loader, which splits the chunks between processes and workers and keeps its
        place for a resume; new images (``predict_root``) load as every module's do."""
        if split == "predict" and self.predict_root is not None:
            return super().loader(split)
        train = split == "train"
        dataset: Any = self.dataset(split)
        batch_size = self.batch_size
        if not train:  # every process gets at least one batch
            batch_size = evaluation_batch_size(dataset, batch_size, process_grid(self.trainer)[0], split)
        workers = self.loader_workers
        return epoch_streaming_loader()(
            dataset,
            batch_size=batch_size,
            drop_last=train,  # training: full batches, the same number on every process
            collate_fn=CollateBatch(self.batch_transform(train)),
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self.trainer is not None and self.trainer.strategy.root_device.type == "cuda",
        )


@functools.cache
def epoch_streaming_loader() -> type[StreamingDataLoader]:
    """litdata's ``StreamingDataLoader``, whose epoch after a resumed one is a new epoch; the class is
    made on first use, so that importing this module does not import litdata.

    After ``load_state_dict`` the loader replays the rest of the saved epoch and leaves that mode
    (its public ``restore`` flag) only when its iterator runs to the end. Lightning, which knows the
    epoch's batch count, stops drawing at the last batch without exhausting the iterator, and the
    loader would then give the next epoch no batch at all. So the epoch begun after a resumed one
    leaves the mode first (``tests/test_data_streaming.py`` resumes through here).
    """
    from litdata import StreamingDataLoader

    class EpochStreamingDataLoader(StreamingDataLoader):
        restore: bool  # StreamingDataLoader's own: it is replaying a loaded state
        resumed = False  # the epoch that load_state_dict prepared has begun

        def __iter__(self) -> Iterator[Any]:
            if self.restore and self.resumed:
                self.restore = False
            self.resumed = self.restore
            yield from super().__iter__()

    return EpochStreamingDataLoader


def samples_in(dataset: StreamingDataset) -> int:
    """The samples of ``dataset`` over all processes (its ``len`` is this process's share)."""
    return sum(end - start for start, end in dataset.region_of_interest)


def evaluation_batch_size(dataset: StreamingDataset, batch_size: int, processes: int, split: str) -> int:
    """``batch_size``, or less where needed so that each of ``processes`` gets a batch of ``dataset``.

    litdata shares an evaluation split out in whole batches: ``samples // batch_size // processes``
    to each process, and the rest to the last. With fewer than ``processes`` full batches in the
    split, every process but the last gets nothing, and Lightning stops the run on a loader without
    batches. Smaller batches leave every metric as it is (they are sums over samples).
    """
    if processes < 2:
        return batch_size
    samples = samples_in(dataset)
    check_evaluation_size(samples, processes, split)
    return min(batch_size, samples // processes)
