"""The same seed gives the same run; the seed and the resolved config are kept with the run."""

from __future__ import annotations

import yaml

from helpers import FAST, cli, read_metrics, run_dir

RUN = [*FAST, "--trainer.max_epochs=2", "--trainer.deterministic=true", "--plots.enabled=false"]


def metrics_of(*args: str) -> list[dict[str, str]]:
    return read_metrics(run_dir(cli("fit", *RUN, *args)))


def test_same_seed_gives_the_same_metrics_twice() -> None:
    first, second = metrics_of(), metrics_of()

    assert len(first) == 2 * 2  # a train row and a val row per epoch
    assert first == second


def test_another_seed_gives_other_metrics() -> None:
    assert metrics_of("--seed_everything=0") != metrics_of("--seed_everything=1")


def test_run_folder_keeps_the_seed_and_the_resolved_config() -> None:
    folder = run_dir(cli("fit", *RUN, "--seed_everything=7", "--model.optimizer.lr=0.02"))

    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["seed_everything"] == 7
    assert config["model"]["init_args"]["optimizer"]["init_args"]["lr"] == 0.02
    assert config["model"]["init_args"]["model"]["class_path"] == "lit_classifier.models.SmallCNN"
    assert config["data"]["class_path"] == "lit_classifier.DigitsDataModule"
    assert config["trainer"]["max_epochs"] == 2
    assert config["trainer"]["deterministic"] is True
