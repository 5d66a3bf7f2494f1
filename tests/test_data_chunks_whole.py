"""Chunk folders are whole: a conversion replaces the folder it writes, or leaves it as it was, and
chunks that are cut, missing a split or labelled out of range are one error naming what is wrong."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from torch.utils.data import Dataset

from chunk_files import converted_photos, write_chunks
from data_files import write_image_folder
from helpers import FAST, cli, finish, start
from lit_classifier import ImageFolderDataModule
from lit_classifier.command.optimize import main as optimize_command

TINY = ["--data.batch_size=4", "--data.image_size=16", "--plots.enabled=false"]


def stream(chunks: Path) -> list[str]:
    return ["--data=lit_classifier.StreamingDataModule", f"--data.input_dir={chunks}"]


def samples_in(split: Path) -> int:
    return sum(chunk["chunk_size"] for chunk in json.loads((split / "index.json").read_text())["chunks"])


class NeverEnding(Dataset):
    """A split whose images do not come: the conversion waits there until it is killed."""

    def __init__(self, split: Any) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> Any:
        return self.split[index]

    def encoded(self, index: int) -> tuple[bytes, int]:
        threading.Event().wait(timeout=300)  # the test kills it long before; bounded if the test dies
        raise TimeoutError("a conversion meant to be killed was not")


class StuckAfterTraining(ImageFolderDataModule):
    """An image folder whose conversion writes the training split, then waits forever."""

    def load_splits(self) -> Mapping[str, Dataset]:
        return {**super().load_splits(), "val": NeverEnding(super().load_splits()["val"])}


def test_a_second_conversion_keeps_no_split_of_the_first(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        write_image_folder(tmp_path / "first" / split, per_class=3)
    optimize_command(
        ["--data=lit_classifier.ImageFolderDataModule", "--data.root=first", "--output_dir=chunks"]
    )
    assert (tmp_path / "chunks" / "test").is_dir()

    converted_photos(tmp_path / "chunks")  # a folder without test/

    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".chunks")) == []
    assert sorted(path.name for path in (tmp_path / "chunks").iterdir()) == ["info", "train", "val"]


def test_a_killed_conversion_leaves_the_earlier_one_and_a_rerun_replaces_it(tmp_path: Path) -> None:
    converted_photos(tmp_path / "chunks")
    earlier = {split: samples_in(tmp_path / "chunks" / split) for split in ("train", "val")}
    write_image_folder(tmp_path / "more", per_class=10)
    command = [sys.executable, "-m", "lit_classifier.command.optimize"]
    command += ["--output_dir=chunks", "--num_workers=1"]
    stuck = start([*command, f"--data={__name__}.StuckAfterTraining", "--data.root=more"], tmp_path)
    try:
        deadline = time.monotonic() + 180
        while not list(tmp_path.glob(".chunks.partial-*/train/index.json")):  # training split written
            assert stuck.poll() is None and time.monotonic() < deadline, stuck.communicate()
            time.sleep(0.05)
    finally:  # it never ends by itself: killed here, whatever the test's outcome
        os.killpg(stuck.pid, signal.SIGKILL)
        stuck.wait()

    assert {split: samples_in(tmp_path / "chunks" / split) for split in earlier} == earlier
    rerun = start([*command, "--data=lit_classifier.ImageFolderDataModule", "--data.root=more"], tmp_path)
    finish(rerun)
    assert samples_in(tmp_path / "chunks" / "train") + samples_in(tmp_path / "chunks" / "val") == 30
    assert not list(tmp_path.glob(".chunks*"))  # the killed run's staging folder is gone too


def one_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli(*args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_a_cut_chunk_file_is_one_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chunks = converted_photos(tmp_path / "chunks")
    chunk = next((chunks / "train").glob("chunk-*.bin"))
    whole = chunk.stat().st_size
    chunk.write_bytes(chunk.read_bytes()[: whole // 2])

    err = one_error(capsys, "fit", *stream(chunks), *TINY, *FAST)

    assert f"{chunks}/train: chunk {chunk.name} has {whole // 2} of its {whole} bytes" in err


def test_a_missing_split_is_one_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chunks = converted_photos(tmp_path / "chunks")
    for file in (chunks / "val").iterdir():
        file.unlink()

    err = one_error(capsys, "fit", *stream(chunks), *TINY, *FAST)

    assert f"error: {chunks}: a split is missing" in err and "convert it again" in err


def test_a_streamed_label_out_of_range_is_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chunks = converted_photos(tmp_path / "chunks")  # three classes
    photo = next((tmp_path / "photos" / "cat").iterdir()).read_bytes()
    write_chunks(chunks / "train", [{"image": photo, "label": 7} for _ in range(8)])

    err = one_error(capsys, "fit", *stream(chunks), *TINY, *FAST)

    assert f"label 7 of sample 0 in a train batch streamed from {chunks} is outside [0, 3)" in err
