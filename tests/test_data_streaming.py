"""Streaming data (litdata): a folder converted to chunks, trained on through the command, resumed exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from data_files import write_image_folder
from helpers import FAST, assert_same_tensors, cli, run_dir
from lit_classifier import StreamingDataModule
from lit_classifier.command.optimize import main as optimize_command
from lit_classifier.data import SyntheticDataModule, optimize_data
from lit_classifier.data.augment import Augmentation
from lit_classifier.data.streaming import evaluation_batch_size
from lit_classifier.errors import ConfigError, DataError

TINY = ["--data.image_size=16", "--data.batch_size=4", "--data.num_workers=0"]
# No augmentation and deterministic kernels: two runs that see the same samples end with equal weights.
EXACT = [
    *TINY,
    "--data.augment={flip: false, crop_scale: null}",
    "--trainer.deterministic=true",
    "--plots.enabled=false",
]


@pytest.fixture
def chunks(tmp_path: Path) -> Path:
    """photos/ (3 classes x 8 images, PNG and JPEG) converted by the command, as a user would."""
    write_image_folder(tmp_path / "photos", per_class=8)
    folder = ["--data=lit_classifier.ImageFolderDataModule", "--data.root=photos"]
    optimize_command([*folder, "--output_dir=chunks", "--num_workers=1"])
    return tmp_path / "chunks"


def stream(chunks: Path) -> list[str]:
    return ["--data=lit_classifier.StreamingDataModule", f"--data.input_dir={chunks}"]


def test_a_converted_folder_trains_through_the_command_and_predicts_new_images(
    chunks: Path, tmp_path: Path
) -> None:
    fit = cli("fit", *stream(chunks), *TINY, *FAST)
    checkpoint = run_dir(fit) / "checkpoints" / "last.ckpt"
    predict = cli(
        "predict", f"--ckpt_path={checkpoint}", f"--data.predict_root={tmp_path / 'photos' / 'dog'}"
    )

    assert sorted(path.name for path in chunks.iterdir()) == ["info", "train", "val"]  # test is val
    data = fit.datamodule
    assert data.class_names == ["cat", "dog", "fish"] and data.dims == (3, 16, 16)
    # The folder's seeded 80/20 hold-out: 19 + 5 images; training takes full batches of 4.
    assert (len(data.train_set), len(data.val_set)) == (16, 5)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["hyper_parameters"]["data"]["init_args"]["input_dir"] == str(chunks)
    assert fit.trainer.global_step == 3
    with (run_dir(predict) / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 8 and {row["prediction"] for row in rows} <= {"cat", "dog", "fish"}


def test_the_chunks_keep_the_sources_class_names_shape_statistics_and_pixels(tmp_path: Path) -> None:
    source = SyntheticDataModule(num_classes=3, channels=1, image_size=8, train_size=10, val_size=6)
    optimize_data(source, str(tmp_path / "gray"))

    data = StreamingDataModule(
        str(tmp_path / "gray"), resize=8, augment=Augmentation(), batch_size=6, num_workers=0
    )
    data.setup("fit")
    images, labels = next(iter(data.val_dataloader()))

    assert data.class_names == source.class_names and data.dims == (1, 8, 8)
    assert (data.mean, data.std) == (source.mean, source.std)
    stored = images * torch.tensor(source.std) + torch.tensor(source.mean)  # undo the standardisation
    expected = source.val_set.images.float() / 255  # type: ignore[union-attr]
    order = [int((expected - image).abs().flatten(1).sum(1).argmin()) for image in stored]
    assert sorted(order) == list(range(6))  # every image once, lossless (PNG)
    assert torch.allclose(stored, expected[order], atol=1e-5)
    assert labels.tolist() == source.val_set.labels[order].tolist()  # type: ignore[union-attr]


def test_an_object_store_url_is_streamed_into_the_cache_folder(chunks: Path, tmp_path: Path) -> None:
    # litdata's `local:` scheme reads a folder as it reads s3://: through its downloader and cache.
    data = StreamingDataModule(
        f"local:{chunks}", cache_dir=str(tmp_path / "cache"), image_size=16, batch_size=16
    )
    data.setup("fit")
    images, _ = next(iter(data.train_dataloader()))

    assert images.shape == (16, 3, 16, 16)  # one full batch of the 19 training images
    assert data.class_names == ["cat", "dog", "fish"]
    assert list((tmp_path / "cache").rglob("chunk-*.bin"))  # copied to this machine's cache


def test_every_process_of_a_launched_job_reads_the_info(
    chunks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Lightning's DDP launcher and torchrun set before each process builds its data module.
    monkeypatch.setenv("WORLD_SIZE", "2")

    local = StreamingDataModule(str(chunks))
    fetched = StreamingDataModule(f"local:{chunks}", cache_dir=str(tmp_path / "cache"))

    assert local.class_names == fetched.class_names == ["cat", "dog", "fish"]


def test_an_evaluation_split_without_a_batch_per_process_is_read_in_smaller_batches(chunks: Path) -> None:
    data = StreamingDataModule(str(chunks))
    data.setup("fit")
    val = data.val_set  # 5 images: in batches of 4 on 2 processes, the first process would get none

    assert evaluation_batch_size(val, 4, processes=2, split="val") == 2  # shares of 2 and 3
    assert evaluation_batch_size(val, 2, processes=2, split="val") == 2
    assert evaluation_batch_size(val, 4, processes=1, split="val") == 4
    with pytest.raises(ConfigError, match="the val split has 5 samples for 8 processes"):
        evaluation_batch_size(val, 4, processes=8, split="val")


def test_an_interrupted_run_resumes_at_the_next_sample(chunks: Path) -> None:
    whole = cli(
        "fit", *stream(chunks), *EXACT, "--trainer.max_epochs=2", "--trainer.logger.init_args.save_dir=a"
    )
    # Stopped after 3 of the 4 steps of epoch 1 with a checkpoint right there, then resumed.
    cli("fit", *stream(chunks), *EXACT, "--trainer.max_steps=3", "--checkpoint.every_n_train_steps=3")
    resumed = cli("fit", *stream(chunks), *EXACT, "--trainer.max_epochs=2", "--ckpt_path=last")

    assert resumed.trainer.global_step == whole.trainer.global_step == 8
    assert_same_tensors(resumed.model.state_dict(), whole.model.state_dict())  # the same samples, in order


def test_missing_chunks_are_one_line_naming_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *stream(tmp_path / "nowhere"), *TINY, *FAST)
    with pytest.raises(DataError, match="no data info at"):
        StreamingDataModule(str(tmp_path / "nowhere"))

    assert exit_info.value.code == 2
    assert f"error: no data info at {tmp_path / 'nowhere'}/info" in capsys.readouterr().err
