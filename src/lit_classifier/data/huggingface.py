"""Hugging Face data sets (``datasets``): a hub name, a ``save_to_disk`` folder, parquet or arrow files.

    lit-classifier fit --data lit_classifier.HuggingFaceDataModule --data.path cifar10 \\
        --data.image_column img --data.image_size 32
    lit-classifier fit --data lit_classifier.HuggingFaceDataModule --data.path imagefolder \\
        --data.data_dir photos

``datasets`` reads and caches the data (``pip install lit-classifier[hf]``; imported only here,
when the splits are read). The images stay encoded in the Arrow tables (the image column is read
with ``decode=False``) and are decoded one by one in the loader's workers, as image folders are
(``base.EncodedImagesDataModule``). Class names come from the label column's ``ClassLabel``
feature (a column of other values is class-encoded first, its values sorted).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor
from torch.utils.data import Dataset

from lit_classifier.checkpoints.io import is_local
from lit_classifier.data.base import EncodedImagesDataModule
from lit_classifier.data.decode import Decoder
from lit_classifier.data.splits import check_fraction, check_labels, random_split_indices
from lit_classifier.errors import ConfigError, DataError, UnavailableError, short_repr
from lit_classifier.specs import strings_in

TABLE_FORMATS = {".parquet": "parquet", ".arrow": "arrow"}
#: The files of a data set folder that ``datasets`` reads its ``configs`` (which files make up the
#: set) from: the card's YAML front matter, and a standalone YAML file read over it.
CARD_FILES = ("README.md", ".huggingface.yaml")
#: What ``datasets.Image`` reads as an image besides its own type: encoded bytes, or a file's path.
_ENCODED_IMAGE_TYPES = ("binary", "large_binary", "string", "large_string")


def refuse_loading_scripts(local: Path, path: str) -> None:
    """A data set that comes with a loading script (a ``.py`` file) is code, not data: refused.

    ``datasets`` no longer runs such scripts and ``trust_remote_code`` is never passed; this says
    so in one line before ``datasets`` is asked, for a folder and for a script named directly.
    """
    scripts = [local] if local.suffix == ".py" else sorted(local.glob("*.py")) if local.is_dir() else []
    if scripts:
        raise ConfigError(
            f"{path}: a data set with a loading script ({scripts[0].name}) runs code to load, so it is not "
            "read; load only its data files (parquet, arrow, an image folder) or a save_to_disk() folder"
        )


def refuse_remote_data_files(local: Path) -> None:
    """A folder's data set card may list data files by URL (``configs: - data_files: https://...``,
    ``hf://...``), which ``datasets`` would fetch. A folder is read from this machine only, whoever
    named it (the user, or a checkpoint's record), so such a card is refused, naming it, before
    ``datasets`` is asked; data from the hub is read by naming a hub set (``--data.path user/set``)."""
    from huggingface_hub import metadata_load

    for card in (local / name for name in CARD_FILES):
        if not card.is_file():
            continue
        try:
            fields = metadata_load(card) if card.suffix == ".md" else yaml.safe_load(card.read_text())
        except (yaml.YAMLError, ValueError) as error:
            raise DataError(f"{card}: its YAML does not parse ({_first_line(error)})") from None
        configs = fields.get("configs") if isinstance(fields, dict) else None
        for config in configs if isinstance(configs, list) else []:
            for location in strings_in(config.get("data_files") if isinstance(config, dict) else None):
                if not is_local(location):
                    raise DataError(
                        f"{card}: its configs list the data file {short_repr(location)}, which is not on "
                        "this machine, and a folder is read from this machine only: download the file into "
                        "the folder and list it by its path there"
                    )


class EncodedRows(Dataset):
    """Rows of a ``datasets.Dataset`` whose image column holds encoded bytes (or a file path)."""

    def __init__(self, rows: Any, image_column: str, label_column: str, decoder: Decoder) -> None:
        self.rows, self.decoder = rows, decoder
        self.image_column, self.label_column = image_column, label_column

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> list[int]:
        return [int(label) for label in self.rows[self.label_column]]

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image, label = self.encoded(index)  # decoded here, in the loader's worker
        return self.decoder(image, f"row {index} of {self.image_column}"), label

    def encoded(self, index: int) -> tuple[bytes, int]:
        """The image's stored bytes and its label (what a conversion to streaming chunks keeps)."""
        row = self.rows[index]
        image = row[self.image_column]
        if image is None:
            raise DataError(f"row {index} of {self.image_column} holds no image")
        if image["bytes"] is not None:
            return image["bytes"], int(row[self.label_column])
        try:  # a file the row names, as the imagefolder builder stores them
            return Path(image["path"]).read_bytes(), int(row[self.label_column])
        except OSError as error:
            raise DataError(
                f"cannot read image {image['path']} of row {index} of {self.image_column}: "
                f"{error.strerror or error}"
            ) from None


@contextmanager
def datasets_progress_off() -> Iterator[None]:
    """``datasets``' progress bars ("Generating train split", "Casting to class labels") off inside
    the block, as before after it: reading a set is no part of a run's output. Also a decorator."""
    import datasets

    was_on = not datasets.are_progress_bars_disabled()
    if was_on:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_on:
            datasets.enable_progress_bars()


class HuggingFaceDataModule(EncodedImagesDataModule):
    """An image classification set read by Hugging Face ``datasets``.

    Args:
        path: a hub name (``cifar10``, ``user/set``), a folder written by ``save_to_disk``, a
            ``.parquet`` or ``.arrow`` file (or a glob of them), or a builder such as ``imagefolder``.
        name: the hub set's configuration, if it has several.
        data_dir: the files of a builder (``imagefolder``: the folder of class folders).
        image_column: the column of images.
        label_column: the column of labels (a ``ClassLabel`` gives the class names).
        train_split: the split to train on.
        val_split: the split to validate on; ``None`` or absent: ``val_fraction`` of the training
            split, held out with the seed.
        test_split: the split to test on; ``None`` or absent: the validation split.
        val_fraction: share of the training split held out when there is no validation split.
        channels: 3 (colour) or 1 (gray): what every image is converted to.
        cache_dir: where ``datasets`` keeps downloads and Arrow files (``None``: its default).
        image_size: side of the square the network sees.
        **kwargs: the other options of ``EncodedImagesDataModule`` (``resize``, ``augment``, ``mean``,
            ``std``, ``batch_size``, ``seed``, ...).
    """

    def __init__(
        self,
        path: str,
        *,
        name: str | None = None,
        data_dir: str | None = None,
        image_column: str = "image",
        label_column: str = "label",
        train_split: str = "train",
        val_split: str | None = "validation",
        test_split: str | None = "test",
        val_fraction: float = 0.1,
        channels: int = 3,
        cache_dir: str | None = None,
        image_size: int = 224,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_size=image_size, **kwargs)
        check_fraction("val_fraction", val_fraction)
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {channels}")
        self.path, self.name, self.data_dir = path, name, data_dir
        self.image_column, self.label_column = image_column, label_column
        self.train_split = train_split
        self.split_names = {"val": val_split, "test": test_split}
        self.val_fraction = val_fraction
        self._channels = channels
        self.cache_dir = cache_dir

    @property
    def channels(self) -> int:
        return self._channels

    @datasets_progress_off()
    def load_splits(self) -> Mapping[str, Dataset]:
        from datasets import Image

        tables = self._load()
        train_name = self.train_split
        if train_name not in tables:
            raise ConfigError(f"{self.path} has no split {train_name!r}; it has {', '.join(tables)}")
        used = {train_name, *self.split_names.values()}
        tables = {split: table for split, table in tables.items() if split in used}
        for split, table in tables.items():
            missing = {self.image_column, self.label_column} - set(table.column_names)
            if missing:
                raise ConfigError(
                    f"the {split} split of {self.path} has no column {', '.join(sorted(missing))}; its "
                    f"columns: {', '.join(table.column_names)} (set image_column and label_column)"
                )
            self._check_columns(split, table)
        tables = self._class_encoded(tables)
        columns = [self.image_column, self.label_column]
        rows = {
            split: table.select_columns(columns).cast_column(self.image_column, Image(decode=False))
            for split, table in tables.items()
        }
        self._class_names = [str(n) for n in rows[train_name].features[self.label_column].names]
        train = rows[train_name]
        val = rows.get(self.split_names["val"] or "")
        if val is None:
            rest, held_out = random_split_indices(len(train), (self.val_fraction,), seed=self.seed)
            train, val = train.select(rest.tolist()), train.select(held_out.tolist())
        test = rows.get(self.split_names["test"] or "", val)
        splits = {"train": train, "val": val, "test": test}
        for split, table in splits.items():
            labels = torch.as_tensor(table[self.label_column], dtype=torch.long)
            check_labels(labels, self.num_classes, f"the {split} split of {self.path}")
        evaluation = self.decoder(train=False)
        return {
            split: EncodedRows(
                table,
                self.image_column,
                self.label_column,
                self.decoder(True) if split == "train" else evaluation,
            )
            for split, table in splits.items()
        }

    def _check_columns(self, split: str, table: Any) -> None:
        """The image column holds images (encoded bytes or their files) and the label column a class
        label in every row (a ``ClassLabel``, or values to class-encode): a ``DataError`` naming the
        column, else."""
        from datasets import ClassLabel, Image, Value

        image, label = (table.features[column] for column in (self.image_column, self.label_column))
        if not (
            isinstance(image, Image) or (isinstance(image, Value) and image.dtype in _ENCODED_IMAGE_TYPES)
        ):
            raise DataError(
                f"the {split} split of {self.path}: its image column {self.image_column!r} holds "
                f"{short_repr(image)}, not images (encoded image bytes or their files; set image_column)"
            )
        if not isinstance(label, ClassLabel | Value):
            raise DataError(
                f"the {split} split of {self.path}: its label column {self.label_column!r} holds "
                f"{short_repr(label)}, not class labels (one integer or string per row; set label_column)"
            )
        if None in table.unique(self.label_column):
            row = list(table[self.label_column]).index(None)
            raise DataError(
                f"row {row} of the {split} split of {self.path} has no label (its {self.label_column!r} "
                "is empty)"
            )

    def _class_encoded(self, tables: dict[str, Any]) -> dict[str, Any]:
        """Every split with the training split's ``ClassLabel`` as its label column. A column of other
        values is class-encoded on the training split (its values sorted), and each other split's values
        are looked up in those names: ``class_encode_column`` on each split would number each split's
        own values, so a split lacking a class would have its labels shifted."""
        from datasets import ClassLabel

        train = tables[self.train_split]
        if not isinstance(train.features[self.label_column], ClassLabel):
            train = train.class_encode_column(self.label_column)
        classes = train.features[self.label_column]
        return {
            split: train if split == self.train_split else self._with_classes(split, table, classes)
            for split, table in tables.items()
        }

    def _with_classes(self, split: str, table: Any, classes: Any) -> Any:
        """``table`` with its label column encoded as ``classes`` (a ``ClassLabel``), unless it is one."""
        from datasets import ClassLabel

        column = self.label_column
        if isinstance(table.features[column], ClassLabel):
            return table
        unknown = [value for value in table.unique(column) if str(value) not in classes.names]
        if unknown:
            raise DataError(
                f"the {split} split of {self.path} has the label {short_repr(unknown[0])}, which the "
                f"{self.train_split} split has not (its classes: {', '.join(classes.names)})"
            )
        features = table.features.copy()
        features[column] = classes
        return table.map(
            lambda rows: {column: classes.str2int([str(value) for value in rows[column]])},
            batched=True,
            features=features,
        )

    def _load(self) -> dict[str, Any]:
        """Every split of the set, by name: ``datasets`` reads a saved folder, tables, or a hub set."""
        import datasets

        local = Path(self.path).expanduser()
        refuse_loading_scripts(local, self.path)
        try:
            if local.is_dir() and any((local / f).exists() for f in ("dataset_dict.json", "state.json")):
                loaded = datasets.load_from_disk(str(local))
            elif local.suffix in TABLE_FORMATS:
                files = {self.train_split: str(local)}
                loaded = datasets.load_dataset(
                    TABLE_FORMATS[local.suffix], data_files=files, cache_dir=self.cache_dir
                )
            else:
                if local.is_dir():  # a folder of data files, which its card may list
                    refuse_remote_data_files(local)
                loaded = datasets.load_dataset(
                    self.path, self.name, data_dir=self.data_dir, cache_dir=self.cache_dir
                )
        except (ConnectionError, OSError) as error:  # offline, no such set, unreadable files
            raise UnavailableError(
                f"cannot load the Hugging Face data set {self.path!r} ({_first_line(error)}): with no "
                "network, run once where there is one (datasets caches it), or save_to_disk() it there and "
                "pass that folder as --data.path"
            ) from None
        except RuntimeError as error:  # datasets refuses it, e.g. a hub set that needs a loading script
            raise UnavailableError(
                f"cannot load the Hugging Face data set {self.path!r}: {_first_line(error)}"
            ) from None
        if isinstance(loaded, datasets.Dataset):
            return {self.train_split: loaded}
        return dict(loaded)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
