"""Streaming chunks on several processes (DDP with gloo on the CPU), through the real command.

Every image of the converted set is one flat grey level, its own number (training 0..29, validation
100..), so ``RecordSamples``, a callback the command is given, reads off the first pixel of each
batch which samples each process saw. Chunks of about 1 KB split the training set into several
chunks, as a set of real size is, so that shuffling the chunks' order matters. A run costs about
15 s here (two processes of 6 s of imports each), so each one serves several tests.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch.utils.data import Dataset

from helpers import (
    TWO_PROCESSES,
    cli,
    finish,
    free_port,
    last_value,
    lit_classifier,
    only_run,
    read_metrics,
    run_dir,
    torchrun_node,
)
from lit_classifier.data import optimize_data
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.splits import ImageTensors

# One worker builds the module's chunks and its two-process run once (xdist would build them per worker).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("streaming_ddp")]

TRAIN_SIZE, VAL_FIRST = 30, 100
BATCH, PROCESSES = 4, 2
# 13 validation images: litdata gives the first process one batch (4) and the last the rest (9).
VAL_SIZE = 13
# 7 validation images are fewer than PROCESSES x BATCH: shared out in batches of 4, the first
# process would get none.
SMALL_VAL_SIZE = 7


class NumberedImages(ClassificationDataModule):
    """8x8 grey images whose every pixel is the image's number: training 0.., validation 100..."""

    def __init__(self, *, val_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.val_size = val_size

    @property
    def class_names(self) -> list[str]:
        return ["zero", "one", "two"]  # the number modulo 3

    @property
    def dims(self) -> tuple[int, int, int]:
        return (1, 8, 8)

    def load_splits(self) -> Mapping[str, Dataset]:
        def numbered(first: int, size: int) -> ImageTensors:
            numbers = torch.arange(first, first + size)
            images = numbers.to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 8, 8).contiguous()
            return ImageTensors(images, numbers % 3, "numbered images")

        val = numbered(VAL_FIRST, self.val_size)
        return {"train": numbered(0, TRAIN_SIZE), "val": val, "test": val}


class RecordSamples(L.Callback):
    """Appends the numbers of every training and validation batch (not the sanity check's), and the
    global step at the end of fitting, to ``<folder>/rank<global rank>.jsonl``."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def _write(self, trainer: L.Trainer, record: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"rank{trainer.global_rank}.jsonl").open("a") as file:
            file.write(json.dumps(record) + "\n")

    def _batch(self, trainer: L.Trainer, stage: str, batch: Any) -> None:
        if not trainer.sanity_checking:
            # The data's mean and std are 0 and 1: a pixel is its grey level / 255.
            numbers = (batch[0][:, 0, 0, 0] * 255).round().int().tolist()
            self._write(trainer, {"stage": stage, "epoch": trainer.current_epoch, "numbers": numbers})

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch(trainer, "train", batch)

    def on_validation_batch_start(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._batch(trainer, "val", batch)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, {"stage": "end", "global_step": trainer.global_step})


Seen = dict[tuple[str, int], dict[int, list[int]]]  # (stage, epoch) -> rank -> numbers in order


def seen(*folders: Path) -> Seen:
    """What ``RecordSamples`` wrote in ``folders`` (one per node, or one for all processes)."""
    records: Seen = defaultdict(lambda: defaultdict(list))
    for folder in folders:
        for path in sorted((folder / "samples").glob("rank*.jsonl")):
            rank = int(path.stem.removeprefix("rank"))
            for line in path.read_text().splitlines():
                record = json.loads(line)
                key = (record["stage"], record.get("epoch", -1))
                records[key][rank] += record.get("numbers", [record.get("global_step")])
    return records


def together(by_rank: dict[int, list[int]]) -> list[int]:
    """The numbers every process saw, one after the other."""
    return [number for numbers in by_rank.values() for number in numbers]


def converted(folder: Path, val_size: int) -> Path:
    optimize_data(NumberedImages(val_size=val_size), str(folder), chunk_bytes="1KB")
    return folder


def stream(input_dir: str, *extra: str) -> list[str]:
    """The command line of a streaming run, with the recording callback."""
    data = ["--data=lit_classifier.StreamingDataModule", f"--data.input_dir={input_dir}", *extra]
    data += [
        f"--data.batch_size={BATCH}",
        "--data.num_workers=0",
        "--data.augment={flip: false, crop_scale: null}",
    ]
    record = [
        "--trainer.callbacks+=test_data_streaming_ddp.RecordSamples",
        "--trainer.callbacks.init_args.folder=samples",
    ]
    return [*data, "--plots.enabled=false", *record]


@pytest.fixture(scope="module")
def chunks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return converted(tmp_path_factory.mktemp("numbered") / "chunks", VAL_SIZE)


@pytest.fixture(scope="module")
def two_processes(chunks: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two epochs on two processes; the folder it ran in."""
    folder = tmp_path_factory.mktemp("two_processes")
    lit_classifier("fit", *TWO_PROCESSES, *stream(str(chunks)), "--trainer.max_epochs=2", cwd=folder)
    return folder


