"""The commands: ``lit-classifier`` (LightningCLI: ``cli``, its parser, help and one-line usage
errors), what ``--ckpt_path`` brings into a command (``resume``), ``lit-classifier-lr-find`` and
``lit-classifier-plot``, and what every command shares: quiet output and a clean end of a
multi-process run."""
