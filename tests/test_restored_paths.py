"""The paths a run restores from a checkpoint or finds in its run folder never lead outside the run.

A ``ModelCheckpoint`` removes the files its saved state names (the previous best, the previous last,
the worst of the top k) once it has saved newer ones, and Lightning restores that state from the
file a run resumes: a file naming ``.../checkpoints/../../../../victim.txt`` made ``fit --ckpt_path``
delete ``victim.txt``. And ``last.ckpt``, a link to the newest ``epoch=N-step=M.ckpt``, stays linked
to a removed file when a run is killed between removing the previous epoch's file and linking to the
new one, and is missing when it is killed while Lightning replaces the link: ``--ckpt_path last`` then
takes the newest checkpoint of that run that is there, and says so.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from helpers import FAST, cli, run_dir
from lit_classifier.callbacks import RunCheckpoint
from lit_classifier.checkpoints.runs import resolve_last
from lit_classifier.command import plot as plot_command
from lit_classifier.serving.command import RUNS

# The resumed run is the first in the test's folder: its checkpoints go to version_0/checkpoints.
NEW_RUN = Path("runs", "lightning_logs", "version_0", "checkpoints")
VICTIM = Path("victim.txt")  # beside runs/, outside the run
ELSEWHERE = "memory://victim.txt"  # on another file system (fsspec's in-memory one: no network here)
ESCAPE = str(NEW_RUN / ".." / ".." / ".." / ".." / VICTIM)  # in the run's folder, by its text
ZERO = torch.tensor(0.0)

# What a planted file restores into the run's checkpoint callback, and the callback's options under
# which Lightning removes that file at the first save (the top k are kept for a monitored metric).
PLANTS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "best_model_path": ({"best_model_path": ESCAPE}, {}),
    "last_model_path": ({"last_model_path": ESCAPE}, {}),
    "best_k_models": (
        {"best_k_models": {ESCAPE: ZERO}, "kth_best_model_path": ESCAPE, "kth_value": ZERO},
        {"monitor": "val_acc", "mode": "max"},
    ),
    "another file system": ({"best_model_path": ELSEWHERE}, {}),
}


@pytest.fixture
def victims() -> Iterator[None]:
    """Files that are not the run's: one beside it, one on another file system."""
    memory = fsspec.filesystem("memory")
    VICTIM.write_text("not the run's")
    memory.pipe(ELSEWHERE, b"not the run's")
    yield
    if memory.exists(ELSEWHERE):  # that file system outlives the test
        memory.rm(ELSEWHERE)


def assert_intact() -> None:
    assert VICTIM.read_text() == "not the run's"
    assert fsspec.filesystem("memory").cat(ELSEWHERE) == b"not the run's"


def plant(trained: Path, state_key: str, state: dict[str, Any]) -> Path:
    """A copy of ``trained`` whose checkpoint callback state, stored under ``state_key``, has
    ``state`` on top. It names the new run's folder as its own: Lightning restores the paths but the
    best one only into the folder they were saved in."""
    checkpoint = torch.load(trained, weights_only=True)
    saved = next(iter(checkpoint["callbacks"].values()))
    checkpoint["callbacks"] = {state_key: {**saved, "dirpath": str(NEW_RUN), **state}}
    torch.save(checkpoint, "planted.ckpt")
    return Path("planted.ckpt").resolve()


def resume_one_epoch(ckpt_path: str, *options: str) -> None:
    """``fit --ckpt_path`` one more epoch than ``trained`` ran: the resumed run saves, and removes."""
    resumed = cli("fit", *FAST, "--trainer.max_epochs=2", *options, f"--ckpt_path={ckpt_path}")
    assert resumed.trainer.global_step == 6


@pytest.mark.parametrize("field", PLANTS)
@pytest.mark.usefixtures("victims")
def test_a_resume_removes_no_file_outside_its_run(trained: Path, field: str) -> None:
    state, options = PLANTS[field]
    planted = plant(trained, RunCheckpoint(**options).state_key, state)

    resume_one_epoch(str(planted), *(f"--checkpoint.{name}={value}" for name, value in options.items()))

    assert_intact()
    # The run's own checkpoints are kept as always: the newest epoch's file, last.ckpt linking to it,
    # and the best epoch's.
    kept = ["best.ckpt", "epoch=1-step=6.ckpt", "last.ckpt"]
    assert sorted(path.name for path in NEW_RUN.iterdir()) == kept


@pytest.mark.usefixtures("victims")
def test_a_checkpoint_given_as_a_url_removes_nothing_either(trained: Path) -> None:
    planted = plant(trained, RunCheckpoint().state_key, {"best_model_path": ESCAPE})

    resume_one_epoch(f"simplecache::file://{planted}")  # read by Lightning (fsspec), not by the command

    assert_intact()


@pytest.mark.usefixtures("victims")
def test_a_model_checkpoint_of_the_users_own_is_confined_too(trained: Path) -> None:
    planted = plant(trained, ModelCheckpoint().state_key, {"best_model_path": ESCAPE})

    resume_one_epoch(str(planted), "--trainer.callbacks+=ModelCheckpoint")

    assert_intact()


