"""A command on a Hugging Face data set prints its own lines, not ``datasets``' progress bars."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from helpers import FAST, cli
from test_data_huggingface import image_table


def test_fit_on_a_parquet_file_shows_no_generating_split_or_map_bars(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = image_table(12, ["a", "b"]).cast_column("fine", datasets.Value("int64"))
    table.to_parquet(str(tmp_path / "pets.parquet"))
    capsys.readouterr()

    cli(
        "fit", "--data=lit_classifier.HuggingFaceDataModule", "--data.path=pets.parquet",
        "--data.image_column=img", "--data.label_column=fine", "--data.image_size=16",
        "--data.batch_size=4", "--data.num_workers=0", *FAST, "--plots.enabled=false",
    )  # fmt: skip

    err = capsys.readouterr().err
    assert "Generating train split" not in err and "%|" not in err, err
    assert not datasets.are_progress_bars_disabled()  # a notebook keeps its own settings
