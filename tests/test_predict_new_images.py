"""A trained model classifies new images given only its checkpoint and the images: the checkpoint
knows its classes and how its data module prepares an image; its training data need not be there."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from data_files import write_image_folder
from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule, predict_images


@pytest.fixture
def trained_on_a_folder_then_moved(tmp_path: Path) -> Path:
    """The checkpoint of a model trained on cat/dog/fish images at 32x32, whose folder is gone."""
    photos = write_image_folder(tmp_path / "photos")
    folder = ["--data=lit_classifier.ImageFolderDataModule", f"--data.root={photos}", "--data.image_size=32"]
    checkpoint = run_dir(cli("fit", *FAST, *folder, "--data.batch_size=4")) / "checkpoints" / "last.ckpt"
    shutil.rmtree(photos)
    return checkpoint


def test_predict_needs_only_the_checkpoint_and_the_new_images(
    trained_on_a_folder_then_moved: Path, tmp_path: Path
) -> None:
    new = write_image_folder(tmp_path / "new", classes=("a", "b"), per_class=2)

    result = cli("predict", f"--ckpt_path={trained_on_a_folder_then_moved}", f"--data.predict_root={new}")

    with (run_dir(result) / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    header = ["index", "path", "prediction", "class_index", "probability", "top1", "top2", "top3"]
    assert list(rows[0]) == header
    assert [row["path"] for row in rows] == [str(path) for path in sorted(new.rglob("*.*"))]
    assert {row["prediction"] for row in rows} <= {"cat", "dog", "fish"}
    assert result.datamodule.dims == (3, 32, 32)  # the checkpoint's image size, not the default 224


def test_predict_images_from_python(trained_on_a_folder_then_moved: Path, tmp_path: Path) -> None:
    new = write_image_folder(tmp_path / "new", classes=("a",), per_class=3)
    module = ClassifierModule.load_from_checkpoint(trained_on_a_folder_then_moved)

    predictions = predict_images(module, new, top_k=2)

    assert [p.path for p in predictions] == sorted(new.rglob("*.*"))
    for prediction in predictions:
        assert prediction.class_name in ("cat", "dog", "fish")
        assert prediction.top_k[0] == (prediction.class_name, prediction.probability)
        assert len(prediction.top_k) == 2 and prediction.top_k[0][1] >= prediction.top_k[1][1]
    alone = predict_images(module, predictions[0].path, top_k=2)[0]  # one file alone, a batch of one
    assert (alone.path, alone.class_name) == (predictions[0].path, predictions[0].class_name)
    # Kernels may differ with the batch size: equal to float precision, not bit for bit.
    assert alone.probability == pytest.approx(predictions[0].probability, abs=1e-5)


def test_an_image_shape_that_contradicts_the_checkpoint_is_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = run_dir(cli("fit", *FAST)) / "checkpoints" / "last.ckpt"  # gray 8x8 digits
    new = write_image_folder(tmp_path / "new", classes=("a",), per_class=1)

    with pytest.raises(SystemExit) as exit_info:
        cli("predict", f"--ckpt_path={checkpoint}", f"--data.predict_root={new}", "--data.to_rgb=true")

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "built for images shaped (1, 8, 8)" in err and "gives (3, 8, 8)" in err
