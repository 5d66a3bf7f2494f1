"""Lightning's stock loggers and callbacks through ``lit-classifier fit`` (the compatibility matrix,
first half): each feature has its own effect, and our epoch lines, checkpoint and one-line errors
still hold beside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import FAST, cli, run_dir

TINY = [*FAST, "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"]
EPOCH_LINE = re.compile(r"epoch \d+(/\d+)? \| train loss .* \| val loss .* s")


def epoch_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if EPOCH_LINE.match(line)]


def one_checkpoint(under: Path) -> Path:
    """The one ``.../checkpoints/last.ckpt`` written under ``under``."""
    found = sorted(under.rglob("checkpoints/last.ckpt"))
    assert len(found) == 1, found
    return found[0]


def no_finder_files() -> None:
    """Lightning's finders save temporary ``.scale_batch_size_*`` / ``.lr_find_*`` checkpoints."""
    left = list(Path().rglob(".*.ckpt"))
    assert not left, left


# --- loggers ----------------------------------------------------------------------------------------


def test_csv_and_tensorboard_loggers_share_one_run_folder(capsys: pytest.CaptureFixture[str]) -> None:
    folder = run_dir(
        cli(
            "fit",
            *TINY,
            "--trainer.logger+=lightning.pytorch.loggers.TensorBoardLogger",
            "--trainer.logger.save_dir=runs",
        )
    )

    assert folder == Path("runs/lightning_logs/version_0")
    assert sorted(p.name for p in Path("runs/lightning_logs").iterdir()) == ["version_0"]
    assert (folder / "metrics.csv").read_text().startswith("epoch,")
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    assert one_checkpoint(Path("runs")) == folder / "checkpoints" / "last.ckpt"
    assert len(epoch_lines(capsys.readouterr().out)) == 1


def test_mlflow_logger_with_a_local_store(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow", reason="MLflow is not installed (pip install mlflow-skinny)")
    # MLflow 3 refuses its file store (the MLFlowLogger's save_dir) unless asked for; a sqlite
    # store needs no such switch but has no folder for Lightning's log_dir (see the report).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    logger = [
        "--trainer.logger=lightning.pytorch.loggers.MLFlowLogger",
        "--trainer.logger.save_dir=runs/mlruns",
    ]

    cli("fit", *TINY, *logger)
    out = capsys.readouterr().out

    checkpoint = one_checkpoint(Path("runs/mlruns"))
    experiment, run = checkpoint.parts[-4:-2]
    run_folder = Path("runs/mlruns", experiment, run)
    assert (run_folder / "meta.yaml").is_file()  # MLflow's run: Lightning put the checkpoints inside it
    assert float((run_folder / "metrics" / "val_loss").read_text().split()[1]) > 0
    assert not Path("runs/mlruns/lightning_logs").exists()  # no run folder reserved for a CSV logger
    assert len(epoch_lines(out)) == 1
    assert f"checkpoints in {run_folder / 'checkpoints'}" in out

    cli("test", *TINY, *logger, f"--ckpt_path={checkpoint}")
    assert "test_acc" in capsys.readouterr().out


