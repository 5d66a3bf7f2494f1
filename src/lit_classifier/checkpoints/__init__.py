"""Checkpoints and run folders, read as untrusted data.

- ``io``: checkpoint files written whole, and loads that read plain data and say what a bad file is;
- ``record``: what a checkpoint carries besides its weights (class names, image shape, how its
  network and data module were built), checked when read;
- ``load``: a module rebuilt from a checkpoint, and the checks that it fits the network and data;
- ``trust``: what a file may ask the package to build (the allowlist);
- ``runs``: the run folder (``runs/lightning_logs/version_N``): its checkpoints, config and metrics.
"""
