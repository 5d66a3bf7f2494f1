"""A command reads its ``--ckpt_path`` once: the record that chooses its network and data, and the
state the run restores, come from one read of the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import FAST, cli, run_dir


def counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file ``torch.load`` reads from now on."""
    read: list[Path] = []
    load = torch.load

    def counted(file: Any, *args: Any, **kwargs: Any) -> Any:
        read.append(Path(file).resolve())
        return load(file, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counted)
    return read


@pytest.mark.parametrize("subcommand", ["validate", "test", "predict"])
def test_evaluating_a_checkpoint_reads_it_once(
    subcommand: str, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = counting_loads(monkeypatch)

    cli(
        subcommand,
        "--ckpt_path",
        str(trained),
        "--trainer.limit_val_batches=2",
        "--trainer.limit_test_batches=2",
        "--trainer.limit_predict_batches=2",
    )

    assert read == [trained.resolve()]


def test_resuming_a_run_reads_its_checkpoint_once(monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_dir(cli("fit", *FAST, "--plots.enabled=false")) / "checkpoints" / "last.ckpt"
    epoch_1 = first.resolve()  # the file last.ckpt links to until the resumed run links it to its own
    read = counting_loads(monkeypatch)

    resumed = cli("fit", *FAST, "--trainer.max_epochs=2", "--plots.enabled=false", "--ckpt_path", str(first))

    assert read == [epoch_1]
    assert resumed.trainer.current_epoch == 2  # it did resume: epoch 1 came from the file
