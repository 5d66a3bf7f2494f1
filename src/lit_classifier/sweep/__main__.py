"""``python -m lit_classifier.sweep``: the ``lit-classifier-sweep`` command (DDP's other processes
start this way when the sweep itself did)."""

from lit_classifier.sweep.command import main

main()
