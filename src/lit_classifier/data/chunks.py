"""Splits written as litdata's optimized chunks, and read back: what ``StreamingDataModule`` streams.

A converted data set is a folder (local, or a URL of an object store such as ``s3://bucket/set``)
holding one litdata data set per split and one for what the model must know about the data::

    <output>/train/   index.json + chunk-*.bin: {"image": encoded bytes, "label": int} per sample
    <output>/val/
    <output>/test/    only when the source has a test split of its own
    <output>/info/    one sample: class names, image shape (C, H, W), per-channel mean and std

Everything is written by ``litdata.optimize`` and read by ``litdata.StreamingDataset``, so every
storage that litdata reaches (local disks, S3, GCS, Azure, ...) holds the info beside the images,
with no storage client of our own. Images are kept encoded: the files' own bytes for image folders
and Hugging Face sets (no re-encoding, no loss), PNG for sets held as tensors (lossless).
litdata is imported here, inside the functions, so that the package's default path never does.

Chunks are untrusted input: litdata decodes each field with the serializer its ``index.json``
names, and its ``pickle`` serializer (like ``graph``'s fallback) runs whatever the chunk's author
pickled. So every split's index is checked before a sample is read (``check_chunks``): only
serializers that turn bytes into bytes, text or numbers are read, unless the user trusts the data.
``lit-classifier-optimize`` writes only those.
"""

from __future__ import annotations

import io
import json
import multiprocessing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image
from torch.utils.data import Dataset

from lit_classifier.checkpoints.io import is_local
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.interfaces import StoresEncoded
from lit_classifier.data.splits import ImageTensors
from lit_classifier.errors import DataError
from lit_classifier.framework import make_sole_reader
from lit_classifier.outputs import replaced_folder

if TYPE_CHECKING:
    from litdata import StreamingDataset

SPLITS = ("train", "val", "test")

#: litdata serializers that give bytes, text or numbers and run nothing: images as their encoded
#: bytes (``bytes``, or ``file:png`` and the like), labels as ``int``, the info as JSON text (``str``).
SAFE_SERIALIZERS = frozenset({"bytes", "file", "str", "text", "int", "float", "bool"})
TRUSTED_DATA_HINT = "--data.trusted_data true (Python: trusted_data=True)"


@dataclass(frozen=True)
class DataInfo:
    """What a model trained on the chunks must know: stored beside them, in ``<output>/info``."""

    class_names: list[str]
    shape: tuple[int, int, int]  # (channels, height, width) that the source data module gave the network
    mean: tuple[float, ...]
    std: tuple[float, ...]


def split_dir(root: str, split: str) -> str:
    """``root/split`` for a local folder and for a URL alike."""
    return f"{root.rstrip('/')}/{split}"


def encoded_sample(dataset: Dataset, index: int) -> tuple[bytes, int]:
    """Sample ``index`` of a split as (encoded image bytes, label): the split's own ``encoded`` (image
    files and Hugging Face sets keep their bytes), or PNG from a split of image tensors."""
    if isinstance(dataset, StoresEncoded):
        return dataset.encoded(index)
    if not isinstance(dataset, ImageTensors):
        raise DataError(
            f"{type(dataset).__name__} holds neither image files nor image tensors: it cannot be written "
            "as encoded images"
        )
    pixels = dataset.images[index]
    if pixels.is_floating_point():  # stored as [0, 1]
        pixels = (pixels * 255).round()
    array = pixels.clamp(0, 255).byte().permute(1, 2, 0).squeeze(2).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue(), int(dataset.labels[index])


class EncodeSample:
    """``litdata.optimize``'s function: an index of ``dataset`` to the sample stored in the chunks."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __call__(self, index: int) -> dict[str, Any]:
        image, label = encoded_sample(self.dataset, index)
        return {"image": bytes(image), "label": int(label)}  # litdata's bytes and int serializers


class InfoSample:
    """``litdata.optimize``'s function for ``<output>/info``: its one sample, as JSON text."""

    def __init__(self, info: DataInfo) -> None:
        self.text = json.dumps(asdict(info))

    def __call__(self, index: int) -> dict[str, str]:
        return {"info": self.text}


def write_chunks(
    splits: dict[str, Dataset], info: DataInfo, output_dir: str, num_workers: int, chunk_bytes: str
) -> None:
    """Write each split to ``output_dir/<split>`` and ``info`` to ``output_dir/info``, replacing what
    was there. A local folder is replaced whole (``outputs.replaced_folder``): no split of an
    earlier conversion is kept, and a conversion that fails or is killed leaves the earlier one as
    it was. An object store is written split by split, in place."""
    if not is_local(output_dir):
        _write_splits(splits, info, output_dir, num_workers, chunk_bytes)
        return
    with replaced_folder(Path(output_dir)) as staging:
        _write_splits(splits, info, str(staging), num_workers, chunk_bytes)


def optimize_data(
    data: ClassificationDataModule, output_dir: str, num_workers: int = 1, chunk_bytes: str = "64MB"
) -> DataInfo:
    """Write ``data``'s train, val and (if it has its own) test split as chunks under ``output_dir``.

    Args:
        data: the data module whose splits are written; ``setup`` is called here.
        output_dir: a local folder or an object-store URL (``s3://bucket/path``); overwritten.
        num_workers: processes that encode and write the samples.
        chunk_bytes: size of one chunk file: what a process fetches at once when streaming.
    """
    data.setup("fit")
    splits = {name: dataset for name, dataset in data.splits.items() if name in SPLITS}
    if splits.get("test") is splits.get("val"):  # test is val: StreamingDataModule falls back alike
        splits.pop("test", None)
    info = DataInfo(list(data.class_names), data.dims, tuple(data.mean), tuple(data.std))
    write_chunks(splits, info, output_dir, num_workers, chunk_bytes)
    return info


