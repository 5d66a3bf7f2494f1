"""The compatibility matrix, second half: Lightning's stock callbacks and Trainer flags through
``lit-classifier fit`` on the digits.

Each case asks for one feature and checks the feature's own effect (the batches trained, the
validations run, the optimizer steps, the clipped gradients, ...) and that our own layers still
hold: one line per epoch, ``runs/.../checkpoints/last.ckpt``, the pictures where drawn, and an
evaluation from the checkpoint where it matters. DDP on two CPU processes is ``test_ddp.py``'s.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from helpers import FAST, assert_same_tensors, read_metrics, run_dir
from lit_classifier.checkpoints import runs
from lit_classifier.command.cli import ClassifierCLI, run

PICTURES = ("learning_curves.png", "confusion_matrix.png", "misclassified.png")


class Recorder(Callback):
    """What the Trainer did, as a callback sees it: the batches of each stage, the validations,
    the gradients before and after clipping, the dtype the network computed in."""

    def __init__(self) -> None:
        self.train_labels: dict[int, list[Tensor]] = defaultdict(list)  # epoch: each batch's labels
        self.validations: list[tuple[int, int]] = []  # (epoch, global step) of each, not the sanity check
        self.batches: dict[str, int] = defaultdict(int)  # stage: batches run (the sanity check's apart)
        # "before"/"after" clipping: each step's gradient norm and largest gradient (in magnitude)
        self.grads: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.dtypes: set[torch.dtype] = set()
        self.deterministic: bool | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.deterministic = torch.are_deterministic_algorithms_enabled()
        pl_module.register_forward_hook(lambda module, args, out: self.dtypes.add(out.dtype))

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, i: int
    ) -> None:
        self.train_labels[trainer.current_epoch].append(batch[1].clone())
        self.batches["train"] += 1

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any
    ) -> None:
        self.grads["before"].append(gradients(pl_module))  # Lightning clips after this hook

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.grads["after"].append(gradients(pl_module))  # what the optimizer stepped with

    def on_validation_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.batches["sanity" if trainer.sanity_checking else "val"] += 1

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self.validations.append((trainer.current_epoch, trainer.global_step))

    def on_test_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.batches["test"] += 1

    def on_predict_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.batches["predict"] += 1


def gradients(module: torch.nn.Module) -> tuple[float, float]:
    """The norm of all of ``module``'s gradients together, and the largest in magnitude."""
    grads = torch.cat([p.grad.flatten() for p in module.parameters() if p.grad is not None])
    return float(torch.linalg.vector_norm(grads)), float(grads.abs().max())


def fit(*args: str, recorder: Recorder | None = None) -> ClassifierCLI:
    """``lit-classifier fit`` with the tiny options and ``args`` (which override them)."""
    return run(["fit", *FAST, *args], callbacks=[recorder] if recorder else [])


def assert_run_holds(
    fitted: ClassifierCLI, out: str, epochs: int, of: int | None = None, pictures: bool = False
) -> Path:
    """Our layers still hold: one line per epoch, ``last.ckpt`` in the run folder, the pictures."""
    folder = run_dir(fitted)
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split(" |")[0] for line in lines] == [
        f"epoch {e}/{of or epochs}" for e in range(1, epochs + 1)
    ]
    assert folder.parent == Path("runs/lightning_logs") and (folder / "checkpoints" / "last.ckpt").is_file()
    assert all((folder / picture).is_file() for picture in PICTURES) == pictures
    return folder


@contextlib.contextmanager
def logged(name: str) -> Iterator[list[str]]:
    """The messages of Lightning's logger ``name`` that pass its level while the block runs (what
    a command prints on standard error), whatever pytest does with the root logger."""
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger(name).addHandler(handler)
    try:
        yield messages
    finally:
        logging.getLogger(name).removeHandler(handler)


def metric_values(folder: Path, key: str) -> list[float]:
    return [float(row[key]) for row in read_metrics(folder) if row.get(key)]


# --- fast_dev_run ---------------------------------------------------------------------------------


