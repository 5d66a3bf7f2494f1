"""``class_weights``: the training loss weighs each class by the inverse of its count in the training
split (``"balanced"``) or by the weights given; evaluation losses stay unweighted, and the checkpoint
serves every later command."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from data_files import write_image_folder
from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule
from lit_classifier.data.splits import ImageTensors
from lit_classifier.errors import ConfigError
from lit_classifier.export import main as export_main
from lit_classifier.models import SmallCNN
from lit_classifier.module import loss_weights


class HeldSplit:
    train_set = ImageTensors(torch.zeros(10, 1, 8, 8), torch.tensor([0] * 6 + [1] * 3 + [2]), "held")


def test_balanced_weights_are_the_inverse_of_each_class_count() -> None:
    weights = loss_weights("balanced", 3, HeldSplit())

    assert weights is not None
    assert weights.tolist() == pytest.approx([10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1)])
    assert loss_weights("balanced", 4, HeldSplit()).tolist()[3] == pytest.approx(10 / 4)  # absent class


def test_the_training_loss_is_weighted_and_the_evaluation_losses_are_not() -> None:
    module = ClassifierModule(SmallCNN(), num_classes=3, input_shape=(1, 8, 8), class_weights=[1.0, 2.0, 4.0])
    module.loss_weights = loss_weights(module.class_weights, 3, None)
    images, targets = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 2, 1, 0])
    logits = module.model(images)

    trained = module.training_step((images, targets), 0)
    validated = module._shared_step((images, targets), module.val_metrics)[0]

    assert trained.item() == pytest.approx(
        F.cross_entropy(logits, targets, weight=torch.tensor([1.0, 2.0, 4.0])).item(), rel=1e-5
    )
    assert validated.item() == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-5)


def test_a_folder_run_weighs_its_rare_class_and_its_checkpoint_serves_every_command(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "photos", classes=("cat", "dog"), per_class=8)
    for path in sorted((root / "dog").iterdir())[2:]:
        path.unlink()  # 8 cats, 2 dogs
    data = ["--data=ImageFolderDataModule", f"--data.root={root}", "--data.image_size=16"]

    fit = cli("fit", *FAST, *data, "--data.batch_size=4", "--model.class_weights=balanced")

    counts = torch.bincount(torch.tensor(fit.datamodule.train_set.labels), minlength=2)
    assert fit.model.loss_weights.tolist() == pytest.approx((counts.sum() / (2 * counts)).tolist())
    assert fit.model.loss_weights[1] > fit.model.loss_weights[0]  # the dogs are rare
    last = run_dir(fit) / "checkpoints" / "last.ckpt"
    assert "loss_weights" not in str(torch.load(last, weights_only=True)["state_dict"].keys())
    tested = cli("test", f"--ckpt_path={last}")  # the checkpoint names its data
    assert "test_acc" in tested.trainer.callback_metrics
    assert cli("predict", f"--ckpt_path={last}", f"--data.predict_root={root / 'cat'}").trainer.state.finished
    export_main([str(last), str(tmp_path / "model.onnx")])
    assert (tmp_path / "model.onnx").stat().st_size > 0


def test_a_resumed_fit_keeps_its_class_weights_and_refuses_others(capsys: pytest.CaptureFixture[str]) -> None:
    last = run_dir(cli("fit", *FAST, "--model.class_weights=balanced")) / "checkpoints" / "last.ckpt"
    other = "[1,1,1,1,1,1,1,1,1,2]"

    resumed = cli("fit", *FAST, "--trainer.max_epochs=2", f"--ckpt_path={last}")
    with pytest.raises(SystemExit):
        cli("fit", *FAST, "--trainer.max_epochs=3", f"--ckpt_path={last}", f"--model.class_weights={other}")

    assert resumed.model.class_weights == "balanced" and resumed.model.loss_weights is not None
    err = capsys.readouterr().err
    assert "resumes a run trained with model.class_weights = 'balanced', but this command gives [1.0," in err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[1,2]", "error: class_weights has 2 weights for 10 classes: one per class\n"),
        ("[-1,2]", "error: invalid configuration: class_weights must be one number of at least 0 per class"),
        ("heavy", "error: --model.class_weights: 'heavy' is not a list or one of balanced\n"),
    ],
)
def test_bad_weights_are_one_error_line_before_any_epoch(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *FAST, f"--model.class_weights={value}")

    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message) and captured.err.count("\n") == 1, captured.err
    assert "epoch 1" not in captured.out


def test_balanced_weights_need_data_that_lists_its_labels() -> None:
    loader = DataLoader(TensorDataset(torch.rand(8, 1, 8, 8), torch.arange(8) % 2), batch_size=4)
    module = ClassifierModule(SmallCNN(), num_classes=2, class_weights="balanced")
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)

    with pytest.raises(
        ConfigError, match="class_weights=balanced counts the training split's labels, which "
    ):
        trainer.fit(module, train_dataloaders=loader)
