"""Outputs are whole and safe to open: a CSV never runs as a spreadsheet formula, a full disk leaves
no file cut short, and a folder that cannot be written is one error line naming it."""

from __future__ import annotations

import csv
import errno
import os
from pathlib import Path

import pytest

from data_files import write_image_folder
from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule, outputs
from lit_classifier.export import export
from lit_classifier.outputs import spreadsheet_cell

# Folder names a spreadsheet would run as formulas, as a class name and inside a file's path.
FORMULAS = ("=1+1", "+SUM(A1)", "@x", '=HYPERLINK("http:x","y")')
FOLDER = ["--data=lit_classifier.ImageFolderDataModule", "--data.root=photos", "--data.image_size=16"]
TINY = ["--data.batch_size=4", "--plots.enabled=false"]


def read_cells(path: Path) -> list[list[str]]:
    with path.open(newline="") as file:
        return list(csv.reader(file))


def test_a_cell_that_starts_like_a_formula_is_written_as_text() -> None:
    assert [spreadsheet_cell(text) for text in ("=1+1", "-2", "@a", "\tx", "cat", 3)] == [
        "'=1+1",
        "'-2",
        "'@a",
        "'\tx",
        "cat",
        3,
    ]


def test_class_and_file_names_from_folders_are_no_formulas_in_any_csv(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "photos", classes=FORMULAS, per_class=4)
    fit = cli("fit", *FOLDER, *TINY, *FAST)
    checkpoint = run_dir(fit) / "checkpoints" / "last.ckpt"
    predicted = cli("predict", f"--ckpt_path={checkpoint}", f"--data.predict_root=photos/{FORMULAS[0]}")

    files = [run_dir(predicted) / "predictions.csv", *run_dir(fit).glob("val_*.csv")]
    cells = [cell for path in files for row in read_cells(path) for cell in row]
    assert len(files) == 3 and cells
    assert not [cell for cell in cells if cell.startswith(outputs.FORMULA_STARTS)]
    assert "'=1+1" in cells  # the name is there, as text
    rows = list(csv.DictReader((run_dir(predicted) / "predictions.csv").open(newline="")))
    names = ClassifierModule.load_from_checkpoint(checkpoint).class_names
    assert {row["prediction"] for row in rows} == {f"'{names[int(row['class_index'])]}" for row in rows}


def test_a_full_disk_during_predict_leaves_no_csv_cut_short(
    trained: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_fsync = os.fsync

    def disk_full(descriptor: int) -> None:  # full when the predictions are written (Linux's /proc)
        if "predictions" not in os.readlink(f"/proc/self/fd/{descriptor}"):
            return real_fsync(descriptor)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", disk_full)
    with pytest.raises(SystemExit) as exit_info:
        cli("predict", f"--ckpt_path={trained}", "--trainer.limit_predict_batches=3")

    folder = Path("runs/lightning_logs/version_0")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err == f"error: no space left in {folder} to write predictions.csv: free some space\n"
    assert not [path for path in Path("runs").rglob("*") if "predictions" in path.name]


def test_a_run_folder_that_cannot_be_written_is_one_error_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_mkdir = os.mkdir

    def read_only(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if Path(path).is_relative_to(Path("shared").resolve()) or str(path).startswith("shared"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    Path("shared").mkdir()
    monkeypatch.setattr(os, "mkdir", read_only)
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--trainer.logger.init_args.save_dir=shared", *FAST)

    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: cannot write the run folder in shared/") and "read-only" in err


@pytest.mark.parametrize("name", ["model.pt2", "model.onnx"])
def test_a_full_disk_during_export_leaves_no_file(
    trained: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", disk_full)
    with pytest.raises(outputs.OutputError, match=f"no space left in out to write {name}"):
        export(trained, Path("out") / name)

    assert list(Path("out").iterdir()) == []


def test_a_full_disk_when_the_config_is_saved_leaves_no_config_cut_short(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", disk_full)
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *FAST)

    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert (
        err == "error: no space left in runs/lightning_logs/version_0 to write config.yaml: free some space\n"
    )
    assert not [path for path in Path("runs").rglob("*") if "config" in path.name]