def test_fast_dev_run_writes_nothing_in_any_command(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lightning's fast_dev_run disables the loggers and checkpointing; ours write nothing either
    (before, ``checkpoints/last.ckpt``, the validation CSVs and ``predictions.csv`` landed in the
    current folder, and an empty ``runs/lightning_logs``)."""
    recorder = Recorder()
    fitted = run(["fit", "--trainer.fast_dev_run=true"], callbacks=[recorder])
    assert fitted.trainer.global_step == 1 and recorder.batches["val"] == 1
    assert capsys.readouterr().out.startswith("epoch 1/1 | train loss")

    for command in ("validate", "test", "predict"):
        run([command, f"--ckpt_path={trained}", "--trainer.fast_dev_run=true"])

    assert list(tmp_path.iterdir()) == []


# --- callbacks ------------------------------------------------------------------------------------


def test_learning_rate_monitor_logs_each_epochs_rate_to_metrics_csv(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fitted = fit(
        "--trainer.max_epochs=2",
        "--model.scheduler=torch.optim.lr_scheduler.StepLR",
        "--model.scheduler.step_size=1",
        "--model.scheduler.gamma=0.5",
        "--trainer.callbacks+=LearningRateMonitor",
        "--trainer.callbacks.logging_interval=epoch",
    )

    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=2)
    (column,) = [key for key in read_metrics(folder)[0] if key.startswith("lr-")]
    assert metric_values(folder, column) == pytest.approx([0.05, 0.025])


@pytest.mark.parametrize(
    "ask",
    [["--trainer.callbacks+=ModelSummary"], ["--trainer.enable_model_summary=true"]],
    ids=["callback", "flag"],
)
def test_model_summary_is_printed_when_asked_for(ask: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """The quiet commands hid it (Lightning logs it at INFO)."""
    with logged("lightning.pytorch.callbacks.model_summary") as messages:
        fitted = fit(*ask)

    assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
    assert any("Trainable params" in message and "SmallCNN" in message for message in messages)


def test_stochastic_weight_averaging_ends_on_the_averaged_weights(capsys: pytest.CaptureFixture[str]) -> None:
    """SWA copies the module in its ``setup``, which runs before the module's: the command builds the
    network before (it failed on the lazy layers); its extra epoch (batch norm's statistics) keeps
    the epoch lines' count."""
    swa_options = ["--trainer.callbacks.swa_lrs=0.01", "--trainer.callbacks.annealing_epochs=1"]
    fitted = fit(
        "--trainer.max_epochs=2",
        "--trainer.callbacks+=StochasticWeightAveraging",
        "--trainer.callbacks.swa_epoch_start=1",
        "--trainer.callbacks.device=null",
        *swa_options,
    )

    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=3)
    (swa,) = [c for c in fitted.trainer.callbacks if type(c).__name__ == "StochasticWeightAveraging"]  # type: ignore[attr-defined]
    assert swa.n_averaged is not None and int(swa.n_averaged) == 2  # epochs 1 and 2
    assert fitted.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01)
    averaged = {name: p for name, p in swa._average_model.named_parameters()}
    assert_same_tensors(dict(fitted.model.named_parameters()), averaged)
    saved = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert_same_tensors(saved, fitted.model.state_dict())
    tested = run(
        ["test", f"--ckpt_path={folder / 'checkpoints' / 'last.ckpt'}", "--trainer.limit_test_batches=2"]
    )
    assert "test_acc" in tested.trainer.callback_metrics


def test_timer_stops_the_run_at_its_duration(capsys: pytest.CaptureFixture[str]) -> None:
    fitted = fit(
        "--trainer.max_epochs=100",
        "--trainer.callbacks+=Timer",
        "--trainer.callbacks.duration=00:00:00:01",
        "--trainer.callbacks.interval=epoch",
    )

    (timer,) = [c for c in fitted.trainer.callbacks if type(c).__name__ == "Timer"]  # type: ignore[attr-defined]
    epochs = fitted.trainer.current_epoch
    assert 1 <= epochs < 100 and timer.time_elapsed("train") >= 1
    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=epochs, of=100)
    assert torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == epochs - 1


def test_device_stats_monitor_logs_the_cpu_to_metrics_csv(capsys: pytest.CaptureFixture[str]) -> None:
    fitted = fit("--trainer.callbacks+=DeviceStatsMonitor", "--trainer.log_every_n_steps=1")

    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
    assert any(key.startswith("DeviceStatsMonitor.on_train_batch") for key in read_metrics(folder)[0])


def test_a_second_model_checkpoint_writes_in_its_own_folder_and_test_reads_either(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fitted = fit(
        "--trainer.callbacks+=ModelCheckpoint",
        "--trainer.callbacks.dirpath=best",
        "--trainer.callbacks.monitor=val_acc",
        "--trainer.callbacks.mode=max",
        "--trainer.callbacks.filename=best",
    )

    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
    assert sorted(path.name for path in Path("best").iterdir()) == ["best.ckpt"]
    # An interruption's checkpoint goes beside the run's last.ckpt, where `--ckpt_path last` finds it.
    assert runs.checkpoint_folder(fitted.trainer).absolute() == (folder / "checkpoints").absolute()
    for checkpoint in ("best/best.ckpt", f"{folder}/checkpoints/last.ckpt"):
        tested = run(["test", f"--ckpt_path={checkpoint}", "--trainer.limit_test_batches=2"])
        assert "test_acc" in tested.trainer.callback_metrics


# --- Trainer flags --------------------------------------------------------------------------------


def test_overfit_batches_trains_on_the_same_batches_each_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder()
    fitted = fit("--trainer.overfit_batches=2", "--trainer.max_epochs=2", recorder=recorder)

    assert_run_holds(fitted, capsys.readouterr().out, epochs=2)
    first, second = recorder.train_labels[0], recorder.train_labels[1]
    assert len(first) == len(second) == 2
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_limit_batches_count_in_every_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder()
    fitted = fit("--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2", recorder=recorder)
    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
    checkpoint = f"--ckpt_path={folder}/checkpoints/last.ckpt"
    run(["test", checkpoint, "--trainer.limit_test_batches=2"], callbacks=[recorder])
    # Not 1: the command line reads a limit as a float, and 1.0 is all of them (LightningCLI's alike).
    predicted = run(["predict", checkpoint, "--trainer.limit_predict_batches=2"], callbacks=[recorder])

    assert dict(recorder.batches) == {"sanity": 2, "train": 3, "val": 2, "test": 2, "predict": 2}
    assert len((run_dir(predicted) / "predictions.csv").read_text().splitlines()) == 1 + 2 * 64


def test_val_check_interval_validates_mid_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder()
    fitted = fit(
        "--trainer.val_check_interval=2",
        "--trainer.limit_train_batches=4",
        "--plots.enabled=true",
        recorder=recorder,
    )

    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=1, pictures=True)
    assert recorder.validations == [(0, 2), (0, 4)]
    assert len(metric_values(folder, "val_acc")) == 2


