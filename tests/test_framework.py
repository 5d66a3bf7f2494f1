"""What the package reads of Lightning's, litdata's and argparse's undocumented state, against the
installed versions: each test here fails when a release changes what ``lit_classifier.framework``
reaches for, and the last one fails when another module of the package reaches for it directly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from jsonargparse import ArgumentParser
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lit_classifier import framework
from lit_classifier.framework import HelpTextFormatter

SOURCE = Path(framework.__file__).parent


class Regression(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.restarting_when_loaded: bool | None = None

    def train_dataloader(self) -> DataLoader[Any]:
        self.restarting_when_loaded = framework.restarting(self.trainer)  # as the sampler asks it
        return DataLoader(TensorDataset(torch.randn(12, 2), torch.randn(12, 1)), batch_size=4)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return nn.functional.mse_loss(self.layer(batch[0]), batch[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Saving(L.LightningModule):
    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.save_hyperparameters()


class Readings(Callback):
    """What the framework module reads at each hook of a fit; ``save_at``: the file a checkpoint is
    saved to after the second batch, as an interrupted run saves one."""

    def __init__(self, save_at: Path | None = None) -> None:
        self.batches: list[tuple[int, bool]] = []
        self.epochs_at_end: list[int] = []
        self.save_at = save_at

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.batches.append((framework.batches_begun(trainer), framework.ended_epoch(trainer)))
        if self.save_at is not None and len(self.batches) == 2:
            trainer.save_checkpoint(self.save_at)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs_at_end.append(framework.epochs_processed(trainer))


def fit(
    tmp_path: Path, epochs: int, ckpt_path: Path | None = None, save_at: Path | None = None
) -> tuple[Readings, Regression]:
    readings = Readings(save_at)
    trainer = L.Trainer(
        max_epochs=epochs,
        default_root_dir=tmp_path,
        callbacks=[readings],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    module = Regression()
    trainer.fit(module, ckpt_path=ckpt_path and str(ckpt_path))
    return readings, module


def test_the_fit_loop_is_read_where_it_stands_and_as_its_checkpoint_saved_it(tmp_path: Path) -> None:
    readings, module = fit(tmp_path, epochs=2, save_at=tmp_path / "mid-epoch.ckpt")

    assert readings.batches == [(1, False), (2, False), (3, True)] * 2
    assert readings.epochs_at_end == [1, 2]  # counted before the epoch's end hooks
    assert module.restarting_when_loaded is False

    [saved] = (tmp_path / "checkpoints").glob("*.ckpt")  # the epochs' end
    checkpoint = torch.load(saved, weights_only=True)
    assert framework.saved_batch_progress(checkpoint) == (3, True)
    # saved at the second epoch's end, before Lightning counts that epoch completed; 6 steps taken
    assert framework.saved_counts(checkpoint) == (1, [6, 0])
    assert framework.saved_loader_state(checkpoint) is False

    mid_epoch = torch.load(tmp_path / "mid-epoch.ckpt", weights_only=True)
    assert framework.saved_batch_progress(mid_epoch) == (2, False)
    assert framework.saved_counts(mid_epoch) == (0, [2, 0])
    resumed, module = fit(tmp_path / "again", epochs=1, ckpt_path=tmp_path / "mid-epoch.ckpt")
    assert module.restarting_when_loaded is True
    assert resumed.batches == [(3, True)]


def test_a_checkpoint_without_loops_has_no_counts_and_an_edited_one_raises() -> None:
    assert framework.saved_counts({"state_dict": {}}) is None
    assert framework.saved_batch_progress({}) == (0, True)
    with pytest.raises(LookupError):
        framework.saved_counts({"loops": {"fit_loop": {}}})


def test_the_callbacks_set_are_the_ones_the_trainer_calls(tmp_path: Path) -> None:
    readings = Readings()
    trainer = L.Trainer(max_epochs=1, default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    framework.set_callbacks(trainer, [*framework.callbacks_of(trainer), readings])
    assert framework.callbacks_of(trainer)[-1] is readings
    trainer.fit(Regression(), DataLoader(TensorDataset(torch.randn(4, 2), torch.randn(4, 1)), batch_size=4))
    assert readings.batches == [(1, True)]


def test_the_launcher_of_several_processes_keeps_the_processes_it_started() -> None:
    alone = L.Trainer(accelerator="cpu", devices=1, logger=False)
    assert framework.launched_processes(alone) == []
    several = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    assert isinstance(several.strategy.launcher.procs, list)  # type: ignore[union-attr]
    assert framework.launched_processes(several) == []  # none started before it runs


def test_the_cli_keys_are_the_ones_lightning_cli_saves() -> None:
    from lightning.pytorch.cli import LightningCLI

    args = [f"--model={Saving.__module__}.Saving", "--model.width=5"]
    cli = LightningCLI(L.LightningModule, subclass_mode_model=True, run=False, args=args)
    assert set(framework.CLI_KEYS) <= set(cli.model.hparams)
    assert cli.model.hparams[framework.CLASS_PATH_KEY].endswith("Saving")


def test_a_streaming_dataset_made_the_sole_reader_reads_every_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litdata import StreamingDataset

    from chunk_files import write_chunks

    write_chunks(tmp_path / "chunks", [{"index": i} for i in range(5)])
    monkeypatch.setenv("WORLD_SIZE", "2")  # as in each process of a two-process run
    shared = StreamingDataset(str(tmp_path / "chunks"))
    assert len(shared) < 5
    alone = StreamingDataset(str(tmp_path / "chunks"))
    framework.make_sole_reader(alone)
    alone.set_drop_last(False)
    assert sorted(sample["index"] for sample in alone) == list(range(5))


def test_the_builders_of_datasets_are_named() -> None:
    pytest.importorskip("datasets")
    assert {"imagefolder", "parquet", "csv"} <= framework.datasets_builders()


def test_the_option_strings_and_the_help_text_hook() -> None:
    class Shouting(HelpTextFormatter):
        def help_text(self, action: Any, text: str) -> str:
            return text.upper()

    parser = ArgumentParser(formatter_class=Shouting, exit_on_error=False)
    parser.add_argument("--width", type=int, default=3, help="how wide")
    assert {"-h", "--help", "--width"} <= set(framework.option_strings(parser))
    assert "HOW WIDE" in parser.format_help()


#: Undocumented names of the frameworks, which only ``framework.py`` may use.
PRIVATE = re.compile(
    r"\b(fit_loop|epoch_loop|batch_progress|epoch_progress|distributed_env|procs|_actions|_get_help_string"
    r"|_PACKAGED_DATASETS_MODULES)\b"
    r"|[\"'](loops|_class_path|_instantiator)[\"']|\btrainer\.callbacks\b(?!\+=)"
)


def test_no_other_module_reaches_for_an_undocumented_name() -> None:
    found = [
        f"{path.relative_to(SOURCE)}:{number}: {line.strip()}"
        for path in sorted(SOURCE.rglob("*.py"))
        if path.name != "framework.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []
