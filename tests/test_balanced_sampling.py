"""``--data.sampling balanced``: each epoch draws as many images as the training split holds, every
class equally likely; every process of a distributed run takes its share of the one draw, a resumed
epoch goes on where it stood, and evaluation is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from chunk_files import converted_photos
from data_files import write_image_folder
from helpers import FAST, cli, run_dir
from lit_classifier.data.splits import distributed_sampler
from lit_classifier.data.streaming import StreamingDataModule
from lit_classifier.errors import ConfigError

LABELS = torch.tensor([0] * 90 + [1] * 10)  # one class nine times the other


def draw(num_replicas: int, rank: int, epoch: int = 0, resume_at: tuple[int, int] | None = None) -> list[int]:
    """The indices process ``rank`` of ``num_replicas`` trains on in ``epoch`` (batches of 1)."""
    dataset = TensorDataset(torch.zeros(len(LABELS)), LABELS)
    sampler = distributed_sampler(
        dataset,
        num_replicas,
        rank,
        train=True,
        seed=0,
        split="train",
        resume_at=resume_at,
        epoch=epoch,
        balanced_labels=LABELS,
    )
    assert sampler is not None
    return list(sampler)


def test_an_epoch_draws_every_class_about_equally_and_each_epoch_anew() -> None:
    first, again, second = draw(1, 0), draw(1, 0), draw(1, 0, epoch=1)

    assert len(first) == len(LABELS)
    rare_share = float((LABELS[first] == 1).float().mean())
    assert 0.35 < rare_share < 0.65  # a tenth of the images, half of the draw
    assert first == again and first != second  # a function of the seed and the epoch


def test_two_processes_share_one_draw_and_a_resumed_epoch_goes_on_where_it_stood() -> None:
    whole, shards = draw(1, 0), [draw(2, rank) for rank in (0, 1)]

    assert [index for pair in zip(*shards, strict=True) for index in pair] == whole
    assert draw(2, 1, resume_at=(0, 20)) == shards[1][20:]


def test_a_folder_run_trains_on_balanced_epochs_and_evaluates_every_image_once(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "photos", classes=("cat", "dog"), per_class=20)
    for path in sorted((root / "dog").iterdir())[4:]:
        path.unlink()  # 20 cats, 4 dogs
    data = [
        "--data=ImageFolderDataModule",
        f"--data.root={root}",
        "--data.image_size=16",
        "--data.batch_size=4",
    ]

    fit = cli(
        "fit",
        *FAST,
        "--trainer.limit_train_batches=null",
        *data,
        "--data.batch_size=4",
        "--data.sampling=balanced",
    )

    loader = fit.datamodule.train_dataloader()
    labels = torch.cat([batch[1] for batch in loader])
    assert len(labels) == len(fit.datamodule.train_set) // 4 * 4  # full batches of the split's size
    assert 0.3 < float(labels.float().mean()) < 0.7  # dogs are a sixth of the split, half the draw
    assert len(fit.datamodule.val_dataloader().dataset) == len(fit.datamodule.val_set)
    last = run_dir(fit) / "checkpoints" / "last.ckpt"
    assert (
        torch.load(last, weights_only=True)["hyper_parameters"]["data"]["init_args"]["sampling"] == "balanced"
    )
    assert cli("fit", *FAST, "--trainer.max_epochs=2", f"--ckpt_path={last}").trainer.current_epoch == 2


def test_data_that_does_not_list_its_labels_refuses_balanced_sampling(tmp_path: Path) -> None:
    chunks = converted_photos(tmp_path / "chunks")

    with pytest.raises(ConfigError, match="sampling=balanced: StreamingDataModule reads its chunks"):
        StreamingDataModule(str(chunks), sampling="balanced")