@pytest.fixture
def two_epochs(capsys: pytest.CaptureFixture[str]) -> Path:
    """The checkpoint folder of a run of two epochs that kept both epochs' files."""
    folder = (
        run_dir(cli("fit", *FAST, "--trainer.max_epochs=2", "--checkpoint.save_top_k=-1")) / "checkpoints"
    )
    capsys.readouterr()
    return folder


# How a run's last.ckpt comes to link to a removed file, and the file that stands in for it.
DANGLING = {
    "killed while moving on to epoch 2's file": ("epoch=0-step=3.ckpt", "epoch=1-step=6.ckpt"),
    "its file removed, epoch 1's kept": ("epoch=1-step=6.ckpt", "epoch=0-step=3.ckpt"),
}


def link_to_removed(folder: Path, removed: str) -> None:
    (folder / removed).unlink()
    (folder / "last.ckpt").unlink()
    (folder / "last.ckpt").symlink_to(removed)


@pytest.mark.parametrize("state", DANGLING)
def test_fit_resumes_a_dangling_last_from_the_newest_intact_checkpoint_of_its_run(
    two_epochs: Path, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    removed, stand_in = DANGLING[state]
    link_to_removed(two_epochs, removed)

    resumed = cli("fit", *FAST, "--trainer.max_epochs=3", "--ckpt_path=last")

    out = capsys.readouterr().out
    assert (
        f"--ckpt_path last: {two_epochs / 'last.ckpt'} links to a file that is gone, so the newest intact "
        f"checkpoint of that run is used: {two_epochs / stand_in}\n"
    ) in out
    epoch = int(stand_in[6]) + 1
    assert f"resuming after epoch {epoch} (global step {3 * epoch})" in out
    assert resumed.trainer.global_step == 9


def test_validate_and_serve_take_the_same_stand_in(
    two_epochs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link_to_removed(two_epochs, "epoch=0-step=3.ckpt")
    line = (
        f"--ckpt_path last: {two_epochs / 'last.ckpt'} links to a file that is gone, so the newest intact "
        f"checkpoint of that run is used: {two_epochs / 'epoch=1-step=6.ckpt'}\n"
    )

    cli("validate", "--trainer.limit_val_batches=2", "--ckpt_path=last")
    assert line in capsys.readouterr().out
    # What `serve --ckpt_path last` serves (starting a server would add nothing to this).
    assert resolve_last(RUNS, None, "serve") == str(two_epochs / "epoch=1-step=6.ckpt")
    assert capsys.readouterr().out == line


@pytest.mark.parametrize("command", ["fit", "validate"])
def test_a_dangling_last_with_no_intact_checkpoint_left_is_one_error_naming_the_run(
    two_epochs: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (two_epochs / "epoch=1-step=6.ckpt").unlink()
    link_to_removed(two_epochs, "epoch=0-step=3.ckpt")

    with pytest.raises(SystemExit) as exit_info:
        cli(command, *FAST, "--ckpt_path=last")

    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"error: --ckpt_path last: {two_epochs / 'last.ckpt'} links to a file that is gone, and no intact "
        f"checkpoint is left in {two_epochs}: give --ckpt_path another checkpoint, or fit a new run\n"
    )
    assert [path.name for path in two_epochs.parent.parent.iterdir()] == ["version_0"]  # no new run folder


def test_plot_draws_a_run_whose_last_link_is_dangling(two_epochs: Path) -> None:
    link_to_removed(two_epochs, "epoch=0-step=3.ckpt")

    plot_command.main([str(two_epochs.parent)])

    assert (two_epochs.parent / "misclassified.png").is_file()  # drawn by epoch 2's checkpoint


@pytest.mark.parametrize("command", ["fit", "validate"])
def test_a_run_killed_while_its_last_link_was_replaced_resumes_from_its_newest_checkpoint(
    two_epochs: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lightning removes last.ckpt, then links it to the new epoch's file: killed in between, the run
    # has its epochs' files and no last.ckpt. An earlier run's last.ckpt must not stand in for it.
    earlier = two_epochs.parent.parent / "version_earlier" / "checkpoints"
    earlier.mkdir(parents=True)
    (earlier / "last.ckpt").symlink_to((two_epochs / "epoch=0-step=3.ckpt").resolve())
    (two_epochs / "last.ckpt").unlink()
    # A learning-rate finder killed in the run's folder leaves a hidden checkpoint: no state of the run.
    shutil.copy(two_epochs / "epoch=0-step=3.ckpt", two_epochs / ".lr_find_1234.ckpt")

    cli(command, *FAST, "--trainer.max_epochs=3", "--ckpt_path=last")

    newest = two_epochs / "epoch=1-step=6.ckpt"
    out = capsys.readouterr().out
    assert (
        f"--ckpt_path last: {two_epochs} has no last.ckpt, so the newest checkpoint of that run is used: "
        f"{newest}\n"
    ) in out
    assert command != "fit" or "resuming after epoch 2 (global step 6)" in out
