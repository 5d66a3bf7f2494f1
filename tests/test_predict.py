"""``lit-classifier predict`` writes one CSV row per input; checkpoints reload outside the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torchvision
from torch.utils.data import Subset

from helpers import cli, run_dir
from lit_classifier import ClassifierModule
from lit_classifier.callbacks.predictions import sample_paths
from lit_classifier.models import SmallCNN
from tiny_images import write_image_folder

FEW_STEPS = ["--trainer.limit_train_batches=2", "--trainer.limit_val_batches=2", "--trainer.max_epochs=1"]


def folder_data(root: Path) -> list[str]:
    return ["--data=tiny_images.TinyFolder", f"--data.root={root}", "--data.batch_size=2"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_predict_names_each_file_its_class_and_the_top_k(tmp_path: Path) -> None:
    images = write_image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=3)
    fitted = cli("fit", *FEW_STEPS, *folder_data(images))
    checkpoint = run_dir(fitted) / "checkpoints" / "last.ckpt"

    predicted = cli("predict", *folder_data(images), f"--ckpt_path={checkpoint}")

    rows = read_csv(run_dir(predicted) / "predictions.csv")
    assert list(rows[0]) == ["index", "path", "prediction", "class_index", "probability", "top1", "top2"]
    files = sorted(str(path) for path in images.rglob("*.png"))
    assert [row["path"] for row in rows] == files  # ImageFolder's order, one row per file
    assert [row["index"] for row in rows] == [str(i) for i in range(6)]
    for row in rows:
        top1_name, top1_p = row["top1"].split(":")
        top2_name, top2_p = row["top2"].split(":")
        assert row["prediction"] == top1_name
        assert {top1_name, top2_name} == {"cat", "dog"}
        assert float(row["probability"]) == pytest.approx(float(top1_p), abs=1e-4)
        assert float(top1_p) + float(top2_p) == pytest.approx(1, abs=2e-4)  # two classes


def test_predict_without_files_lists_indices() -> None:
    fitted = cli("fit", *FEW_STEPS)
    checkpoint = run_dir(fitted) / "checkpoints" / "last.ckpt"

    predicted = cli("predict", f"--ckpt_path={checkpoint}", "--predictions.top_k=5")

    rows = read_csv(run_dir(predicted) / "predictions.csv")
    header = ["index", "prediction", "class_index", "probability", "top1", "top2", "top3", "top4", "top5"]
    assert list(rows[0]) == header
    assert len(rows) == len(predicted.datamodule.predict_set)
    assert {row["prediction"] for row in rows} <= {str(d) for d in range(10)}


def test_cli_checkpoint_reloads_in_python_with_its_class_names(tmp_path: Path) -> None:
    images = write_image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=3)
    fitted = cli("fit", *FEW_STEPS, *folder_data(images))
    checkpoint = run_dir(fitted) / "checkpoints" / "last.ckpt"

    module = ClassifierModule.load_from_checkpoint(checkpoint, weights_only=True)

    assert module.class_names == ["cat", "dog"]
    assert isinstance(module.model, SmallCNN)
    batch = torch.rand(4, 3, 16, 16)
    torch.testing.assert_close(module.eval()(batch), fitted.model.eval()(batch))


def test_sample_paths_follow_subsets(tmp_path: Path) -> None:
    images = write_image_folder(tmp_path / "images", classes=("a", "b"), per_class=2)
    folder = torchvision.datasets.ImageFolder(str(images))

    nested = Subset(Subset(folder, [3, 2, 1]), [2, 0])

    assert sample_paths(nested) == [folder.samples[1][0], folder.samples[3][0]]
    assert sample_paths(torch.utils.data.TensorDataset(torch.zeros(2))) is None


def test_predict_on_the_image_folder_data_module_names_the_files(tmp_path: Path) -> None:
    images = write_image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=5)
    data = [
        "--data=lit_classifier.data.ImageFolderDataModule",
        f"--data.root={images}",
        "--data.image_size=16",
        "--data.batch_size=2",
        "--data.num_workers=0",
    ]
    fitted = cli("fit", *FEW_STEPS, *data)

    predicted = cli("predict", *data, f"--ckpt_path={run_dir(fitted) / 'checkpoints' / 'last.ckpt'}")

    rows = read_csv(run_dir(predicted) / "predictions.csv")
    assert len(rows) == len(predicted.datamodule.predict_set) >= 2
    assert all(Path(row["path"]).is_file() and row["path"].endswith(".png") for row in rows)
    assert {row["prediction"] for row in rows} <= {"cat", "dog"}