def _write_splits(
    splits: dict[str, Dataset], info: DataInfo, output_dir: str, num_workers: int, chunk_bytes: str
) -> None:
    from litdata import optimize

    # Fork where there is fork: the workers need no fresh interpreter (nothing here holds a GPU or a
    # thread pool), and spawning one re-imports torch for seconds per worker.
    fork = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    options = {"mode": "overwrite", "verbose": False, "start_method": fork}
    for split, dataset in splits.items():
        inputs = list(range(len(dataset)))  # type: ignore[arg-type]
        workers = max(1, min(num_workers, len(inputs)))
        optimize(
            EncodeSample(dataset),
            inputs,
            split_dir(output_dir, split),
            num_workers=workers,
            chunk_bytes=chunk_bytes,
            **options,
        )
    optimize(InfoSample(info), [0], split_dir(output_dir, "info"), num_workers=1, chunk_size=1, **options)


def check_chunks(dataset: StreamingDataset, where: str, trusted_data: bool = False) -> None:
    """Check the chunks of ``dataset`` (read from ``where``) before a sample is read from them.

    - Their index must name only ``SAFE_SERIALIZERS`` (unless ``trusted_data``): reading a field of
      another serializer may run code. The index is the one litdata itself reads (for an object
      store, its copy in the cache).
    - In a local folder, every chunk the index lists must be there, whole: litdata would wait for a
      missing or cut file as for a download, then time out naming neither.
    """
    folder = Path(dataset.input_dir.path or where)
    try:
        index = json.loads((folder / "index.json").read_text())
        config, chunks = index["config"], list(index["chunks"])
        formats = [str(name) for name in config["data_format"]]
        sizes = {str(chunk["filename"]): int(chunk["chunk_bytes"]) for chunk in chunks}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{where}: cannot read its index.json ({error})") from None
    if not trusted_data:
        _check_serializers(config, formats, list(sizes), where)
    if Path(where).is_dir():
        for name, size in sizes.items():
            found = (folder / name).stat().st_size if (folder / name).is_file() else None
            if found != size:
                state = "is missing" if found is None else f"has {found} of its {size} bytes"
                raise DataError(
                    f"{where}: chunk {name} {state}: the folder was not written whole (convert it again)"
                )


def _check_serializers(config: dict[str, Any], formats: list[str], chunks: list[str], where: str) -> None:
    fields = list(config.get("types") or {})
    if len(fields) != len(formats):  # an older litdata records no field names
        fields = [f"field {n}" for n in range(len(formats))]
    unsafe = [(field, name) for field, name in zip(fields, formats, strict=True) if not _safe(name)]
    if unsafe:
        field, name = unsafe[0]
        first = chunks[0] if chunks else "its chunks"
        more = f" (and {len(chunks) - 1} more)" if len(chunks) > 1 else ""
        raise DataError(
            f"{where}: refused to read {first}{more}: it stores {field!r} with litdata's {name!r} "
            "serializer, which can run code when read. Convert the data with lit-classifier-optimize "
            "(images as bytes, labels as ints), or if you made these chunks yourself, pass "
            f"{TRUSTED_DATA_HINT}"
        )


def _safe(serializer: str) -> bool:
    return serializer.split(":", 1)[0] in SAFE_SERIALIZERS


def read_alone(dataset: StreamingDataset) -> StreamingDataset:
    """``dataset`` (a ``StreamingDataset``) iterated whole by this process, whatever the process group.

    litdata gives each process its share of a data set, and counts the processes from the process
    group or from the ``WORLD_SIZE`` variable, which Lightning's DDP launcher and torchrun set in every
    process before the command builds its data module. Shares are whole batches, and with several
    processes litdata drops what is left over: shared out, the one sample of ``<output>/info`` reaches
    no process at all, while every process needs it. So this dataset is told it has one reader.
    """
    make_sole_reader(dataset)
    dataset.set_drop_last(False)
    return dataset


def read_info(input_dir: str, cache_dir: str | None = None, trusted_data: bool = False) -> DataInfo:
    """The ``DataInfo`` stored with the chunks under ``input_dir`` (``cache_dir``: for a remote copy);
    ``trusted_data``: read it whatever serializer it was written with."""
    from litdata import StreamingDataset

    where = split_dir(input_dir, "info")
    try:
        stored = StreamingDataset(where, cache_dir=split_dir(cache_dir, "info") if cache_dir else None)
        check_chunks(stored, where, trusted_data)
        # Iterated, not indexed: iteration fetches whole chunks from any store (litdata's byte-range
        # reads for indexing fail on its `local:` scheme).
        fields = json.loads(next(iter(read_alone(stored)))["info"])
        return DataInfo(
            class_names=[str(name) for name in fields["class_names"]],
            shape=(int(fields["shape"][0]), int(fields["shape"][1]), int(fields["shape"][2])),
            mean=tuple(float(v) for v in fields["mean"]),
            std=tuple(float(v) for v in fields["std"]),
        )
    except DataError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, StopIteration) as error:
        raise DataError(
            f"no data info at {where} ({error}): convert the data first, e.g. lit-classifier-optimize "
            f"--data lit_classifier.ImageFolderDataModule --data.root photos --output_dir {input_dir}"
        ) from None
