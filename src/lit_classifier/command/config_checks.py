"""Checks of a command's whole configuration, and of its config files, made before anything is built
or loaded.

Each value here is valid on its own, so no class refuses it; the command it is part of would
still waste the user's time or mislead them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from jsonargparse import Namespace

from lit_classifier.errors import ConfigError


def check_command(config: Namespace, subcommand: str, ckpt_path: str | None) -> None:
    """Refuse a ``fit`` that would train nothing, and a ``predict`` with untrained weights."""
    if subcommand == "fit":
        epochs = config.get("trainer.max_epochs")
        if epochs is not None and epochs != -1 and epochs < 1:
            raise ConfigError(
                f"--trainer.max_epochs {epochs} trains nothing: give 1 or more (or -1 to train until "
                "--trainer.max_steps or an interrupt)"
            )
    network = config.get("model.init_args.model")
    if subcommand == "predict" and ckpt_path is None and not is_pretrained(network):
        raise ConfigError(
            "predict needs --ckpt_path (a checkpoint written by lit-classifier fit, or --ckpt_path last): "
            "without one the network's weights are random, and so would be its predictions"
        )


def is_pretrained(network: object) -> bool:
    """Whether a network's configuration asks for pretrained weights (``weights`` / ``pretrained``)."""
    init_args = network.get("init_args") if isinstance(network, Namespace) else None
    if not isinstance(init_args, Namespace):
        return False
    weights = init_args.get("weights")
    return bool(init_args.get("pretrained")) or weights not in (None, "None", "none", "null")


def check_config_files(words: Sequence[str]) -> None:
    """Name a ``--config`` file (of ``words``, the command line) that is empty or is no mapping of
    options: jsonargparse reports it as "Unexpected config" without saying which file."""
    for index, word in enumerate(words):
        key, equals, value = word.partition("=")
        if key not in ("--config", "-c"):
            continue
        path = Path(value if equals else (words[index + 1] if index + 1 < len(words) else ""))
        try:
            content = yaml.safe_load(path.read_text()) if path.is_file() else {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # unreadable or not YAML: the rules above report it
        if not isinstance(content, dict):
            holds = "is empty" if content is None else f"holds a {type(content).__name__}, not options"
            raise ConfigError(
                f"--config {path}: the file {holds}; a config is a YAML mapping of options, as "
                "--print_config writes it"
            )