def test_check_val_every_n_epoch_skips_validation_and_the_epoch_line_shows_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An epoch that did not validate printed the previous validation's results as its own."""
    recorder = Recorder()
    fitted = fit(
        "--trainer.check_val_every_n_epoch=2",
        "--trainer.max_epochs=3",
        "--plots.enabled=true",
        recorder=recorder,
    )

    out = capsys.readouterr().out
    folder = assert_run_holds(fitted, out, epochs=3, pictures=True)
    assert [epoch for epoch, _ in recorder.validations] == [1]
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert ["val loss" in line for line in lines] == [False, True, False]
    assert len(metric_values(folder, "val_acc")) == 1


def test_accumulate_grad_batches_makes_fewer_optimizer_steps(capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder()
    fitted = fit("--trainer.accumulate_grad_batches=2", "--trainer.limit_train_batches=4", recorder=recorder)

    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
    assert recorder.batches["train"] == 4 and fitted.trainer.global_step == 2
    assert (folder / "checkpoints" / "last.ckpt").resolve().name == "epoch=0-step=2.ckpt"


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_gradient_clip_val_clips_the_gradients(algorithm: str, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder()
    fitted = fit(
        "--trainer.gradient_clip_val=0.01",
        f"--trainer.gradient_clip_algorithm={algorithm}",
        recorder=recorder,
    )

    assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
    which = 0 if algorithm == "norm" else 1  # the norm of all, or each gradient
    assert len(recorder.grads["after"]) == 3
    assert min(grads[which] for grads in recorder.grads["before"]) > 0.02  # clipping had work to do
    assert max(grads[which] for grads in recorder.grads["after"]) <= 0.01 * 1.001


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_on_the_cpu_computes_in_bf16(
    precision: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lightning has no fp16 autocast on the CPU: it says so and runs bf16-mixed."""
    recorder = Recorder()
    warns = pytest.warns(UserWarning, match="not supported on CPU") if precision == "16-mixed" else None
    with warns or contextlib.nullcontext():
        fitted = fit(f"--trainer.precision={precision}", recorder=recorder)

    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
    assert recorder.dtypes == {torch.bfloat16}
    saved = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    # Mixed precision keeps the weights in fp32.
    assert {t.dtype for t in saved.values() if t.is_floating_point()} == {torch.float32}
    if precision == "bf16-mixed":  # evaluated in bf16 too
        checkpoint = f"--ckpt_path={folder}/checkpoints/last.ckpt"
        tested = run(
            ["test", checkpoint, f"--trainer.precision={precision}", "--trainer.limit_test_batches=2"]
        )
        assert "test_acc" in tested.trainer.callback_metrics


def test_deterministic_runs_give_identical_weights(capsys: pytest.CaptureFixture[str]) -> None:
    recorders = [Recorder(), Recorder()]
    folders = [
        assert_run_holds(fit("--trainer.deterministic=true", recorder=r), capsys.readouterr().out, epochs=1)
        for r in recorders
    ]

    assert [r.deterministic for r in recorders] == [True, True]
    first, second = (
        torch.load(f / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"] for f in folders
    )
    assert_same_tensors(first, second)


def test_a_profilers_report_file_lands_in_the_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fitted = fit("--trainer.profiler=SimpleProfiler", "--trainer.profiler.filename=perf")

    folder = assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
    assert "FIT Profiler Report" in (folder / "fit-perf.txt").read_text()
    assert [path.name for path in tmp_path.iterdir()] == ["runs"]


def test_a_profilers_report_without_a_file_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The quiet commands hid it (Lightning logs it at INFO)."""
    with logged("lightning.pytorch.profilers.profiler") as messages:
        fitted = fit("--trainer.profiler=advanced")

    assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
    assert any("FIT Profiler Report" in message and "Profile stats for" in message for message in messages)
    assert [path.name for path in tmp_path.iterdir()] == ["runs"]


def test_enable_progress_bar_false_runs_without_any_bar(capsys: pytest.CaptureFixture[str]) -> None:
    """Lightning refuses a progress-bar callback beside ``enable_progress_bar=False``: the command
    stopped with a MisconfigurationException before any work."""
    fitted = fit("--trainer.enable_progress_bar=false")

    assert fitted.trainer.progress_bar_callback is None
    assert_run_holds(fitted, capsys.readouterr().out, epochs=1)
