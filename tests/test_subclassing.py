"""The subclass examples of the README: each changes one thing, and each runs from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from helpers import FAST, cli, read_metrics, run_dir
from lit_classifier.examples import WeightedLossClassifier
from lit_classifier.models import SmallCNN

WEIGHTS = "[1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0]"


def test_weighted_loss_counts_only_the_weighted_classes() -> None:
    module = WeightedLossClassifier(SmallCNN(), num_classes=3, class_weights=[1.0, 0.0, 0.0])
    logits = torch.randn(6, 3)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])

    loss = module.criterion(logits, targets)

    only_class_0 = nn.functional.cross_entropy(logits[targets == 0], targets[targets == 0])
    torch.testing.assert_close(loss, only_class_0)


def test_weighted_loss_subclass_from_the_command_line() -> None:
    result = cli(
        "fit",
        *FAST,
        "--model=lit_classifier.examples.WeightedLossClassifier",
        f"--model.class_weights={WEIGHTS}",
        "--model.label_smoothing=0.1",
    )

    criterion = result.model.criterion
    assert criterion.weight.tolist() == [1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0]
    assert criterion.label_smoothing == 0.1
    checkpoint = run_dir(result) / "checkpoints" / "last.ckpt"
    reloaded = WeightedLossClassifier.load_from_checkpoint(checkpoint, weights_only=True)
    assert reloaded.criterion.weight.tolist() == criterion.weight.tolist()


def test_optimizer_override_decays_matrices_only_and_anneals_every_step() -> None:
    result = cli("fit", *FAST, "--model=lit_classifier.examples.AdamWNoDecayOnNormsClassifier")

    optimizer = result.trainer.optimizers[0]
    assert isinstance(optimizer, torch.optim.AdamW)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.05 and all(p.ndim >= 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and all(p.ndim < 2 for p in no_decay["params"])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # 3 of 3 cosine steps done


def test_added_metric_is_logged_once_per_validation_epoch() -> None:
    result = cli("fit", *FAST, "--trainer.max_epochs=2", "--model=lit_classifier.examples.F1Classifier")

    values = [float(row["val_f1"]) for row in read_metrics(run_dir(result)) if row.get("val_f1")]
    assert len(values) == 2
    assert all(0.0 <= value <= 1.0 for value in values)
    assert values[1] > values[0]  # the network learns between the two epochs


def test_readme_shows_the_examples_code_as_it_is() -> None:
    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    section = readme[readme.index("## Extend by subclassing") :]
    start = section.index("```python\n") + len("```python\n")
    block = section[start : section.index("\n```", start)]
    source = (repo / "src" / "lit_classifier" / "examples.py").read_text()

    shown = block[block.index("class WeightedLossClassifier") :]
    assert shown.strip() in source  # test_readme.py runs the block; these tests run the file
