"""Label checks at ``setup``: a bad label becomes a message naming it, not a CUDA device-side assert.

``cross_entropy`` on a GPU given a label outside ``[0, num_classes)`` stops the process with an
assert that names neither the value nor the file; on the CPU it fails in the middle of an epoch.
One ``min``/``max`` over a split's labels when it is loaded costs nothing next to that.
"""

from __future__ import annotations

from torch import Tensor

from lit_classifier.errors import DataError


def check_labels(labels: Tensor, num_classes: int, where: str) -> None:
    """Raise ``DataError`` naming the first label outside ``[0, num_classes)`` and ``where`` it is."""
    if len(labels) == 0:
        return
    bad = (labels < 0) | (labels >= num_classes)
    if bool(bad.any()):
        position = int(bad.nonzero()[0, 0])
        raise DataError(
            f"label {int(labels[position])} of sample {position} in {where} is outside "
            f"[0, {num_classes}): the data set has {num_classes} classes"
        )
