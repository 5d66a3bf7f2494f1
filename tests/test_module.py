"""ClassifierModule on its own: head sizing, shape checks, metrics and checkpoints from Python."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lit_classifier import ClassifierModule, DigitsDataModule
from lit_classifier.errors import CheckpointError
from lit_classifier.models import SmallCNN
from lit_classifier.optim import RecipeSGD


def test_resizes_a_torchvision_imagenet_head_to_the_class_count() -> None:
    module = ClassifierModule(torchvision.models.resnet18(), num_classes=7, input_shape=(3, 32, 32))

    assert module.model.fc.out_features == 7
    assert module(torch.zeros(4, 3, 32, 32)).shape == (4, 7)


def test_lazy_small_cnn_takes_its_channels_from_the_input_shape() -> None:
    module = ClassifierModule(SmallCNN(), num_classes=10, input_shape=(3, 32, 32))

    assert module.model.features[0][0].weight.shape == (32, 3, 3, 3)


def test_wrong_channel_count_is_a_clear_error_at_construction() -> None:
    with pytest.raises(ValueError, match=r"ResNet cannot run on the data's images, shaped \(1, 8, 8\)"):
        ClassifierModule(torchvision.models.resnet18(), num_classes=10, input_shape=(1, 8, 8))


def test_a_head_that_cannot_be_resized_is_reported() -> None:
    conv_head = nn.Sequential(nn.Conv2d(1, 5, 8), nn.Flatten())  # 5 outputs, no linear layer

    with pytest.raises(ValueError, match=r"outputs shape \(2, 5\).*data has 10 classes"):
        ClassifierModule(conv_head, num_classes=10, input_shape=(1, 8, 8))


def test_takes_class_count_and_names_from_the_data_module() -> None:
    module = ClassifierModule(SmallCNN(num_classes=3))
    trainer = L.Trainer(fast_dev_run=True, logger=False, enable_progress_bar=False)

    trainer.fit(module, datamodule=DigitsDataModule())

    assert module.num_classes == 10
    assert module.class_names == [str(i) for i in range(10)]
    assert module.model.head.out_features == 10


def test_data_with_another_class_count_than_the_model_is_refused() -> None:
    module = ClassifierModule(SmallCNN(), num_classes=4)
    trainer = L.Trainer(fast_dev_run=True, logger=False, enable_progress_bar=False)

    with pytest.raises(ValueError, match="built for 4 classes but DigitsDataModule has 10"):
        trainer.fit(module, datamodule=DigitsDataModule())


def test_plain_dataloaders_need_num_classes() -> None:
    data = TensorDataset(torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,)))
    trainer = L.Trainer(fast_dev_run=True, logger=False, enable_progress_bar=False)

    with pytest.raises(ValueError, match="pass num_classes"):
        trainer.fit(ClassifierModule(nn.Sequential(nn.Flatten(), nn.Linear(64, 3))), DataLoader(data))


def test_python_checkpoint_holds_plain_data_and_reloads_with_the_network(tmp_path: Path) -> None:
    optimizer = partial(RecipeSGD, lr=0.1)
    module = ClassifierModule(SmallCNN(), num_classes=10, input_shape=(1, 8, 8), optimizer=optimizer)
    trainer = L.Trainer(max_steps=2, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.fit(module, datamodule=DigitsDataModule())
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    state = torch.load(path, weights_only=True)
    reloaded = ClassifierModule.load_from_checkpoint(path, model=SmallCNN(), weights_only=True)

    record = state["hyper_parameters"]
    assert record["model"] == {"class_path": "lit_classifier.models.small_cnn.SmallCNN", "init_args": None}
    assert record["optimizer"] == {"class_path": "lit_classifier.optim.RecipeSGD", "init_args": {"lr": 0.1}}
    assert reloaded.num_classes == 10
    images = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(reloaded.eval()(images), module.eval()(images))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"optimizer": partial(RecipeSGD, lr=-1.0)}, "Invalid learning rate: -1.0"),
        ({"optimizer": partial(RecipeSGD, momentum=-1.0)}, "Invalid momentum value: -1.0"),
        ({"label_smoothing": 1.0}, "label_smoothing must be in"),
        ({"num_classes": 1}, "num_classes must be at least 2"),
        ({"num_classes": 3, "class_names": ["a", "b"]}, "class_names has 2 names"),
    ],
)
def test_impossible_options_are_refused_at_construction(option: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClassifierModule(SmallCNN(), **option)


def test_default_optimizer_is_the_recipes_sgd() -> None:
    module = ClassifierModule(SmallCNN(), num_classes=10, input_shape=(1, 8, 8))

    optimizer = module.configure_optimizers()

    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["lr"] == 0.05
    assert optimizer.defaults["momentum"] == 0.9


def test_the_readme_saves_and_reloads_a_checkpoint_without_lightnings_weights_only_line(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from test_readme import BLOCKS, run_python

    (block,) = [b for b in BLOCKS if b.document == "README.md" and "load_from_checkpoint(" in b.code]

    with caplog.at_level(logging.INFO):
        run_python(block.code, block.document)

    said = [*capsys.readouterr(), *(record.getMessage() for record in caplog.records)]
    assert not [line for line in said if "weights_only" in line]
    saved = torch.load("digits.ckpt", weights_only=True)  # plain data, as load_from_checkpoint reads it
    assert saved["hyper_parameters"]["class_names"] == [str(digit) for digit in range(10)]


def test_load_from_checkpoint_reads_plain_data_only_when_given_the_network_too(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (exec, ("open('marker', 'w').close()",))

    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload()}}, tmp_path / "planted.ckpt")

    with pytest.raises(CheckpointError, match="it holds pickled objects other than plain data"):
        ClassifierModule.load_from_checkpoint(tmp_path / "planted.ckpt", model=SmallCNN())
    assert not Path("marker").exists()