def test_each_epoch_the_processes_train_on_disjoint_shards_that_cover_the_split(two_processes: Path) -> None:
    samples = seen(two_processes)

    for epoch in (0, 1):
        first, second = samples["train", epoch][0], samples["train", epoch][1]
        assert set(first).isdisjoint(second)
        assert len(set(first)) == len(first) == len(second) == 12  # the same number of full batches
        left_out = set(range(TRAIN_SIZE)) - set(first + second)
        assert len(left_out) == 6 < PROCESSES * BATCH
    left_out = [set(range(TRAIN_SIZE)) - set(together(samples["train", epoch])) for epoch in (0, 1)]
    assert left_out[0] != left_out[1]  # the chunks' order changed


def test_the_training_order_changes_every_epoch_and_repeats_with_the_seed(
    chunks: Path, two_processes: Path, tmp_path: Path
) -> None:
    lit_classifier("fit", *TWO_PROCESSES, *stream(str(chunks)), "--trainer.max_epochs=2", cwd=tmp_path)

    first, again = seen(two_processes), seen(tmp_path)
    for rank in (0, 1):
        assert first["train", 0][rank] != first["train", 1][rank]
        assert again["train", 0][rank] == first["train", 0][rank]
        assert again["train", 1][rank] == first["train", 1][rank]


def test_validation_reads_every_sample_once_from_uneven_shards(two_processes: Path) -> None:
    samples = seen(two_processes)

    for epoch in (0, 1):
        first, second = samples["val", epoch][0], samples["val", epoch][1]
        assert (len(first), len(second)) == (4, 9)  # one batch and three: uneven shards
        assert sorted(first + second) == list(range(VAL_FIRST, VAL_FIRST + VAL_SIZE))


def test_validation_on_two_processes_gives_the_metrics_of_one(chunks: Path, two_processes: Path) -> None:
    checkpoint = only_run(two_processes) / "checkpoints" / "last.ckpt"  # after the last validation
    on_one = cli("validate", "--trainer.accelerator=cpu", *stream(str(chunks)), f"--ckpt_path={checkpoint}")

    during_fit, one = read_metrics(only_run(two_processes)), read_metrics(run_dir(on_one))
    assert last_value(during_fit, "val_acc") == last_value(one, "val_acc")
    assert last_value(during_fit, "val_loss") == pytest.approx(last_value(one, "val_loss"), rel=1e-6)


def test_a_split_smaller_than_a_batch_per_process_validates_every_sample_once(
    tmp_path: Path, two_processes: Path
) -> None:
    small = converted(tmp_path / "small", SMALL_VAL_SIZE)
    checkpoint = only_run(two_processes) / "checkpoints" / "last.ckpt"
    args = [*stream(str(small)), f"--ckpt_path={checkpoint}"]

    lit_classifier("validate", *TWO_PROCESSES, *args, cwd=tmp_path / "two")
    on_one = cli("validate", "--trainer.accelerator=cpu", *args)

    first, second = seen(tmp_path / "two")["val", 0].values()
    assert first and second  # each process got a batch
    assert sorted(first + second) == list(range(VAL_FIRST, VAL_FIRST + SMALL_VAL_SIZE))
    two, one = read_metrics(only_run(tmp_path / "two")), read_metrics(run_dir(on_one))
    assert last_value(two, "val_acc") == last_value(one, "val_acc")
    assert last_value(two, "val_loss") == pytest.approx(last_value(one, "val_loss"), rel=1e-6)


def test_two_nodes_stream_disjoint_shards_into_their_own_caches(
    chunks: Path, two_processes: Path, tmp_path: Path
) -> None:
    # litdata's `local:` scheme reads the folder as it reads an object store: into --data.cache_dir,
    # a folder of each node's own ("cache" relative to where the node runs).
    fit_args = ["--trainer.accelerator=cpu", *stream(f"local:{chunks}", "--data.cache_dir=cache")]
    fit_args += ["--trainer.max_epochs=2"]
    nodes, port = [tmp_path / "node0", tmp_path / "node1"], free_port()

    finish(*[torchrun_node(rank, port, fit_args, tmp_path) for rank in (0, 1)])

    samples = seen(*nodes)
    for epoch in (0, 1):
        first, second = samples["train", epoch][0], samples["train", epoch][1]
        assert set(first).isdisjoint(second) and len(first) == len(second) == 12
        assert len(set(range(TRAIN_SIZE)) - set(first + second)) < PROCESSES * BATCH
        assert sorted(together(samples["val", epoch])) == list(range(VAL_FIRST, VAL_FIRST + VAL_SIZE))
    assert samples["end", -1][0] == samples["end", -1][1] == [6]  # 2 epochs of 3 steps, on both nodes
    # The same seed and number of processes give the same shards as the two processes of one machine.
    assert samples["train", 1] == seen(two_processes)["train", 1]
    for node in nodes:
        assert list((node / "cache").rglob("chunk-*.bin"))
