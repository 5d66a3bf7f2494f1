"""``lit-classifier-optimize``: write any data module's splits as litdata chunks, for ``StreamingDataModule``.

    lit-classifier-optimize --data lit_classifier.ImageFolderDataModule --data.root photos \\
        --output_dir chunks/photos                       # or s3://my-bucket/photos
    lit-classifier-optimize --data lit_classifier.CIFAR10DataModule --data.data_dir data \\
        --output_dir s3://my-bucket/cifar10
    python -m lit_classifier.command.optimize --help

The data module is chosen and configured exactly as for ``lit-classifier fit --data ...``; its
splits (as it makes them: an image folder's seeded hold-out, CIFAR's carved validation) are
written with ``litdata.optimize`` in ``--num_workers`` processes, with the class names, image
shape and statistics beside them (``lit_classifier.data.chunks.optimize_data``). Object-store URLs
take litdata's credentials (for S3: the usual AWS environment variables or profile).
"""

from __future__ import annotations

import os

from jsonargparse import ArgumentParser

from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.chunks import optimize_data
from lit_classifier.errors import command_errors


def main(args: list[str] | None = None) -> None:
    """Entry point of ``lit-classifier-optimize``."""
    parser = ArgumentParser(prog="lit-classifier-optimize", description=__doc__.split("\n")[0])
    parser.add_subclass_arguments(ClassificationDataModule, "data", required=True)
    parser.add_argument("--output_dir", type=str, required=True, help="A local folder or object-store URL.")
    workers = max(1, (os.cpu_count() or 1) - 1)
    parser.add_argument("--num_workers", type=int, default=workers, help="Processes that write chunks.")
    parser.add_argument("--chunk_bytes", type=str, default="64MB", help="Size of one chunk file.")
    with command_errors():
        config = parser.instantiate(parser.parse_args(args))
        info = optimize_data(config.data, config.output_dir, config.num_workers, config.chunk_bytes)
    print(f"wrote {len(info.class_names)} classes of {info.shape} images to {config.output_dir}")


if __name__ == "__main__":
    main()
