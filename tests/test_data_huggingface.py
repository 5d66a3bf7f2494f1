"""Hugging Face data sets in real on-disk formats (saved folders, parquet, imagefolder); the hub offline."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from data_files import write_image_folder
from helpers import FAST, cli
from lit_classifier import HuggingFaceDataModule
from lit_classifier.errors import UnavailableError

TINY = {"image_size": 16, "batch_size": 4, "num_workers": 0}


def image_table(count: int, names: list[str]) -> datasets.Dataset:
    """``count`` small PNG images with a ClassLabel column, as the hub's image sets are typed."""
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)) for _ in range(count)]
    features = datasets.Features({"img": datasets.Image(), "fine": datasets.ClassLabel(names=names)})
    return datasets.Dataset.from_dict(
        {"img": images, "fine": [i % len(names) for i in range(count)]}, features
    )


def test_a_saved_dataset_dict_trains_through_the_command_with_its_class_names(tmp_path: Path) -> None:
    names = ["apple", "pear"]
    splits = {
        "train": image_table(12, names),
        "validation": image_table(6, names),
        "test": image_table(4, names),
    }
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "fruit"))

    fit = cli(
        "fit", "--data=lit_classifier.HuggingFaceDataModule", "--data.path=fruit", "--data.image_column=img",
        "--data.label_column=fine", "--data.image_size=16", "--data.batch_size=4", "--data.num_workers=0",
        *FAST,
    )  # fmt: skip

    data = fit.datamodule
    assert data.class_names == names and data.dims == (3, 16, 16)
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == [12, 6, 4]
    images, labels = next(iter(data.val_dataloader()))
    assert images.shape == (4, 3, 16, 16) and labels.tolist() == [0, 1, 0, 1]
    assert fit.trainer.global_step == 3


def test_a_parquet_file_is_split_by_seed_and_string_labels_become_classes(tmp_path: Path) -> None:
    table = image_table(20, ["a", "b"]).cast_column("fine", datasets.Value("int64"))
    table = table.map(lambda row: {"kind": ["zebra", "ant"][row["fine"]]}).remove_columns("fine")
    table.to_parquet(str(tmp_path / "animals.parquet"))

    held_out = []
    for seed in (0, 0, 1):
        data = HuggingFaceDataModule(
            "animals.parquet", image_column="img", label_column="kind", val_fraction=0.25, seed=seed, **TINY
        )
        data.setup("fit")
        held_out.append(data.val_set.rows["img"])  # type: ignore[union-attr]
        assert (len(data.train_set), len(data.val_set)) == (15, 5)  # type: ignore[arg-type]

    assert data.class_names == ["ant", "zebra"]  # sorted
    assert held_out[0] == held_out[1] != held_out[2]


def test_an_imagefolder_keeps_its_files_bytes(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "photos", per_class=4)

    data = HuggingFaceDataModule("imagefolder", data_dir="photos", val_fraction=0.25, **TINY)
    data.setup("fit")

    assert data.class_names == ["cat", "dog", "fish"]
    stored, label = data.train_set.encoded(0)  # type: ignore[union-attr]
    assert stored in {path.read_bytes() for path in (tmp_path / "photos" / data.class_names[label]).iterdir()}


def test_the_hub_offline_is_one_line_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # no request leaves this machine

    with pytest.raises(UnavailableError, match="cannot load the Hugging Face data set 'cifar10'"):
        HuggingFaceDataModule("cifar10").setup("fit")
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--data=lit_classifier.HuggingFaceDataModule", "--data.path=cifar10", *FAST)

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot load the Hugging Face data set 'cifar10'") and "save_to_disk" in err
