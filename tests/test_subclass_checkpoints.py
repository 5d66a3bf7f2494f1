"""A checkpoint of a ``ClassifierModule`` subclass is rebuilt as that subclass, with its own arguments,
by every command that reads it: nothing given at ``fit`` is repeated.

Each subclass of ``lit_classifier.examples`` is fitted once on the digits by the command line; its
checkpoint is then tested, validated, predicted with, served and exported by its path alone. The
module class a file names goes through the allowlist as its network does: a class of a module the
user does not trust is refused in one line, before that module is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import torch

from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule, examples
from lit_classifier.command.cli import main
from lit_classifier.errors import CheckpointError
from lit_classifier.examples import AdamWNoDecayOnNormsClassifier, F1Classifier, WeightedLossClassifier
from lit_classifier.export import main as export_main
from server_process import digit_png, served
from test_checkpoint_trust import plant

pytestmark = pytest.mark.xdist_group("subclass_checkpoints")  # one worker fits each subclass once

WEIGHTS = [1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0]
EVALUATE = [
    "--trainer.limit_val_batches=2",
    "--trainer.limit_test_batches=2",
    "--trainer.limit_predict_batches=2",
]


def weighted_as_fitted(module: Any) -> bool:
    """Whether ``module`` weighs the classes and smooths the labels as the fit below was told to."""
    return module.criterion.weight.tolist() == WEIGHTS and module.criterion.label_smoothing == 0.1


#: Each subclass of the examples: the options it is fitted with, and whether a module has them.
SUBCLASSES: dict[type[ClassifierModule], tuple[list[str], Callable[[Any], bool]]] = {
    WeightedLossClassifier: (
        [f"--model.class_weights={WEIGHTS}", "--model.label_smoothing=0.1"],
        weighted_as_fitted,
    ),
    AdamWNoDecayOnNormsClassifier: (["--model.lr=0.01"], lambda module: module.lr == 0.01),
    F1Classifier: ([], lambda module: True),
}


class TracedClassifier(WeightedLossClassifier):
    """A subclass of the user's own module (this one): rebuilt from a file only if they trust it."""


def test_every_subclass_of_the_examples_is_checked_here() -> None:
    defined = {
        value
        for value in vars(examples).values()
        if isinstance(value, type) and issubclass(value, ClassifierModule) and value is not ClassifierModule
    }

    assert defined == set(SUBCLASSES)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[type[ClassifierModule], Path]:
    """Each subclass fitted for a few steps by ``lit-classifier fit --model=CLASS OPTIONS``."""
    folder = tmp_path_factory.mktemp("fitted")
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for subclass, (options, _) in SUBCLASSES.items():
            fitted = cli("fit", *FAST, f"--model={subclass.__module__}.{subclass.__name__}", *options)
            found[subclass] = (run_dir(fitted) / "checkpoints" / "last.ckpt").resolve()
    return found