def test_wandb_logger_offline(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    wandb = pytest.importorskip("wandb", reason="wandb is not installed")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for folder in ("CACHE", "CONFIG", "DATA"):  # nothing of the test's outside its folder
        monkeypatch.setenv(f"WANDB_{folder}_DIR", str(Path(f"wandb-{folder.lower()}").absolute()))
    try:
        cli(
            "fit",
            *TINY,
            "--trainer.logger=lightning.pytorch.loggers.WandbLogger",
            "--trainer.logger.save_dir=runs",
            "--trainer.logger.offline=true",
            "--trainer.logger.project=digits",
        )
    finally:
        wandb.finish()
        wandb.teardown()  # its service process ends with the test
    out = capsys.readouterr().out

    (offline_run,) = Path("runs/wandb").glob("offline-run-*")
    run_id = offline_run.name.rsplit("-", 1)[1]
    assert (offline_run / f"run-{run_id}.wandb").stat().st_size > 0
    assert one_checkpoint(Path("runs")) == Path("runs/digits", run_id, "checkpoints", "last.ckpt")
    assert not Path("runs/lightning_logs").exists()
    assert len(epoch_lines(out)) == 1
    assert f"checkpoints in {Path('runs/digits', run_id, 'checkpoints')}" in out


# --- stops ------------------------------------------------------------------------------------------

EARLY_STOPPING = [
    "--trainer.callbacks+=EarlyStopping",
    "--trainer.callbacks.monitor=val_loss",
    "--trainer.callbacks.patience=0",
    "--trainer.callbacks.min_delta=100",  # no epoch improves on the first by that much
]
EARLY_STOPPING_YAML = """\
trainer:
  callbacks:
    - class_path: lightning.pytorch.callbacks.EarlyStopping
      init_args: {monitor: val_loss, patience: 0, min_delta: 100}
"""


@pytest.mark.parametrize("given", ["options", "config"])
def test_early_stopping_says_why_and_when(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    Path("stop.yaml").write_text(EARLY_STOPPING_YAML)
    how = EARLY_STOPPING if given == "options" else ["--config=stop.yaml"]

    folder = run_dir(cli("fit", *TINY, "--trainer.max_epochs=5", *how))
    out = capsys.readouterr().out

    assert [line.split(" |")[0] for line in epoch_lines(out)] == ["epoch 1/5", "epoch 2/5"]
    stops = [line for line in out.splitlines() if line.startswith("stopped")]
    assert len(stops) == 1, out
    assert stops[0].startswith("stopped early at epoch 2/5: EarlyStopping: Monitored metric val_loss")
    assert (folder / "checkpoints" / "last.ckpt").is_file()


def test_max_time_says_that_the_time_ran_out(capsys: pytest.CaptureFixture[str]) -> None:
    folder = run_dir(cli("fit", *TINY, "--trainer.max_epochs=10000", "--trainer.max_time=00:00:00:01"))
    out = capsys.readouterr().out

    stops = [line for line in out.splitlines() if line.startswith("stopped")]
    assert len(stops) == 1, out
    assert re.fullmatch(
        r"stopped early at epoch \d+/10000: the time limit of 0:00:01 ran out \(max_time\)", stops[0]
    )
    assert epoch_lines(out)
    assert (folder / "checkpoints" / "last.ckpt").is_file()


# --- monitors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--checkpoint.monitor=val_los"], "--checkpoint.monitor val_los"),
        ([*EARLY_STOPPING[:2], "--trainer.callbacks.monitor=val_los"], "EarlyStopping(monitor='val_los')"),
        (
            ["--early_stopping.patience=1", "--early_stopping.monitor=val_los"],
            "--early_stopping.monitor val_los",
        ),
    ],
    ids=["checkpoint", "early-stopping", "early-stopping-option"],
)
def test_a_misspelt_monitor_is_one_error_line_before_any_work(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *TINY, *args)

    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {named}: ClassifierModule logs no metric of that name; "), (
        captured.err
    )
    assert "did you mean val_loss?" in captured.err and captured.err.count("\n") == 1
    assert not epoch_lines(captured.out)  # refused before the first epoch
    assert not Path("runs").exists() or not any(Path("runs").rglob("*.yaml")), "a run folder was left behind"


def test_a_metric_a_subclass_logs_can_be_monitored(capsys: pytest.CaptureFixture[str]) -> None:
    fit = cli(
        "fit",
        *TINY,
        "--trainer.max_epochs=2",
        "--model=lit_classifier.examples.F1Classifier",
        "--checkpoint.monitor=val_f1",
        "--checkpoint.mode=max",
        *EARLY_STOPPING[:1],
        "--trainer.callbacks.monitor=val_f1",
        "--trainer.callbacks.mode=max",  # patience 3: not stopping within 2 epochs
    )
    out = capsys.readouterr().out

    assert fit.trainer.checkpoint_callback.best_model_score is not None  # type: ignore[union-attr]
    assert (run_dir(fit) / "checkpoints" / "last.ckpt").is_file()
    assert len(epoch_lines(out)) == 2 and "stopped" not in out


# --- batch size finder ------------------------------------------------------------------------------


def test_batch_size_finder_stops_at_the_training_split_and_says_what_it_chose(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = cli(
        "fit",
        *TINY,
        "--trainer.callbacks+=BatchSizeFinder",
        "--trainer.callbacks.init_val=1024",  # 1024, then 2048: the whole split (1168)
        "--trainer.callbacks.steps_per_trial=1",
    )
    out = capsys.readouterr().out

    assert result.datamodule.batch_size == 1168  # the digits' training split
    assert [line for line in out.splitlines() if "batch size" in line] == [
        "batch size 1168, chosen by BatchSizeFinder"
    ]
    assert len(epoch_lines(out)) == 1
    assert (run_dir(result) / "checkpoints" / "last.ckpt").is_file()
    no_finder_files()
