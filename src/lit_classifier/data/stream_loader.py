"""litdata's ``StreamingDataLoader``, whose resumed epoch ends where Lightning ends it, and the batch
size with which an evaluation split reaches every process.

Imported only by ``StreamingDataModule`` when it makes a loader, so that importing the package never
imports litdata.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litdata import StreamingDataLoader, StreamingDataset

from lit_classifier.data.splits import check_evaluation_size


class EpochStreamingDataLoader(StreamingDataLoader):
    """``StreamingDataLoader`` whose epoch after a resumed one is a new epoch.

    After ``load_state_dict`` the loader replays the rest of the saved epoch and leaves that mode
    (its public ``restore`` flag) only when its iterator runs to the end. Lightning, which knows the
    epoch's batch count, stops drawing at the last batch without exhausting the iterator, and the
    loader would then give the next epoch no batch at all. So the epoch begun after a resumed one
    leaves the mode first (``tests/test_data_streaming.py`` resumes through here).
    """

    restore: bool  # StreamingDataLoader's own: it is replaying a loaded state
    resumed = False  # the epoch that load_state_dict prepared has begun

    def __iter__(self) -> Iterator[Any]:
        if self.restore and self.resumed:
            self.restore = False
        self.resumed = self.restore
        yield from super().__iter__()


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
