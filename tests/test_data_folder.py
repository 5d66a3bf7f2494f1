"""The user's own images: class folders of PNG and JPEG files, including a corrupt and a truncated one."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import pytest
import torch

from data_files import add_bad_images, write_image_folder
from helpers import FAST, cli, run_dir
from lit_classifier import ImageFolderDataModule
from lit_classifier.errors import DataError

REPO = Path(__file__).resolve().parents[1]
TINY = ["--data.image_size=16", "--data.batch_size=4", "--data.num_workers=0"]


def test_fit_on_a_folder_skips_bad_images_reporting_each_once_and_predict_prints_class_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt, truncated = add_bad_images(write_image_folder(tmp_path / "photos"))

    with caplog.at_level(logging.WARNING, logger="lit_classifier.data.images"):
        fit = cli(
            "fit", "--config", str(REPO / "configs" / "image_folder.yaml"), "--data.root=photos", *TINY, *FAST
        )
    reported = [
        record.getMessage() for record in caplog.records if record.name == "lit_classifier.data.images"
    ]
    checkpoint = run_dir(fit) / "checkpoints" / "last.ckpt"
    predict = cli(
        "predict",
        "--config",
        str(REPO / "configs" / "image_folder.yaml"),
        "--data.root=photos",
        *TINY,
        f"--ckpt_path={checkpoint}",
    )

    cut_short = "its JPEG data is damaged or cut short: the file ends where its data says more follows"
    assert sorted(reported) == sorted(
        [
            f"skipping unreadable image {corrupt}: not an image file: it begins like none of "
            "JPEG, PNG, BMP, PPM, TIFF, WEBP",
            f"skipping unreadable image {truncated}: {cut_short}",
        ]
    )
    assert fit.trainer.global_step == 3
    assert fit.datamodule.class_names == ["cat", "dog", "fish"]
    assert torch.load(checkpoint, weights_only=True)["hyper_parameters"]["class_names"] == [
        "cat",
        "dog",
        "fish",
    ]
    with (run_dir(predict) / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == len(predict.datamodule.test_set)
    assert {row["prediction"] for row in rows} <= {"cat", "dog", "fish"}


def test_strict_stops_at_setup_naming_the_bad_file(tmp_path: Path) -> None:
    corrupt, _ = add_bad_images(write_image_folder(tmp_path))
    (tmp_path / "dog" / "truncated.jpg").unlink()
    data = ImageFolderDataModule(str(tmp_path), image_size=16, strict=True)

    with pytest.raises(DataError, match=f"cannot read image {corrupt}"):
        data.setup("fit")


def test_train_and_val_folders_are_used_as_they_are_with_sorted_class_names(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", classes=("zebra", "ant", "moth"), per_class=5)
    write_image_folder(tmp_path / "val", classes=("moth", "zebra", "ant"), per_class=2)
    data = ImageFolderDataModule(str(tmp_path), image_size=12, batch_size=5, num_workers=0)
    data.setup("fit")

    images, _ = next(iter(data.train_dataloader()))

    assert data.class_names == ["ant", "moth", "zebra"]
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (15, 6, 6)  # type: ignore[arg-type]
    val_labels = {path.parent.name: label for path, label in data.val_set.samples}  # type: ignore[union-attr]
    assert val_labels == {"ant": 0, "moth": 1, "zebra": 2}
    assert images.shape == (5, 3, 12, 12) and data.dims == (3, 12, 12)
    assert images.abs().max() < 5  # normalised with ImageNet statistics


def test_one_folder_is_split_by_fraction_with_a_fixed_seed(tmp_path: Path) -> None:
    write_image_folder(tmp_path, per_class=10)
    splits = []
    for seed in (0, 0, 1):
        data = ImageFolderDataModule(str(tmp_path), val_fraction=0.2, seed=seed)
        data.setup("fit")
        splits.append([path.name + path.parent.name for path, _ in data.val_set.samples])  # type: ignore[union-attr]
        assert len(data.train_set) == 24  # type: ignore[arg-type]

    assert splits[0] == splits[1] and splits[0] != splits[2]


def test_empty_folder_and_class_folder_without_images_are_clear_errors_at_setup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    write_image_folder(tmp_path / "photos")
    (tmp_path / "photos" / "bird").mkdir()
    (tmp_path / "photos" / "bird" / "notes.txt").write_text("no images here")

    with pytest.raises(DataError, match="has no class folders"):
        ImageFolderDataModule(str(tmp_path / "empty")).setup("fit")
    with pytest.raises(DataError, match=f"class folder {tmp_path / 'photos' / 'bird'} has no images"):
        ImageFolderDataModule(str(tmp_path / "photos")).setup("fit")
    with pytest.raises(SystemExit) as exit_info:  # the command: one line, exit code 2
        cli("fit", "--data=lit_classifier.ImageFolderDataModule", "--data.root=photos", *TINY, *FAST)
    with pytest.raises(DataError, match="does not exist"):
        ImageFolderDataModule(str(tmp_path / "missing")).setup("fit")

    assert exit_info.value.code == 2
    assert f"error: class folder {tmp_path / 'photos' / 'bird'} has no images" in capsys.readouterr().err


def test_without_verification_a_bad_file_fails_when_loaded_naming_it(tmp_path: Path) -> None:
    corrupt, truncated = add_bad_images(write_image_folder(tmp_path))
    shutil.move(truncated, tmp_path / "truncated.jpg")  # out of the class folders
    data = ImageFolderDataModule(str(tmp_path), image_size=16, verify=False)
    data.setup("fit")
    dataset = next(d for d in (data.train_set, data.val_set) if (corrupt, 0) in d.samples)  # type: ignore[union-attr]

    with pytest.raises(DataError, match=f"cannot read image {corrupt}"):
        dataset[dataset.samples.index((corrupt, 0))]  # type: ignore[union-attr]


def test_a_hidden_folder_such_as_jupyters_checkpoints_is_no_class(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "photos")
    shutil.copytree(root / "cat", root / ".ipynb_checkpoints")  # what a notebook leaves beside its files

    data = ImageFolderDataModule(str(root), image_size=16)
    data.setup("fit")

    assert data.class_names == ["cat", "dog", "fish"]
