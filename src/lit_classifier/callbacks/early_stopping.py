"""Early stopping as an option of every run: ``--early_stopping.patience 3`` stops training once the
validation loss has not improved for three epochs; off unless a patience is given."""

from __future__ import annotations

from typing import Any, Literal

from jsonargparse.typing import NonNegativeInt
from lightning.pytorch.callbacks import EarlyStopping


class EarlyStop(EarlyStopping):
    """Lightning's ``EarlyStopping``, asked for by its ``patience``.

    The run says why and at which epoch it stopped, and where the best epoch's checkpoint
    (``best.ckpt``) is kept; the monitor is checked against the metrics the module logs before any
    work (a misspelt ``val_los`` is refused with a did-you-mean).

    Args:
        patience: validation epochs without improvement before training stops; ``None``: it never
            stops early.
        monitor: the metric watched, one the module logs at the end of each validation.
        mode: ``"min"``: lower is better; ``"max"``: higher is. ``None``: ``"min"`` for a loss,
            ``"max"`` for any other metric (accuracies).
        min_delta: the least change of ``monitor`` that counts as an improvement.
        kwargs: any other option of Lightning's ``EarlyStopping`` (``stopping_threshold``, ...).
    """

    def __init__(
        self,
        patience: NonNegativeInt | None = None,
        monitor: str = "val_loss",
        mode: Literal["min", "max"] | None = None,
        min_delta: float = 0.0,
        **kwargs: Any,
    ) -> None:
        self.asked = patience is not None
        mode = mode or ("min" if monitor.endswith("loss") else "max")
        # A plain int: jsonargparse's NonNegativeInt would be saved in the checkpoint as its class,
        # which a weights-only load refuses.
        patience = 0 if patience is None else int(patience)
        super().__init__(monitor=monitor, patience=patience, mode=mode, min_delta=min_delta, **kwargs)

    @property
    def asked_for(self) -> bool:
        return self.asked
