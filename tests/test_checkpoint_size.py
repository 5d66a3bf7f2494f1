"""A checkpoint costs memory and time in proportion to its size, and what it says of itself adds up.

A 1 MB file could describe a network of gigabytes (``SmallCNN(hidden=1000000)``), or hold a tensor
a thousand times its size in a compressed archive; both are refused before anything of that size is
built or read, and the peak memory of the real command, run in this process, says so. A file whose
Lightning version, progress or image size contradicts its contents is refused in one line naming the
file and the entries at odds, where Lightning would stop in a traceback or the server would prepare
every image at 3000 pixels.
"""

from __future__ import annotations

import copy
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from data_files import write_image_folder
from helpers import FAST, cli, run_dir
from lit_classifier.serving.command import main as serve
from test_image_memory import needs_peak_reset, peak_growth_mib

#: What refusing a checkpoint may add to the command's peak memory: it reads the file's record and
#: sizes the network, about 1 MiB here; building the described network would add 3.9 GiB, inflating
#: the archive the size of its zeros.
PEAK_GROWTH_MIB = 64
#: The zeros in the compressed archive: twice the growth allowed, 130 kB deflated.
ZEROS = 2**27
BILLION = 10**12


def edited(trained: Path, edit: Callable[[dict[str, Any]], None], where: str = "edited.ckpt") -> Path:
    """A copy of the ``trained`` checkpoint, saved after ``edit`` changed it."""
    checkpoint = copy.deepcopy(torch.load(trained, weights_only=True))
    edit(checkpoint)
    torch.save(checkpoint, where)
    return Path(where)


def wider(checkpoint: dict[str, Any]) -> None:
    """The record says the hidden layer has a million units; the weights have its 128."""
    checkpoint["hyper_parameters"]["model"]["init_args"]["hidden"] = 1_000_000


