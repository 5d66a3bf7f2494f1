"""litdata's ``StreamingDataLoader``, whose resumed epoch ends where Lightning ends it.

Imported only by ``StreamingDataModule`` when it makes a loader, so that importing the package never
imports litdata.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litdata import StreamingDataLoader


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
