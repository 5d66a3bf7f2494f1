"""Labels and heads that do not fit the data fail before the first step, saying what and where."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from data_files import write_cifar10, write_idx, write_mnist
from helpers import FAST, cli
from lit_classifier import MNISTDataModule
from lit_classifier.data.splits import check_labels


def test_a_label_beyond_the_class_count_in_mnist_files_names_the_value_split_and_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = write_mnist(tmp_path)
    write_idx(raw / "train-labels-idx1-ubyte", np.array([3] * 59 + [12]))

    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--data=lit_classifier.MNISTDataModule", f"--data.data_dir={tmp_path}", *FAST)

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    # The validation split is carved from the shuffled training files, so the sample's index moves.
    assert re.search(r"error: label 12 of sample \d+ in the train split of MNISTDataModule", err)
    assert f"(the training files in {raw}) is outside [0, 10)" in err
    assert not list(Path("runs").rglob("version_*"))  # it failed before training: no run folder


def test_a_negative_label_in_a_cifar_test_batch_is_reported_for_the_test_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_cifar10(tmp_path)

    batch = pickle.loads((folder / "test_batch").read_bytes())
    batch["labels"][5] = -1
    (folder / "test_batch").write_bytes(pickle.dumps(batch))

    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--data=lit_classifier.CIFAR10DataModule", f"--data.data_dir={tmp_path}", *FAST)

    assert exit_info.value.code == 2
    assert "error: label -1 of sample 5 in the test split of CIFAR10DataModule" in capsys.readouterr().err


def test_a_bad_label_is_a_value_error_from_python(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path)
    write_idx(raw / "train-labels-idx1-ubyte", np.array([3] * 59 + [12]))
    data = MNISTDataModule(data_dir=str(tmp_path), download=False)

    with pytest.raises(ValueError, match="label 12 of sample"):
        data.setup("fit")


def test_check_labels_accepts_every_class_and_rejects_the_first_outsider() -> None:
    check_labels(torch.arange(10), 10, "here")

    with pytest.raises(ValueError, match=r"label 10 of sample 2 in here is outside \[0, 10\)"):
        check_labels(torch.tensor([0, 9, 10, 11]), 10, "here")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--model.init_args.num_classes=5", "the model was built for 5 classes but DigitsDataModule has 10"),
        (
            "--model.model=torch.nn.Flatten",
            "Flatten outputs shape (2, 64) for a batch of 2, but the data has 10",
        ),
    ],
    ids=["num_classes", "network_output"],
)
def test_a_model_that_does_not_fit_the_data_stops_the_command_before_training(
    option: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", option, *FAST)

    assert exit_info.value.code == 2
    assert f"error: {message}" in capsys.readouterr().err
    assert not list(Path("runs").rglob("*.ckpt"))