def deflated_with_zeros(trained: Path) -> Path:
    """``trained`` with a tensor of ``ZEROS`` bytes added, as a zip archive whose entries are
    DEFLATE-compressed (``torch.save`` stores them as they are): zeros deflate a thousandfold."""
    checkpoint = torch.load(trained, weights_only=True)
    checkpoint["state_dict"]["model.filler"] = torch.empty(ZEROS // 4)  # float32, never touched
    with torch.serialization.skip_data():  # the archive's entries, the tensors' bytes left out
        torch.save(checkpoint, "layout.ckpt")
    with (
        zipfile.ZipFile("layout.ckpt") as layout,
        zipfile.ZipFile("deflated.ckpt", "w", zipfile.ZIP_DEFLATED) as deflated,
    ):
        for entry in layout.infolist():
            with deflated.open(entry.filename, "w", force_zip64=True) as file:
                if "/data/" in entry.filename:  # a tensor's bytes
                    for start in range(0, entry.file_size, 2**24):
                        file.write(bytes(min(2**24, entry.file_size - start)))
                else:
                    file.write(layout.read(entry))
    Path("layout.ckpt").unlink()
    return Path("deflated.ckpt")


def one_error_line(capsys: pytest.CaptureFixture[str], exit_info: pytest.ExceptionInfo[SystemExit]) -> str:
    """The refused command's standard error, checked to be one line with exit status 2."""
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    return err.strip()


@needs_peak_reset
@pytest.mark.parametrize(
    ("bomb", "command", "expected"),
    [
        ("wide network", "validate", "its model.hidden.0.weight would be shaped (1000000, 1024)"),
        ("deflated archive", "test", "MiB inflate to 129 MiB (a compressed archive"),
    ],
    ids=["wide network", "deflated archive"],
)
def test_a_small_file_that_would_take_gigabytes_is_refused_within_the_commands_own_memory(
    bomb: str, command: str, expected: str, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = edited(trained, wider) if bomb == "wide network" else deflated_with_zeros(trained)
    assert checkpoint.stat().st_size < 2 * 2**20
    refused: list[pytest.ExceptionInfo[SystemExit]] = []

    def refuse() -> None:
        with pytest.raises(SystemExit) as exit_info:
            cli(command, f"--ckpt_path={checkpoint}", *FAST)
        refused.append(exit_info)

    grown_mib = peak_growth_mib(refuse)

    assert grown_mib < PEAK_GROWTH_MIB, f"refusing it grew the peak memory by {grown_mib:.0f} MiB"
    err = one_error_line(capsys, refused[0])
    assert err.startswith("error: ") and str(checkpoint) in err and expected in err


def test_serve_refuses_the_wide_network_before_building_it(
    trained: Path, never_serves: None, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = edited(trained, wider)

    with pytest.raises(SystemExit) as exit_info:
        serve([f"--ckpt_path={checkpoint}"])

    err = one_error_line(capsys, exit_info)
    assert err.startswith(
        f"error: {checkpoint}: its network lit_classifier.models.SmallCNN, built as described"
    )
    assert "would take 3,948 MiB for 0.6 MiB of weights" in err


def test_a_network_that_cannot_be_sized_without_building_it_is_not_built_from_a_file(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    regnet = {"class_path": "torchvision.models.regnet_x_400mf", "init_args": {"num_classes": 10}}
    checkpoint = edited(trained, lambda c: c["hyper_parameters"].update(model=regnet))

    with pytest.raises(SystemExit) as exit_info:
        cli("validate", f"--ckpt_path={checkpoint}", *FAST)

    assert one_error_line(capsys, exit_info) == (
        f"error: {checkpoint}: its network torchvision.models.regnet_x_400mf cannot be built as the file "
        "describes it without taking memory (on the meta device, to be sized first): Cannot copy out of "
        "meta tensor; no data. Give it yourself with --model.model (Python: model=...)"
    )


def test_a_network_whose_class_refuses_the_files_arguments_is_one_error_line(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = edited(trained, lambda c: c["hyper_parameters"]["model"]["init_args"].update(depth=9))

    with pytest.raises(SystemExit) as exit_info:
        cli("validate", f"--ckpt_path={checkpoint}", *FAST)

    assert one_error_line(capsys, exit_info).startswith(
        f"error: {checkpoint}: its network lit_classifier.models.SmallCNN cannot be built as the file "
        "describes it without taking memory (on the meta device, to be sized first): "
        "SmallCNN.__init__() got an unexpected keyword argument 'depth'. Give it yourself"
    )


@pytest.mark.parametrize("command", ["fit", "validate"])
def test_a_lightning_version_its_contents_do_not_match_is_one_error_line(
    command: str, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = edited(trained, lambda c: c.update({"pytorch-lightning_version": "0.0.1"}))

    with pytest.raises(SystemExit) as exit_info:
        cli(command, f"--ckpt_path={checkpoint}", *FAST)

    err = one_error_line(capsys, exit_info)
    assert err.startswith(
        f"error: {checkpoint} has '0.0.1' as its pytorch-lightning_version, but does not hold"
    )
    assert not list(Path().glob("runs/*/version_*"))


@pytest.mark.parametrize(
    ("command", "entry", "restored"), [("validate", "epoch", 0), ("test", "global_step", 3)]
)
def test_an_epoch_or_step_at_odds_with_the_loops_state_is_one_error_line(
    command: str, entry: str, restored: int, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = edited(trained, lambda c: c.update({entry: BILLION}))

    with pytest.raises(SystemExit) as exit_info:
        cli(command, f"--ckpt_path={checkpoint}", *FAST)

    assert one_error_line(capsys, exit_info) == (
        f"error: {checkpoint}: its {entry} is {BILLION} but its training loop's state says {restored}; "
        "Lightning writes them together, so the file was edited"
    )


def test_resuming_a_checkpoint_that_finished_more_epochs_than_max_epochs_is_one_error_line(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def finished_a_trillion_epochs(checkpoint: dict[str, Any]) -> None:
        checkpoint["epoch"] = BILLION  # and in the loops' state, which Lightning restores
        checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["completed"] = BILLION

    checkpoint = edited(trained, finished_a_trillion_epochs)

    with pytest.raises(SystemExit) as exit_info:
        cli("fit", f"--ckpt_path={checkpoint}", *FAST)

    assert one_error_line(capsys, exit_info) == (
        f"error: --ckpt_path {checkpoint} has finished {BILLION} epochs, more than --trainer.max_epochs 1: "
        "give a larger --trainer.max_epochs to train on, or evaluate it (validate, test)"
    )
    assert not list(Path().glob("runs/*/version_*"))


def test_serve_refuses_an_image_size_at_odds_with_the_input_shape(
    never_serves: None, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image_folder(Path("photos"), per_class=4)
    folder = ["--data=lit_classifier.ImageFolderDataModule", "--data.root=photos", "--data.num_workers=0"]
    fitted = cli("fit", *folder, "--data.image_size=16", "--data.batch_size=4", *FAST)
    trained = run_dir(fitted) / "checkpoints" / "last.ckpt"
    checkpoint = edited(trained, lambda c: c["hyper_parameters"]["data"]["init_args"].update(image_size=3000))

    with pytest.raises(SystemExit) as exit_info:
        serve([f"--ckpt_path={checkpoint}"])

    assert one_error_line(capsys, exit_info) == (
        f"error: {checkpoint}: its data module's image_size is 3000 but its input_shape is (3, 16, 16): the "
        "network was trained on images of one size, so the file was edited"
    )
