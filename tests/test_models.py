"""Reference networks and any torchvision / timm classifier, trained a few steps through the CLI."""

from __future__ import annotations

import http.server
import sys
import threading
import urllib.error
from pathlib import Path

import pytest
import torch

from helpers import cli, last_value, read_metrics, run_dir
from lit_classifier import ClassifierModule
from lit_classifier.errors import UnavailableError
from lit_classifier.models import CifarResNet18, FastCifarNet, TimmModel, TorchvisionModel, TutorialCNN

# The data class replaces the digits default, whose batch_size (64) it would otherwise inherit.
TINY = ["--data=tiny_images.TinyImages", "--data.batch_size=8"]
FEW_STEPS = ["--trainer.limit_train_batches=2", "--trainer.limit_val_batches=2", "--trainer.max_epochs=1"]


@pytest.mark.parametrize(
    ("class_path", "head"),
    [
        ("lit_classifier.models.TutorialCNN", "classifier.4"),
        ("lit_classifier.models.FastCifarNet", "head"),
        ("lit_classifier.models.CifarResNet18", "fc"),
        ("lit_classifier.models.SmallCNN", "head"),
    ],
)
def test_reference_network_trains_on_32x32_rgb_with_a_head_for_the_data(class_path: str, head: str) -> None:
    result = cli("fit", *FEW_STEPS, f"--model.model={class_path}", *TINY, "--data.classes=4")

    assert result.trainer.global_step == 2
    assert result.model.model.get_submodule(head).out_features == 4
    assert last_value(read_metrics(run_dir(result)), "val_loss") > 0


@pytest.mark.parametrize("network", [TutorialCNN, FastCifarNet, CifarResNet18])
def test_reference_network_takes_channels_from_the_data(network: type[torch.nn.Module]) -> None:
    module = ClassifierModule(network(), num_classes=5, input_shape=(1, 32, 32))

    first = next(layer for layer in module.model.modules() if isinstance(layer, torch.nn.Conv2d))
    assert first.in_channels == 1
    assert module(torch.zeros(3, 1, 32, 32)).shape == (3, 5)


@pytest.mark.parametrize(
    ("class_path", "head"),
    [
        ("torchvision.models.resnet18", "fc"),
        ("torchvision.models.mobilenet_v3_small", "classifier.3"),
        ("torchvision.models.efficientnet_b0", "classifier.1"),
    ],
)
def test_torchvision_family_trains_on_digits_with_its_head_sized(class_path: str, head: str) -> None:
    rgb_digits = ["--data.init_args.to_rgb=true", "--data.batch_size=8", "--trainer.limit_val_batches=0"]
    result = cli("fit", *FEW_STEPS, f"--model.model={class_path}", *rgb_digits)

    assert result.trainer.global_step == 2
    assert result.model.model.get_submodule(head).out_features == 10


def test_torchvision_model_by_name_from_yaml(tmp_path: Path) -> None:
    config = tmp_path / "net.yaml"
    config.write_text(
        "model:\n  init_args:\n    model:\n      class_path: lit_classifier.models.TorchvisionModel\n"
        "      init_args: {name: mobilenet_v3_small, weights: null}\n"
    )

    result = cli("fit", "--config", str(config), *FEW_STEPS, *TINY, "--data.classes=3")

    assert isinstance(result.model.model, TorchvisionModel)
    assert result.model.model.net.classifier[3].out_features == 3


def test_a_network_whose_output_cannot_match_the_classes_is_a_clear_error() -> None:
    # Flatten has no linear head to resize: it outputs 3 * 32 * 32 values per image.
    # (test_labels.py shows the same through the command line: one error line, exit status 2.)
    with pytest.raises(ValueError, match=r"Flatten outputs shape \(2, 3072\).*data has 4 classes"):
        ClassifierModule(torch.nn.Flatten(), num_classes=4, input_shape=(3, 32, 32))


def test_offline_pretrained_weights_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "empty_cache"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)

    with pytest.raises(UnavailableError) as error:
        TorchvisionModel("resnet18", weights="DEFAULT")

    message = str(error.value)
    assert "resnet18 ResNet18_Weights.IMAGENET1K_V1" in message
    assert "https://download.pytorch.org/models/resnet18-" in message
    assert "offline" in message
    assert str(tmp_path / "empty_cache" / "checkpoints") in message


def test_unknown_weights_name_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown weights 'IMAGENET' for ResNet18_Weights: .*IMAGENET1K_V1"):
        TorchvisionModel("resnet18", weights="IMAGENET")


def test_timm_model_without_timm_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm now raises ImportError

    with pytest.raises(ImportError, match=r"needs the timm package.*pip install timm"):
        TimmModel("resnet18")


def test_timm_model_gets_its_head_sized() -> None:
    pytest.importorskip("timm")

    module = ClassifierModule(TimmModel("resnet18"), num_classes=3, input_shape=(3, 32, 32))

    assert module(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_timm_pretrained_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    timm = pytest.importorskip("timm")

    def no_network(name: str, pretrained: bool = False, **kwargs: object) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(timm, "create_model", no_network)

    with pytest.raises(
        UnavailableError, match=r"weights of timm's resnet18 from the Hugging Face Hub .*offline"
    ):
        TimmModel("resnet18", pretrained=True)


def test_weights_a_server_does_not_have_are_not_called_offline() -> None:
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:  # no access lines in the test's output
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.handle_request, daemon=True).start()  # one request, then it is done
    url = f"http://127.0.0.1:{server.server_address[1]}/missing.pth"
    overlay = {"url": url, "hf_hub_id": None}

    with pytest.raises(UnavailableError) as error:
        TimmModel("test_resnet.r160_in1k", pretrained=True, kwargs={"pretrained_cfg_overlay": overlay})
    server.server_close()

    assert f"{url} answered HTTP 404, so they are not there" in str(error.value)
    assert "offline" not in str(error.value)
