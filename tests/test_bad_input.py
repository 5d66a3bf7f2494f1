"""Bad input ends with one ``error:`` line naming the thing at fault (exit code 2), before any work,
with no run folder left behind; from Python, the same reason as an exception."""

from __future__ import annotations

import errno
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import FAST, cli
from lit_classifier import ClassifierModule
from lit_classifier.checkpoints import io as checkpoint_io
from lit_classifier.errors import CheckpointError


def one_error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli(*args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not Path("runs").exists() or not any(Path("runs").rglob("*.yaml")), "a run folder was left behind"
    return err


NOT_CHECKPOINTS: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "README": (
        lambda path, _: path.write_text("# lit-classifier\n\nTrain any image classifier.\n"),
        "a text file",
    ),
    "JPEG": (lambda path, _: path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(200)), "a JPEG image"),
    "random bytes": (
        lambda path, _: path.write_bytes(bytes(range(256)) * 8),
        "binary data of an unknown kind",
    ),
    "truncated": (
        lambda path, good: path.write_bytes(good.read_bytes()[:5000]),
        "a truncated or damaged zip archive",
    ),
    "list": (lambda path, _: torch.save([1, 2, 3], path), "a PyTorch file holding a list"),
    "dict": (lambda path, _: torch.save({"weights": torch.zeros(2)}, path), "a PyTorch file holding a dict"),
    "empty": (lambda path, _: path.write_bytes(b""), "an empty file"),
}


@pytest.mark.parametrize("kind", NOT_CHECKPOINTS)
@pytest.mark.parametrize("command", ["predict", "validate", "fit"])
def test_a_file_that_is_not_a_checkpoint_is_named_for_what_it_is(
    trained: Path, kind: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write, what = NOT_CHECKPOINTS[kind]
    write(Path("bad.ckpt"), trained)

    err = one_error_line(capsys, command, "--ckpt_path=bad.ckpt", *FAST)

    assert what in err and "bad.ckpt" in err
    assert "--weights_only false" not in err  # never steers toward the unsafe switch
    with pytest.raises(CheckpointError, match=what):
        ClassifierModule.load_from_checkpoint("bad.ckpt")


def test_python_loader_gives_the_command_lines_reason_for_a_pickle_payload() -> None:
    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (exec, ("open('marker', 'w').close()",))

    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload()}}, "planted.ckpt")

    with pytest.raises(CheckpointError, match=r"refused to load planted\.ckpt: it holds pickled objects"):
        ClassifierModule.load_from_checkpoint("planted.ckpt")
    assert not Path("marker").exists()


def test_a_checkpoint_of_another_width_names_the_file_and_the_first_layer(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = one_error_line(capsys, "validate", f"--ckpt_path={trained}", "--model.model.width=16", *FAST)

    assert f"error: {trained}: its weight model.features.0.0.weight is shaped (32, 1, 3, 3)" in err
    assert "this network's is (16, 1, 3, 3)" in err


def test_a_full_disk_names_the_folder_keeps_the_previous_checkpoint_and_no_temporary_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_save, saves = torch.save, []

    def save_until_the_disk_is_full(obj: object, file: Any, *args: Any, **kwargs: Any) -> None:
        if "epoch=" in file.name:  # the run's own checkpoints; best.ckpt is written beside them
            saves.append(file)
        if len(saves) < 2:
            return real_save(obj, file, *args, **kwargs)
        file.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_io.torch, "save", save_until_the_disk_is_full)
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *FAST, "--trainer.max_epochs=2", "--plots.enabled=false")

    assert exit_info.value.code == 2
    folder = Path("runs/lightning_logs/version_0/checkpoints")
    assert f"error: no space left in {folder} to write epoch=1-step=6.ckpt" in capsys.readouterr().err
    assert sorted(path.name for path in folder.iterdir()) == ["best.ckpt", "epoch=0-step=3.ckpt", "last.ckpt"]
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 0


@pytest.mark.parametrize("epochs", ["0", "-5"])
def test_max_epochs_that_train_nothing_are_refused(epochs: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_error_line(capsys, "fit", f"--trainer.max_epochs={epochs}")

    assert f"--trainer.max_epochs {epochs} trains nothing" in err


def test_predict_without_a_checkpoint_is_refused_unless_the_network_is_pretrained(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = one_error_line(capsys, "predict", *FAST)

    assert "predict needs --ckpt_path" in err


def test_two_runs_started_together_get_their_own_folders(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "lit_classifier", "fit", *FAST, "--plots.enabled=false"]
    runs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(3)]
    for process in runs:
        assert process.wait(timeout=180) == 0, process.stderr.read() if process.stderr else ""

    folders = sorted(path.name for path in (tmp_path / "runs" / "lightning_logs").iterdir())
    assert folders == ["version_0", "version_1", "version_2"]
    for folder in folders:
        assert len(list((tmp_path / "runs" / "lightning_logs" / folder / "checkpoints").glob("*.ckpt"))) == 3


RECORDS_OF_NO_USE: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "garbled Lightning version": (
        lambda saved: saved.update({"pytorch-lightning_version": "not.a.version!"}),
        "has 'not.a.version!' as its pytorch-lightning_version",
    ),
    "no Lightning version": (
        lambda saved: saved.pop("pytorch-lightning_version"),
        "has no pytorch-lightning_version",
    ),
    "class count as text": (
        lambda saved: saved["hyper_parameters"].update(num_classes="10"),
        "its num_classes is '10', not a whole number of classes",
    ),
    "image shape of no use": (
        lambda saved: saved["hyper_parameters"].update(input_shape=[1, "x", -3]),
        "its input_shape is [1, 'x', -3], not three whole numbers",
    ),
}


@pytest.mark.parametrize("command", ["validate", "fit"])
@pytest.mark.parametrize("case", RECORDS_OF_NO_USE, ids=list(RECORDS_OF_NO_USE))
def test_a_checkpoint_with_a_record_of_no_use_is_one_error_naming_the_entry(
    trained: Path, case: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    change, reason = RECORDS_OF_NO_USE[case]
    saved = torch.load(trained, weights_only=True)
    change(saved)
    torch.save(saved, "edited.ckpt")

    err = one_error_line(capsys, command, "--ckpt_path=edited.ckpt", *FAST)

    assert err.startswith("error: edited.ckpt") and reason in err
    with pytest.raises(CheckpointError, match=re.escape(reason)):
        ClassifierModule.load_from_checkpoint("edited.ckpt")


def test_a_folder_as_ckpt_path_is_named_a_folder_with_the_checkpoint_inside(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = trained.parent.parent

    err = one_error_line(capsys, "validate", f"--ckpt_path={run}", *FAST)

    assert (
        err == f"error: --ckpt_path {run} is a directory, not a checkpoint file (did you mean {trained}?)\n"
    )


@pytest.mark.parametrize(
    ("content", "holds"), [("", "is empty"), ("- a\n- b\n", "holds a list, not options")]
)
def test_a_config_file_of_no_options_is_one_error_naming_it(
    content: str, holds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("run.yaml").write_text(content)

    err = one_error_line(capsys, "fit", "--config", "run.yaml", *FAST)

    assert err.startswith(f"error: --config run.yaml: the file {holds}; a config is a YAML mapping")


def test_a_config_file_naming_a_function_as_the_network_is_one_error_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Path("run.yaml").write_text("model:\n  model:\n    class_path: os.system\n    init_args: {command: ls}\n")

    err = one_error_line(capsys, "fit", "--config", "run.yaml", *FAST)

    assert err.startswith("error: --model.model: ") and "os.system" in err
