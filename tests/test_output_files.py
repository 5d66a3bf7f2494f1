"""Output files are written safely beside other users and on disks that fail: temporary files cannot
be planted (links at the names they would take are never followed), and a full or read-only disk is
one error line naming the folder, with nothing half-written and the previous checkpoint intact.

The disks are real: small or read-only tmpfs mounts, where this machine lets the tests mount one."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from chunk_files import converted_photos
from helpers import FAST, cli
from lit_classifier import outputs
from lit_classifier.export import main as export_command

PRECIOUS = b"the victim's own file\n"
# The old temporary names took the process id alone: an attacker planted links for the next ones.
PIDS = range(os.getpid() - 100, os.getpid() + 1000)
SHARED = ["--trainer.logger.init_args.save_dir=runs", "--trainer.logger.init_args.version=shared"]


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of the user's that a planted link points at."""
    path = tmp_path / "victim.txt"
    path.write_bytes(PRECIOUS)
    return path


def plant_links(folder: Path, names: list[str], victim: Path, kind: str = "tmp") -> list[Path]:
    """Links to ``victim`` at every name the old scheme gave a temporary of ``names`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    links = [folder / f".{name}.{kind}-{pid}" for name in names for pid in PIDS]
    for link in links:
        link.symlink_to(victim)
    return links


@contextmanager
def mounted(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs at ``folder`` with ``options`` (``size=...``, ``ro``): a real small or read-only disk.
    Skips the test where mounting is not permitted (not root, a container without the right)."""
    folder.mkdir()
    mount = None
    if shutil.which("mount"):
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", folder], capture_output=True)
    if mount is None or mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.decode().strip() if mount else 'no mount'}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", folder], check=True)


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """A folder nobody may write in: a read-only tmpfs for root (whom permissions do not stop), a
    folder without write permission for anyone else."""
    if os.geteuid() == 0:
        with mounted(folder, "ro,size=64k"):
            yield folder
        return
    folder.mkdir()
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


def one_error(capsys: pytest.CaptureFixture[str], command: Callable[[], object]) -> str:
    """The one ``error:`` line that ``command`` ends with, with exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        command()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_predict_never_writes_through_a_link_planted_at_a_temporary_name(trained: Path, victim: Path) -> None:
    folder = Path("runs/lightning_logs/shared")
    links = plant_links(folder, ["predictions.csv"], victim)

    cli("predict", f"--ckpt_path={trained}", "--trainer.limit_predict_batches=2", *SHARED)

    assert victim.read_bytes() == PRECIOUS
    written = folder / "predictions.csv"
    assert not written.is_symlink() and written.read_text().startswith("index,")
    assert all(link.readlink() == victim for link in links)  # left as they were


def test_fit_never_writes_a_checkpoint_through_a_link_planted_at_a_temporary_name(victim: Path) -> None:
    folder = Path("runs/lightning_logs/shared")
    checkpoint = folder / "checkpoints" / "epoch=0-step=3.ckpt"
    plant_links(folder / "checkpoints", [checkpoint.name], victim)
    plant_links(folder, ["val_confusion_matrix.csv", "val_per_class_accuracy.csv"], victim)

    cli("fit", *FAST, *SHARED)

    assert victim.read_bytes() == PRECIOUS
    assert not checkpoint.is_symlink() and torch.load(checkpoint, weights_only=True)["global_step"] == 3


def test_a_link_at_the_very_name_of_a_temporary_file_is_refused_not_followed(
    tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a name guessed right (here: its random part fixed) is only ever created, never opened."""
    monkeypatch.setattr(outputs.secrets, "token_hex", lambda nbytes: "guessed")
    planted = tmp_path / f".scores.csv.tmp-{os.getpid()}-guessed"
    planted.symlink_to(victim)

    with pytest.raises(FileExistsError):
        outputs.write_csv(tmp_path / "scores.csv", ["class"], [["cat"]])

    assert victim.read_bytes() == PRECIOUS and planted.readlink() == victim
    assert not (tmp_path / "scores.csv").exists()


def test_a_conversion_never_stages_in_or_removes_through_a_planted_link(tmp_path: Path) -> None:
    """Links at the old staging names, of live and dead process ids, point at the user's folder: the
    conversion stages elsewhere, and clearing dead processes' staging folders leaves links alone."""
    victim = tmp_path / "own"
    victim.mkdir()
    (victim / "notes.txt").write_bytes(PRECIOUS)
    links = plant_links(tmp_path, ["chunks"], victim, kind="partial")

    converted_photos(tmp_path / "chunks")

    assert (tmp_path / "chunks" / "train" / "index.json").is_file()
    assert [path.name for path in victim.iterdir()] == ["notes.txt"]
    assert (victim / "notes.txt").read_bytes() == PRECIOUS
    assert all(link.readlink() == victim for link in links)


def test_fit_on_a_full_disk_names_the_folder_and_keeps_the_previous_checkpoint(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Room for two checkpoints and a half: the first epoch's and best.ckpt are saved, the second
    epoch's cannot be."""
    with mounted(tmp_path / "disk", f"size={trained.stat().st_size * 5 // 2}") as disk:
        save_dir = f"--trainer.logger.init_args.save_dir={disk.name}"
        err = one_error(capsys, lambda: cli("fit", *FAST, "--trainer.max_epochs=2", save_dir))

        folder = Path(disk.name, "lightning_logs", "version_0", "checkpoints")
        assert err == (
            f"error: no space left in {folder} to write epoch=1-step=6.ckpt: free some space, then resume "
            "with --ckpt_path last\n"
        )
        assert sorted(path.name for path in folder.iterdir()) == [
            "best.ckpt",
            "epoch=0-step=3.ckpt",
            "last.ckpt",
        ]
        assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 0


def test_predict_on_a_full_disk_names_the_folder_and_leaves_no_csv(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Room for the run's config, not for its predictions."""
    with mounted(tmp_path / "disk", "size=16k") as disk:
        save_dir = f"--trainer.logger.init_args.save_dir={disk.name}"
        err = one_error(capsys, lambda: cli("predict", f"--ckpt_path={trained}", save_dir))

        folder = Path(disk.name, "lightning_logs", "version_0")
        assert err == f"error: no space left in {folder} to write predictions.csv: free some space\n"
        assert [path for path in disk.rglob("*") if path.is_file()] == []


@pytest.mark.parametrize("name", ["model.pt2", "model.onnx"])
def test_export_into_a_read_only_folder_names_it(
    trained: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with read_only(tmp_path / "shelf") as shelf:
        err = one_error(capsys, lambda: export_command([str(trained), f"{shelf.name}/{name}"]))

        assert err == f"error: cannot write {name} in {shelf.name}: the folder is read-only or not yours\n"
        assert list(shelf.iterdir()) == []
