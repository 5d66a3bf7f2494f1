"""The ``lit-classifier`` command end to end: fit, validate, test, predict, configs and errors."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from helpers import FAST, assert_same_tensors, cli, last_value, read_metrics, run_dir
from lit_classifier import ClassifierModule

REPO = Path(__file__).resolve().parents[1]


def test_default_fit_trains_small_cnn_on_digits_to_97_percent() -> None:
    result = cli("fit")

    folder = run_dir(result)
    rows = read_metrics(folder)
    assert result.trainer.current_epoch == 8
    assert last_value(rows, "val_acc") >= 0.97
    assert last_value(rows, "train_loss") < 0.1
    assert (folder / "checkpoints" / "last.ckpt").is_file()
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["model"]["init_args"]["model"]["class_path"] == "lit_classifier.models.SmallCNN"
    hparams = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]
    assert hparams["num_classes"] == 10  # taken from the data module, never typed


def test_config_file_says_the_same_as_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli("fit", "--print_config")
    defaults = yaml.safe_load(capsys.readouterr().out)
    with pytest.raises(SystemExit):
        cli("fit", "--config", str(REPO / "configs" / "digits.yaml"), "--print_config")
    from_file = yaml.safe_load(capsys.readouterr().out)

    assert from_file == defaults


def test_fit_with_config_file_and_override() -> None:
    result = cli("fit", "--config", str(REPO / "configs" / "digits.yaml"), "--trainer.max_epochs=2")

    assert result.trainer.current_epoch == 2
    assert last_value(read_metrics(run_dir(result)), "val_acc") > 0.5


def test_epoch_summary_line_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    cli("fit", *FAST, "--trainer.max_epochs=2")

    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2 | train loss ")
    assert "| val loss " in lines[0]
    assert lines[0].endswith(" s")


def test_torchvision_model_by_class_path_gets_the_data_class_count() -> None:
    result = cli("fit", *FAST, "--model.model=torchvision.models.resnet18", "--data.init_args.to_rgb=true")

    network = result.model.model
    assert type(network).__name__ == "ResNet"
    assert network.fc.out_features == 10
    assert result.trainer.current_epoch == 1


def test_users_own_class_by_class_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_nets.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            class MLP(nn.Module):
                def __init__(self, hidden: int = 32, classes: int = 3):
                    super().__init__()
                    self.net = nn.Sequential(
                        nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, classes)
                    )

                def forward(self, x):
                    return self.net(x)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    result = cli("fit", *FAST, "--model.model=my_nets.MLP", "--model.model.hidden=16")

    assert result.model.model.net[-1].out_features == 10  # resized from 3 to the digits' 10
    assert result.model.model.net[1].out_features == 16


def test_validate_and_test_reload_the_saved_checkpoint() -> None:
    fitted = cli("fit", "--trainer.max_epochs=2")
    checkpoint = run_dir(fitted) / "checkpoints" / "last.ckpt"
    fit_val_acc = last_value(read_metrics(run_dir(fitted)), "val_acc")

    validated = cli("validate", f"--ckpt_path={checkpoint}")
    tested = cli("test", f"--ckpt_path={checkpoint}")

    assert last_value(read_metrics(run_dir(validated)), "val_acc") == pytest.approx(fit_val_acc)
    assert last_value(read_metrics(run_dir(tested)), "test_acc") > 0.8


def test_predict_writes_one_row_per_test_image() -> None:
    fitted = cli("fit", "--trainer.max_epochs=2")
    checkpoint = run_dir(fitted) / "checkpoints" / "last.ckpt"

    predicted = cli("predict", f"--ckpt_path={checkpoint}")

    with (run_dir(predicted) / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    datamodule = predicted.datamodule
    assert len(rows) == len(datamodule.test_set)
    assert [int(row["index"]) for row in rows] == list(range(len(rows)))
    assert {row["prediction"] for row in rows} <= set(datamodule.class_names)
    assert all(0.0 < float(row["probability"]) <= 1.0 for row in rows)
    labels = [int(label) for _, label in datamodule.test_set]
    correct = sum(row["prediction"] == str(label) for row, label in zip(rows, labels, strict=True))
    assert correct / len(rows) > 0.8


def test_cli_checkpoint_loads_as_plain_data_and_rebuilds_the_network() -> None:
    fitted = cli("fit", *FAST)
    checkpoint = run_dir(fitted) / "checkpoints" / "last.ckpt"

    state = torch.load(checkpoint, weights_only=True)
    module = ClassifierModule.load_from_checkpoint(checkpoint, weights_only=True)

    assert state["hyper_parameters"]["model"]["class_path"] == "lit_classifier.models.SmallCNN"
    assert module.class_names == [str(i) for i in range(10)]
    assert_same_tensors(module.state_dict(), state["state_dict"])


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("--model.optimizer.lr=-1", "Invalid learning rate: -1.0"),
        ("--data.init_args.batch_size=0", "batch_size must be at least 1, got 0"),
    ],
)
def test_bad_value_names_the_value(argument: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", argument)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("--model.lrr=0.1", "unknown option --model.lrr (did you mean --model.optimizer.lr?)"),
        ("--trainer.max_epochs=three", "--trainer.max_epochs: 'three' is not an int"),
    ],
)
def test_unknown_key_or_wrong_type_names_the_key(
    argument: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", argument)

    assert exit_info.value.code != 0
    assert message in capsys.readouterr().err


def test_help_lists_the_model_and_data_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--help")

    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--model" in help_text
    assert "--data" in help_text
    assert "--trainer.max_epochs" in help_text
