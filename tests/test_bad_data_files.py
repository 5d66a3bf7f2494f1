"""A malformed data file ends in one ``error:`` line naming the file (and the line, row, column or
field at fault), exit code 2, with no run folder and no process left behind: an image that is read
only in the loader's workers, a Hugging Face table whose columns are missing or of the wrong kind,
MNIST idx files whose header does not describe them, and a run folder's metrics that
``lit-classifier-plot`` reads back."""

from __future__ import annotations

import multiprocessing
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import datasets
import numpy as np
import pytest

from data_files import write_idx, write_image_folder, write_mnist
from helpers import FAST, REPO
from lit_classifier import HuggingFaceDataModule
from lit_classifier.command import plot as plot_command
from lit_classifier.data.huggingface import datasets_progress_off
from lit_classifier.errors import DataError
from test_bad_input import one_error_line
from test_data_huggingface import image_table

IMAGE_FOLDER = ["--config", str(REPO / "configs" / "image_folder.yaml"), "--data.image_size=16"]


@pytest.mark.parametrize("workers", [0, 2])
def test_an_empty_jpeg_read_only_by_the_loader_is_one_line_from_its_workers_too(
    workers: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``verify: false`` an image is first opened by the loader, in a worker process when there
    are workers; torch raises the worker's error again in this process with the worker's whole
    traceback as its message, which must not bury the line naming the file."""
    write_image_folder(Path("photos/train"), per_class=2)
    write_image_folder(Path("photos/val"), per_class=1)
    empty = Path("photos/val/cat/empty.jpg").absolute()
    empty.write_bytes(b"")

    err = one_error_line(
        capsys, "fit", *IMAGE_FOLDER, "--data.root=photos", "--data.verify=false", "--data.batch_size=4",
        f"--data.num_workers={workers}", *FAST,
    )  # fmt: skip

    assert err.startswith(f"error: cannot read image {empty}: ")
    assert not list(Path("runs").glob("*/version_*"))
    assert multiprocessing.active_children() == []  # the loader's workers ended with the run


def hub_table(change: Callable[[datasets.Dataset], datasets.Dataset]) -> Callable[[], None]:
    """Writes ``table.parquet``: the tests' image table (columns ``img`` and ``fine``) as ``change``d."""

    @datasets_progress_off()
    def write() -> None:
        change(image_table(8, ["apple", "pear"])).to_parquet("table.parquet")

    return write


def replaced(column: str, value: Callable[[int], object]) -> Callable[[datasets.Dataset], datasets.Dataset]:
    """The table with ``column`` holding ``value(row)`` in each row."""

    def change(table: datasets.Dataset) -> datasets.Dataset:
        return table.remove_columns(column).add_column(column, [value(row) for row in range(len(table))])

    return change


BAD_TABLES = {
    "no label column": (hub_table(lambda table: table.remove_columns("fine")), "has no column fine"),
    "labels that are lists": (
        hub_table(replaced("fine", lambda row: [row % 2])),
        "its label column 'fine' holds List(Value('int64')), not class labels",
    ),
    "a row without a label": (
        hub_table(replaced("fine", lambda row: None if row == 5 else "apple")),
        "row 5 of the train split of table.parquet has no label (its 'fine' is empty)",
    ),
    "images that are numbers": (
        hub_table(replaced("img", lambda row: row)),
        "its image column 'img' holds Value('int64'), not images",
    ),
    "images that name no file": (
        hub_table(replaced("img", lambda row: "gone.png")),
        "cannot read image gone.png of row 0 of img: No such file or directory",
    ),
}


@pytest.mark.parametrize("kind", BAD_TABLES)
def test_a_hugging_face_table_of_the_wrong_shape_is_one_line_naming_the_column(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write, message = BAD_TABLES[kind]
    write()

    err = one_error_line(
        capsys, "fit", "--data=lit_classifier.HuggingFaceDataModule", "--data.path=table.parquet",
        "--data.image_column=img", "--data.label_column=fine", "--data.image_size=16", "--data.batch_size=4",
        "--data.num_workers=0", *FAST,
    )  # fmt: skip

    assert message in err


def saved_splits(train: list[str], validation: list[str]) -> str:
    """A ``save_to_disk`` folder of two splits whose labels are the strings given, one per row."""

    def split(kinds: list[str]) -> datasets.Dataset:
        table = image_table(len(kinds), ["a", "b"]).remove_columns("fine")
        return table.add_column("kind", kinds)

    datasets.DatasetDict({"train": split(train), "validation": split(validation)}).save_to_disk("zoo")
    return "zoo"


def test_a_validation_split_lacking_a_class_is_numbered_as_the_training_split() -> None:
    """Labels that are no ``ClassLabel`` are numbered by the training split's sorted values; numbered
    per split, a validation split of zebras only would call them all by the first class, ants."""
    data = HuggingFaceDataModule(
        saved_splits(["ant", "zebra"] * 4, ["zebra"] * 4), image_column="img", label_column="kind",
        image_size=16, num_workers=0,
    )  # fmt: skip
    data.setup("fit")

    assert data.class_names == ["ant", "zebra"]
    assert [data.val_set[row][1] for row in range(4)] == [1, 1, 1, 1]  # type: ignore[index]


def test_a_validation_label_the_training_split_lacks_is_an_error_naming_it() -> None:
    folder = saved_splits(["ant", "zebra"] * 4, ["lion"] * 4)
    data = HuggingFaceDataModule(folder, image_column="img", label_column="kind", num_workers=0)

    with pytest.raises(DataError, match="the validation split of zoo has the label 'lion', which the train"):
        data.setup("fit")


def with_header(count: int) -> Callable[[Path], None]:
    """The images file with its header's image count replaced by ``count``."""

    def write(raw: Path) -> None:
        path = raw / "train-images-idx3-ubyte"
        path.write_bytes(path.read_bytes()[:4] + struct.pack(">I", count) + path.read_bytes()[8:])

    return write


BAD_IDX = {
    "a header claiming 10^9 images": (
        with_header(10**9),
        "train-images-idx3-ubyte: its header promises 1000000000 image(s) (784000000000 bytes) but "
        "47040 bytes follow it",
    ),
    "an empty file": (
        lambda raw: (raw / "t10k-labels-idx1-ubyte").write_bytes(b""),
        "t10k-labels-idx1-ubyte: the file is empty",
    ),
    "a file cut short": (
        lambda raw: (raw / "t10k-images-idx3-ubyte").write_bytes(
            (raw / "t10k-images-idx3-ubyte").read_bytes()[:1000]
        ),
        "t10k-images-idx3-ubyte: its header promises 20 image(s) (15680 bytes) but 984 bytes follow it",
    ),
    "32-bit integers": (
        lambda raw: (raw / "train-labels-idx1-ubyte").write_bytes(
            struct.pack(">HBBI", 0, 0x0C, 1, 60) + bytes(240)
        ),
        "train-labels-idx1-ubyte: its header says 1 dimension(s) of type 0x0c; an MNIST label file has 1 "
        "of unsigned bytes (0x08)",
    ),
    "images of another size": (
        lambda raw: write_idx(raw / "train-images-idx3-ubyte", np.zeros((60, 32, 32))),
        "train-images-idx3-ubyte: its images are 32x32; this data set's are 28x28",
    ),
    "a label missing": (
        lambda raw: write_idx(raw / "train-labels-idx1-ubyte", np.arange(59) % 10),
        "train-labels-idx1-ubyte holds 59 labels but",
    ),
}


@pytest.mark.parametrize("kind", BAD_IDX)
def test_an_mnist_file_its_header_does_not_describe_is_one_line_naming_it(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The header says how many bytes follow it: checked against the file's size before anything
    the header asks for is allocated (784 GB for 10^9 images)."""
    write, message = BAD_IDX[kind]
    write(write_mnist(Path("data")))

    err = one_error_line(
        capsys, "fit", "--data=lit_classifier.MNISTDataModule", "--data.download=false",
        "--data.batch_size=8", "--data.num_workers=0", *FAST,
    )  # fmt: skip

    assert message in err


def with_line(name: str, line: int, change: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    """The run folder's CSV file ``name`` with its ``line`` (1: the header) ``change``d, as a list
    of its comma-separated values."""

    def write(run: Path) -> None:
        lines = (run / name).read_text().splitlines()
        lines[line - 1] = ",".join(change(lines[line - 1].split(",")))
        (run / name).write_text("\n".join(lines) + "\n")

    return write


def one_class_fewer(run: Path) -> None:
    lines = (run / "val_confusion_matrix.csv").read_text().splitlines()[:-1]
    (run / "val_confusion_matrix.csv").write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in lines))


BAD_RUN_FILES = {
    "a metric that is text": (
        with_line("metrics.csv", 2, lambda values: [*values[:4], "abc", *values[5:]]),
        "metrics.csv: line 2: its val_acc is 'abc', not a number",
    ),
    "an epoch that is none": (
        with_line("metrics.csv", 3, lambda values: ["nan", *values[1:]]),
        "metrics.csv: line 3: its epoch is 'nan', not an epoch (0, 1, 2, ...)",
    ),
    "a row longer than the header": (
        with_line("metrics.csv", 2, lambda values: [*values, "0.5"]),
        "metrics.csv: line 2 has 9 values; its header names 8 columns",
    ),
    "a count that is text": (
        with_line("val_confusion_matrix.csv", 3, lambda values: [values[0], "x", *values[2:]]),
        "val_confusion_matrix.csv: line 3: 'x' is no count (a whole number)",
    ),
    "a negative count": (
        with_line("val_confusion_matrix.csv", 2, lambda values: [values[0], "-3", *values[2:]]),
        "val_confusion_matrix.csv: line 2: '-3' is no count (a whole number)",
    ),
    "a row of counts short": (
        with_line("val_confusion_matrix.csv", 4, lambda values: values[:-1]),
        "val_confusion_matrix.csv: line 4 has 9 counts; a confusion matrix of 10 classes has 10 in each row",
    ),
    "a matrix of other classes": (
        one_class_fewer,
        "val_confusion_matrix.csv counts 9 classes; the run's checkpoint",
    ),
}


@pytest.mark.parametrize("kind", BAD_RUN_FILES)
def test_plot_of_a_run_whose_metrics_are_not_numbers_is_one_line_naming_file_and_line(
    kind: str, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Path(shutil.copytree(trained.parent.parent, "run"))
    change, message = BAD_RUN_FILES[kind]
    change(run)

    with pytest.raises(SystemExit) as exit_info:
        plot_command.main([str(run)])

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert f"{run}/{message}" in err
    assert not list(run.glob("*.png"))