@pytest.mark.parametrize("subclass", SUBCLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("command", ["test", "validate", "predict"])
def test_evaluation_commands_rebuild_the_subclass_with_its_arguments(
    checkpoints: dict[type[ClassifierModule], Path], subclass: type[ClassifierModule], command: str
) -> None:
    ran = cli(command, *EVALUATE, f"--ckpt_path={checkpoints[subclass]}")

    assert type(ran.model) is subclass
    assert SUBCLASSES[subclass][1](ran.model)
    if command != "predict":
        assert f"{command.replace('validate', 'val')}_acc" in ran.trainer.callback_metrics
    if command == "validate" and subclass is F1Classifier:
        assert 0.0 <= float(ran.trainer.callback_metrics["val_f1"]) <= 1.0  # the subclass's own metric


@pytest.mark.parametrize("subclass", SUBCLASSES, ids=lambda cls: cls.__name__)
def test_load_from_checkpoint_and_export_rebuild_the_subclass(
    checkpoints: dict[type[ClassifierModule], Path], subclass: type[ClassifierModule], tmp_path: Path
) -> None:
    pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    module = ClassifierModule.load_from_checkpoint(checkpoints[subclass]).eval()
    export_main([str(checkpoints[subclass]), str(tmp_path / "model.onnx")])

    assert type(module) is subclass and SUBCLASSES[subclass][1](module)
    images = torch.randn(3, 1, 8, 8)
    (logits,) = ReferenceEvaluator(str(tmp_path / "model.onnx")).run(None, {"images": images.numpy()})
    np.testing.assert_allclose(logits, module(images).detach().numpy(), rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def weighted_url(
    checkpoints: dict[type[ClassifierModule], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``lit-classifier serve`` of the weighted-loss checkpoint: the subclass that has weights of its
    own (``criterion.weight``), which ``ClassifierModule`` lacks."""
    ckpt = checkpoints[WeightedLossClassifier]
    with served([f"--ckpt_path={ckpt}", "--accelerator=cpu"], tmp_path_factory.mktemp("server")) as base:
        yield f"{base}/predict"


def test_serve_answers_with_the_subclass_checkpoint(
    weighted_url: str, checkpoints: dict[type[ClassifierModule], Path]
) -> None:
    response = requests.post(weighted_url, files={"image": ("digit.png", digit_png(0))}, timeout=30)

    assert response.status_code == 200, response.text
    module = ClassifierModule.load_from_checkpoint(checkpoints[WeightedLossClassifier])
    assert response.json()["class_name"] in module.class_names


def test_a_checkpoint_without_a_module_class_is_a_classifier_modules(
    checkpoints: dict[type[ClassifierModule], Path],
) -> None:
    older = plant(checkpoints[F1Classifier], lambda saved: saved.pop("_class_path"))

    ran = cli("validate", *EVALUATE, f"--ckpt_path={older}")

    assert type(ran.model) is ClassifierModule
    assert type(ClassifierModule.load_from_checkpoint(older)) is ClassifierModule


@pytest.mark.parametrize(
    "class_path",
    [
        "test_subclass_checkpoints.TracedClassifier",  # the user's own, not trusted by this command
        "my_lab.never_imported.Classifier",  # refused by its name, before anything is imported
        "lit_classifier.data.DigitsDataModule",  # in the package, but no ClassifierModule
    ],
)
def test_a_module_class_outside_the_allowlist_is_refused_in_one_line(
    checkpoints: dict[type[ClassifierModule], Path],
    class_path: str,
    capsys: pytest.CaptureFixture[str],
    never_serves: None,
) -> None:
    planted = plant(checkpoints[WeightedLossClassifier], lambda saved: saved.update(_class_path=class_path))
    commands = {
        "test": lambda: cli("test", *EVALUATE, f"--ckpt_path={planted}"),
        "serve": lambda: main(["serve", f"--ckpt_path={planted}"]),
        "export": lambda: export_main([str(planted), "model.onnx"]),
    }

    for name, command in commands.items():
        with pytest.raises(SystemExit) as exit_info:
            command()

        assert exit_info.value.code == 2, name
        err = capsys.readouterr().err
        assert err.startswith(
            f"error: {planted} names the module class {class_path}, which is not a ClassifierModule of "
            "lit_classifier: if you trust it, pass --trusted_modules"
        ), err
        assert err.count("\n") == 1, err
    with pytest.raises(CheckpointError, match=f"names the module class {class_path}"):
        ClassifierModule.load_from_checkpoint(planted)
    assert not Path("model.onnx").exists()


def test_a_module_class_of_a_trusted_module_is_rebuilt(
    checkpoints: dict[type[ClassifierModule], Path],
) -> None:
    planted = plant(
        checkpoints[WeightedLossClassifier],
        lambda saved: saved.update(_class_path="test_subclass_checkpoints.TracedClassifier"),
    )

    ran = cli("test", *EVALUATE, f"--ckpt_path={planted}", "--trusted_modules=[test_subclass_checkpoints]")
    loaded = ClassifierModule.load_from_checkpoint(planted, trusted_modules=["test_subclass_checkpoints"])

    assert type(ran.model) is TracedClassifier and weighted_as_fitted(ran.model)
    assert type(loaded) is TracedClassifier and weighted_as_fitted(loaded)
