"""A checkpoint is data: loading one never builds anything its author chose and the user did not.

Each planted checkpoint below loads with ``torch.load(weights_only=True)`` (it holds only plain
data), yet names ``torch.save``, a function that ships with torch and writes a file, as something to
build: in the network's place, nested inside an allowed network's arguments, inside a scheduler's
arguments, as the data module, and in Lightning's own format (``_class_path`` / ``_instantiator``).
Every loader must refuse or ignore it; the file ``marker`` is never written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import FAST, cli
from lit_classifier import ClassifierModule, export
from lit_classifier.command import plot as plot_command
from lit_classifier.errors import CheckpointError
from lit_classifier.models import SmallCNN

WRITES_A_FILE = {"class_path": "torch.save", "init_args": {"obj": 1, "f": "marker"}}

PLANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "network slot": lambda h: h.update(model=WRITES_A_FILE),
    "nested in the network's arguments": lambda h: h.update(
        model={
            "class_path": "lit_classifier.models.TorchvisionModel",
            "init_args": {"name": "resnet18", "kwargs": {"norm_layer": WRITES_A_FILE}},
        }
    ),
    "lightning's format": lambda h: h.update(
        _class_path="lit_classifier.ClassifierModule",
        _instantiator="lightning.pytorch.cli.instantiate_module",
        model=WRITES_A_FILE,
    ),
    "data module": lambda h: h.update(data=WRITES_A_FILE),
    "function on a trusted path": lambda h: h.update(
        model={
            "class_path": "lit_classifier.models.pretrained.torch.save",
            "init_args": WRITES_A_FILE["init_args"],
        }
    ),
}
# Silently ignored rather than refused: the scheduler is never built from a file.
SCHEDULER_PLANT = {
    "class_path": "torch.optim.lr_scheduler.LambdaLR",
    "init_args": {"lr_lambda": WRITES_A_FILE},
}


def plant(
    trained: Path, change: Callable[[dict[str, Any]], None], where: Path = Path("planted.ckpt")
) -> Path:
    checkpoint = torch.load(trained, weights_only=True)
    change(checkpoint["hyper_parameters"])
    where.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, where)
    torch.load(where, weights_only=True)  # the plant is plain data: weights_only does not stop it
    return where


@pytest.mark.parametrize("command", ["predict", "test", "validate", "fit"])
@pytest.mark.parametrize("payload", PLANTS)
def test_commands_refuse_a_checkpoint_that_names_a_callable(
    trained: Path, command: str, payload: str, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = plant(trained, PLANTS[payload])

    with pytest.raises(SystemExit) as exit_info:
        cli(command, f"--ckpt_path={planted}", *FAST)

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {planted}") and err.count("\n") == 1
    assert not Path("marker").exists()
    assert not Path("runs").exists() or not any(Path("runs").rglob("*.ckpt"))


@pytest.mark.parametrize("payload", PLANTS)
def test_python_loader_refuses_it_even_with_a_network_given(trained: Path, payload: str) -> None:
    planted = plant(trained, PLANTS[payload])

    if payload != "data module":  # the data module's description is kept for later, not built
        with pytest.raises(CheckpointError, match=r"planted\.ckpt"):
            ClassifierModule.load_from_checkpoint(planted)
    module = ClassifierModule.load_from_checkpoint(planted, model=SmallCNN())

    assert module.num_classes == 10
    assert not Path("marker").exists()


SHELL_COMMANDS: dict[str, Callable[[Path], None]] = {
    "export": lambda checkpoint: export.main([str(checkpoint), "model.onnx"]),
    "plot": lambda checkpoint: plot_command.main([str(checkpoint.parent.parent)]),
}


@pytest.mark.parametrize(
    ("command", "payload"),
    [(command, payload) for command in SHELL_COMMANDS for payload in PLANTS if payload != "data module"]
    + [("plot", "data module")],
)
def test_export_and_plot_refuse_it_with_one_error_line(
    trained: Path, command: str, payload: str, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = plant(trained, PLANTS[payload], Path("run/checkpoints/last.ckpt"))

    with pytest.raises(SystemExit) as exit_info:
        SHELL_COMMANDS[command](planted)

    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {planted}")
    assert not Path("marker").exists()
    assert not Path("model.onnx").exists()


@pytest.mark.parametrize("command", ["predict", "validate"])
def test_a_planted_scheduler_is_never_built_by_evaluation(trained: Path, command: str) -> None:
    planted = plant(trained, lambda h: h.update(scheduler=SCHEDULER_PLANT))

    cli(command, f"--ckpt_path={planted}", *FAST)

    assert not Path("marker").exists()


def test_resuming_with_a_planted_scheduler_is_refused_not_built(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = plant(trained, lambda h: h.update(scheduler=SCHEDULER_PLANT))

    with pytest.raises(SystemExit) as exit_info:
        cli("fit", f"--ckpt_path={planted}", *FAST)

    assert exit_info.value.code == 2
    assert "model.scheduler" in capsys.readouterr().err
    assert not Path("marker").exists()


def test_python_loader_never_builds_the_scheduler(trained: Path) -> None:
    planted = plant(trained, lambda h: h.update(scheduler=SCHEDULER_PLANT))

    module = ClassifierModule.load_from_checkpoint(planted)

    assert module.scheduler_factory is None
    assert not Path("marker").exists()


def test_a_trusted_module_lets_a_checkpoint_name_its_network(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "trusted_nets.py").write_text(
        "from lit_classifier.models import SmallCNN\n\nclass MyNet(SmallCNN):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = {"class_path": "trusted_nets.MyNet", "init_args": {"num_classes": 10, "width": 32}}
    planted = plant(trained, lambda h: h.update(model=spec))

    with pytest.raises(CheckpointError, match=r"--trusted_modules \[trusted_nets\]"):
        ClassifierModule.load_from_checkpoint(planted)
    module = ClassifierModule.load_from_checkpoint(planted, trusted_modules=["trusted_nets"])
    cli("validate", f"--ckpt_path={planted}", "--trusted_modules=[trusted_nets]", *FAST)

    assert type(module.model).__name__ == "MyNet"
