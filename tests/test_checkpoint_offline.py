"""Names and paths read from a file never reach the network; only the user's own command line may.

A checkpoint's record can name a timm model by its Hugging Face Hub name (``hf-hub:org/name``), which
timm resolves on the hub even without pretrained weights; a local folder's dataset card can list its
data files by URL, which ``datasets`` fetches whoever named the folder. Both are refused in one line
naming the file and the field before anything is fetched: every connection and host name lookup
of a test is recorded, and fails as on a machine without a network.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import FAST, cli
from lit_classifier.data.huggingface import datasets_progress_off
from lit_classifier.serving.command import main as serve
from test_checkpoint_fetches_nothing import plant
from test_data_huggingface import image_table

HUB_MODEL = {
    "class_path": "lit_classifier.models.TimmModel",
    "init_args": {"name": "hf-hub:someone/their-model", "pretrained": False},
}
CARD = """\
---
configs:
- config_name: default
  data_files:
  - split: train
    path: train.parquet
  - split: validation
    path: {validation}
---
Photos of apples and pears.
"""
HF_OPTIONS = ["--data.image_column=img", "--data.label_column=fine", "--data.num_workers=0"]


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name lookup and connection attempted while the test runs; each fails, as offline."""
    attempts: list[str] = []

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(f"lookup {host}")
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def connect(sock: socket.socket, address: Any) -> None:
        attempts.append(f"connect {address}")
        raise ConnectionRefusedError("offline")

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def photos_with_card(validation: str) -> Path:
    """A local Hugging Face folder: real parquet files, and a card whose ``data_files`` list the
    validation split at ``validation``."""
    folder = Path("photos")
    folder.mkdir()
    with datasets_progress_off():
        image_table(8, ["apple", "pear"]).to_parquet(str(folder / "train.parquet"))
        image_table(4, ["apple", "pear"]).to_parquet(str(folder / "validation.parquet"))
    (folder / "README.md").write_text(CARD.format(validation=validation))
    return folder


def one_error_line(capsys: pytest.CaptureFixture[str], exit_info: pytest.ExceptionInfo[SystemExit]) -> str:
    """The refused command's standard error, checked to be one line with exit status 2."""
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize(
    "command",
    [
        lambda checkpoint: cli("validate", f"--ckpt_path={checkpoint}", *FAST),
        lambda checkpoint: serve([f"--ckpt_path={checkpoint}"]),
    ],
    ids=["validate", "serve"],
)
def test_a_hub_model_named_by_a_checkpoint_is_refused_before_any_fetch(
    command: Callable[[Path], object],
    trained: Path,
    network: list[str],
    capsys: pytest.CaptureFixture[str],
    never_serves: None,
) -> None:
    planted = plant(trained, lambda record: record.update(model=HUB_MODEL))

    with pytest.raises(SystemExit) as exit_info:
        command(planted)

    assert one_error_line(capsys, exit_info).startswith(
        f"error: {planted}: its network lit_classifier.models.TimmModel has "
        "name='hf-hub:someone/their-model', which is not one of timm's own models"
    )
    assert network == []


def test_a_folder_whose_card_lists_a_url_is_refused_before_any_fetch(
    network: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = photos_with_card("https://example.com/validation.parquet")
    fit = ["fit", "--data=lit_classifier.HuggingFaceDataModule", f"--data.path={folder}", *HF_OPTIONS, *FAST]

    with pytest.raises(SystemExit) as exit_info:
        cli(*fit)

    assert one_error_line(capsys, exit_info) == (
        f"error: {folder / 'README.md'}: its configs list the data file "
        "'https://example.com/validation.parquet', which is not on this machine, and a folder is read "
        "from this machine only: download the file into the folder and list it by its path there"
    )
    assert not list(Path().glob("runs/*/version_*"))
    # Done as the line says, the card lists the folder's own file, and the folder's files are read.
    (folder / "README.md").write_text(CARD.format(validation="validation.parquet"))
    fitted = cli(*fit, "--data.image_size=16", "--data.batch_size=4")
    assert [len(fitted.datamodule.splits[split]) for split in ("train", "val")] == [8, 4]
    assert network == []


def test_a_folder_named_by_a_checkpoint_is_read_from_this_machine_only(
    trained: Path, network: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = photos_with_card("hf://datasets/someone/photos/validation.parquet").resolve()
    options = {"path": str(folder), "image_column": "img", "label_column": "fine", "image_size": 8}
    data = {"class_path": "lit_classifier.HuggingFaceDataModule", "init_args": {**options, "channels": 1}}
    planted = plant(trained, lambda record: record.update(data=data))

    with pytest.raises(SystemExit) as exit_info:
        cli("validate", f"--ckpt_path={planted}", *FAST)

    assert one_error_line(capsys, exit_info).startswith(f"error: {folder / 'README.md'}: its configs list")
    assert network == []
