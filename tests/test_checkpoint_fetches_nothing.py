"""A checkpoint makes no command fetch anything: no weights, no data from elsewhere, no downloads.

The planted checkpoints below load with ``weights_only=True`` and name only allowed classes, yet
ask for pretrained weights from a URL of the file's choosing, for torchvision's weights, for data
in an object store or on the Hugging Face Hub, and for a download. A listener on 127.0.0.1 stands
in for the attacker's server (the object store and the hub are pointed at it too), and
``socket.getaddrinfo`` records every host name looked up: neither sees a thing.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from chunk_files import converted_photos
from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule, DigitsDataModule
from lit_classifier.checkpoints.trust import build, trusted_network

TINY_TIMM = ["--model.model=lit_classifier.models.TimmModel", "--model.model.name=test_resnet.r160_in1k"]


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.hits = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            self.hits += 1
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.server.close()


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    """The attacker's server, with the object store's and the hub's addresses pointed at it."""
    server = Listener()
    url = f"http://127.0.0.1:{server.port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("HF_ENDPOINT", url)
    yield server
    server.close()


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name looked up while the test runs (each then fails, as offline)."""
    seen: list[str] = []

    def record(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(host))
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", record)
    return seen


def plant(checkpoint: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    saved = torch.load(checkpoint, weights_only=True)
    change(saved["hyper_parameters"])
    torch.save(saved, "planted.ckpt")
    return Path("planted.ckpt")


def test_a_timm_network_from_a_checkpoint_fetches_no_weights(listener: Listener) -> None:
    trained = run_dir(cli("fit", *TINY_TIMM, "--data.to_rgb=true", "--plots.enabled=false", *FAST))
    overlay = {"url": f"http://127.0.0.1:{listener.port}/weights.pth", "hf_hub_id": None}

    def ask_for_weights(record: dict[str, Any]) -> None:
        record["model"]["init_args"].update(pretrained=True, kwargs={"pretrained_cfg_overlay": overlay})

    planted = plant(trained / "checkpoints" / "last.ckpt", ask_for_weights)
    validated = cli("validate", f"--ckpt_path={planted}", "--plots.enabled=false", *FAST)
    module = ClassifierModule.load_from_checkpoint(planted)

    assert listener.hits == 0
    assert validated.trainer.callback_metrics["val_acc"] >= 0  # it ran, on the checkpoint's weights
    assert module.model.net.pretrained_cfg.get("url") != overlay["url"]


@pytest.mark.parametrize(
    "network",
    [
        {"class_path": "torchvision.models.resnet18", "init_args": {"weights": "DEFAULT"}},
        {
            "class_path": "lit_classifier.models.TorchvisionModel",
            "init_args": {"name": "resnet18", "weights": "IMAGENET1K_V1"},
        },
    ],
)
def test_torchvision_weights_named_in_a_checkpoint_are_not_fetched(
    network: dict[str, Any], lookups: list[str]
) -> None:
    spec = trusted_network(network, "planted.ckpt")
    built = build(spec)

    assert spec["init_args"]["weights"] is None
    assert isinstance(built, torch.nn.Module) and lookups == []


REMOTE_DATA = {
    "object store": ("StreamingDataModule", "input_dir", "s3://bucket/photos"),
    "hub": ("HuggingFaceDataModule", "path", "someone/their-photos"),
    "hub parquet": ("HuggingFaceDataModule", "path", "hf://datasets/someone/photos/train.parquet"),
}


@pytest.mark.parametrize("remote", REMOTE_DATA, ids=list(REMOTE_DATA))
def test_a_checkpoints_data_module_reads_this_machine_only(
    remote: str, trained: Path, listener: Listener, capsys: pytest.CaptureFixture[str]
) -> None:
    module, option, location = REMOTE_DATA[remote]
    data = {"class_path": f"lit_classifier.{module}", "init_args": {option: location}}
    planted = plant(trained, lambda record: record.update(data=data))

    with pytest.raises(SystemExit) as exit_info:
        cli("validate", f"--ckpt_path={planted}", *FAST)

    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {planted}: its data module lit_classifier.{module} reads {option}=")
    assert f"give --data.{option} yourself" in err
    assert listener.hits == 0


class MirroredDigits(DigitsDataModule):
    """A user's data module whose location argument has a name of its own choosing."""

    def __init__(self, mirror: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mirror = mirror


@pytest.mark.parametrize(
    "mirror",
    ["https://example.com/digits.npz", "HTTPS://example.com/digits.npz", ["here.npz", "s3://bucket/x"]],
)
def test_a_location_is_refused_whatever_the_argument_that_names_it(
    mirror: object, trained: Path, listener: Listener, capsys: pytest.CaptureFixture[str]
) -> None:
    data = {"class_path": f"{__name__}.MirroredDigits", "init_args": {"mirror": mirror}}
    planted = plant(trained, lambda record: record.update(data=data))

    with pytest.raises(SystemExit) as exit_info:
        cli("validate", f"--ckpt_path={planted}", f"--trusted_modules=[{__name__}]", *FAST)

    remote = mirror if isinstance(mirror, str) else mirror[1]
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"error: {planted}: its data module {__name__}.MirroredDigits reads mirror={remote!r}, which is "
        "not on this machine, and a file does not choose where data is fetched from: give --data.mirror "
        "yourself, or choose the data with --data\n"
    )
    assert listener.hits == 0


def test_a_string_that_only_looks_like_a_url_is_read_as_given(trained: Path, listener: Listener) -> None:
    data = {"class_path": f"{__name__}.MirroredDigits", "init_args": {"mirror": "std::vector"}}
    planted = plant(trained, lambda record: record.update(data=data))

    validated = cli("validate", f"--ckpt_path={planted}", f"--trusted_modules=[{__name__}]", *FAST)

    assert validated.datamodule.mirror == "std::vector"
    assert listener.hits == 0


def test_a_location_the_command_gives_replaces_the_checkpoints(tmp_path: Path) -> None:
    chunks = converted_photos(tmp_path / "chunks")
    data_options = ["--data=lit_classifier.StreamingDataModule", f"--data.input_dir={chunks}"]
    fit = cli(
        "fit", *data_options, "--data.image_size=8", "--data.batch_size=4", "--plots.enabled=false", *FAST
    )
    remote = {"input_dir": "s3://bucket/photos", "cache_dir": "/elsewhere", "image_size": 8, "batch_size": 4}
    data = {"class_path": "lit_classifier.data.streaming.StreamingDataModule", "init_args": remote}
    planted = plant(run_dir(fit) / "checkpoints" / "last.ckpt", lambda record: record.update(data=data))

    validated = cli("validate", f"--ckpt_path={planted}", *data_options, *FAST)

    assert validated.datamodule.input_dir == str(chunks) and validated.datamodule.cache_dir is None
    assert validated.datamodule.image_size == 8  # the checkpoint's own options still apply


def test_a_checkpoints_data_module_never_downloads(
    trained: Path, lookups: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    data = {
        "class_path": "lit_classifier.MNISTDataModule",
        "init_args": {"data_dir": "here", "download": True},
    }
    planted = plant(trained, lambda record: record.update(data=data))

    with pytest.raises(SystemExit):
        cli("validate", f"--ckpt_path={planted}", *FAST)

    assert "MNISTDataModule: download is off, and these files are missing" in capsys.readouterr().err
    assert lookups == [] and not Path("here").exists()
