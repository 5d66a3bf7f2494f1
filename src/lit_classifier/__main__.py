"""``python -m lit_classifier`` is the ``lit-classifier`` command."""

from lit_classifier.command.cli import main

main()
