"""``lit-classifier-sweep`` given a database it cannot trust or cannot open, or started twice at once.

The study's database is a file like any other: whoever can write it can change what a trial
recorded or queue a trial of their own. What the sweep writes and the options it runs come from the
sweep's own file; the database only says which of them a trial had.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from helpers import finish, start
from lit_classifier.sweep import main

TRIALS = ["--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2", "--plots.enabled=false"]
LR = {"model.optimizer.lr": {"type": "float", "low": 0.01, "high": 0.5, "log": True}}


def sweep_file(path: Path, study_name: str, **entries: Any) -> Path:
    args = [*TRIALS, "--trainer.max_epochs=1"]
    entries = {"space": LR, "study_name": study_name, "n_trials": 1, "args": args, **entries}
    path.write_text(yaml.safe_dump(entries))
    return path


def trials(study_name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study_name, storage="sqlite:///sweeps.db").get_trials()


def sweep_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``lit-classifier-sweep ARGS``, which must stop with exit code 2: its one error line."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_a_run_folder_changed_in_the_database_moves_no_file_and_names_no_other_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--config", str(sweep_file(Path("sweep.yaml"), "moved"))])
    [trial] = trials("moved")
    assert trial.user_attrs["run_dir"] == "runs/moved/version_0"
    elsewhere = tmp_path / "elsewhere" / "version_0"
    (elsewhere / "checkpoints").mkdir(parents=True)
    (elsewhere / "checkpoints" / "last.ckpt").write_bytes(b"planted")
    with sqlite3.connect("sweeps.db") as database:  # what anyone who can write the file can do
        database.execute(
            "UPDATE trial_user_attributes SET value_json = ? WHERE key = 'run_dir'",
            (json.dumps(str(elsewhere)),),
        )
    capsys.readouterr()

    main(["--config", "sweep.yaml"])  # the study is done: the sweep names its best trial and draws it

    out = capsys.readouterr().out
    assert not (elsewhere.parent / "study.png").exists()
    assert Path("runs/moved/study.png").read_bytes().startswith(b"\x89PNG")
    assert "checkpoint: runs/moved/version_0/checkpoints/last.ckpt" in out
    assert "elsewhere" not in out


@pytest.mark.parametrize(
    ("queued", "error"),
    [
        (1e6, "error: trial 0: model.optimizer.lr: 1000000.0 is not in 0.01..0.5: a value outside the"),
        ("--trainer.max_epochs=9", "error: trial 0: model.optimizer.lr: '--trainer.max_epochs=9' is not a"),
    ],
)
def test_a_trial_queued_in_the_database_with_a_value_outside_the_space_is_refused_naming_it(
    queued: object, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    study = optuna.create_study(study_name="queued", storage="sqlite:///sweeps.db", direction="maximize")
    study.enqueue_trial({"model.optimizer.lr": queued})
    sweep_file(Path("sweep.yaml"), "queued")

    err = sweep_error(["--config", "sweep.yaml"], capsys)

    assert err.startswith(error)
    assert not Path("runs").exists()  # it never ran
    assert [trial.state for trial in trials("queued")] == [TrialState.FAIL]  # and the next sweep goes on


@pytest.mark.parametrize(
    ("storage", "reason"),
    [
        ("notes.txt", "not a database URL"),
        ("sqlite:///notes.txt", "cannot keep the study there: file is not a database"),
        ("redis://localhost:6379/0", "no SQL database of that kind"),
        ("%%junk%%", "not a database URL"),
        ("sqlite:///missing/sweeps.db", "no folder missing to keep the database in"),
    ],
)
def test_a_storage_that_is_no_database_is_one_error_naming_it(
    storage: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("notes.txt").write_text("a text file\n")
    sweep_file(Path("sweep.yaml"), "s", storage=storage)

    err = sweep_error(["--config", "sweep.yaml"], capsys)

    assert err.startswith(f"error: sweep.yaml: storage: {storage}: {reason}")
    assert sorted(path.name for path in Path().iterdir()) == ["notes.txt", "sweep.yaml"]
    assert Path("notes.txt").read_text() == "a text file\n"


def released_together(processes: dict[Path, Any], text: str, seconds: float = 240) -> None:
    """Give each process its sweep file through its named pipe, which it waits on, at one moment."""
    writers: dict[Path, int] = {}
    deadline = time.monotonic() + seconds
    while len(writers) < len(processes):
        for pipe, process in processes.items():
            assert process.poll() is None, process.communicate()
            if pipe not in writers:
                with suppress(OSError):  # its reader is not there yet
                    writers[pipe] = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        assert time.monotonic() < deadline, "the sweeps never read their files"
        time.sleep(0.05)
    for fd in writers.values():
        os.write(fd, text.encode())
    for fd in writers.values():
        os.close(fd)


def test_two_sweeps_started_together_on_a_new_database_both_run_and_share_its_trials(tmp_path: Path) -> None:
    text = sweep_file(tmp_path / "sweep.yaml", "together", n_trials=2).read_text()
    command = [sys.executable, "-m", "lit_classifier.sweep", "--config"]
    pipes = [tmp_path / "a.yaml", tmp_path / "b.yaml"]
    for pipe in pipes:
        os.mkfifo(pipe)
    processes = {pipe: start([*command, pipe.name], tmp_path) for pipe in pipes}

    try:
        released_together(processes, text)  # both create the database's tables at the same moment
    except BaseException:
        for process in processes.values():
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        raise
    outs = finish(*processes.values())

    done = trials("together")
    assert [t.state for t in done] == [TrialState.COMPLETE] * len(done) and len(done) >= 2
    ran = [{t.number for t in done if f"trial {t.number}: val_acc" in out} for out in outs]
    assert ran[0] | ran[1] == {t.number for t in done} and not ran[0] & ran[1]  # each trial ran once


class CtrlCInSecondStep(L.Callback):
    """Ctrl+C, as the terminal sends it, in the second training step."""

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupted_trial_says_to_run_the_sweep_again_not_to_resume_a_fit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sweep_file(Path("sweep.yaml"), "stopped")

    with pytest.raises(SystemExit) as exit_info:
        main(["--config", "sweep.yaml", "--trainer.callbacks+=test_sweep_tampered.CtrlCInSecondStep"])

    assert exit_info.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted by SIGINT in epoch 1" in err
    assert "to go on, run the same sweep command again: it runs this trial again from its start" in err
    assert "--ckpt_path" not in err
    assert [trial.state for trial in trials("stopped")] == [TrialState.RUNNING]  # rerun by the next sweep
