"""Image files are checked before use: an oversized or broken file is named, and checking stays small."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from PIL import Image

from data_files import write_blank_png, write_image_folder
from lit_classifier import ImageFolderDataModule
from lit_classifier.data import ImageFolderError, UnreadableImageWarning
from lit_classifier.data.images import readable


def test_a_decompression_bomb_in_a_class_folder_is_skipped_naming_its_path_and_pixel_count(
    tmp_path: Path,
) -> None:
    write_image_folder(tmp_path)
    bomb = write_blank_png(tmp_path / "cat" / "huge.png", 20_000, 20_000)  # 400 million pixels
    data = ImageFolderDataModule(str(tmp_path), image_size=16)

    with pytest.warns(UnreadableImageWarning) as reports:
        data.setup("fit")

    messages = [str(report.message) for report in reports if report.category is UnreadableImageWarning]
    assert len(messages) == 1
    assert messages[0].startswith(f"skipping unreadable image {bomb}: ") and "400000000 pixels" in messages[0]
    kept = [path for path, _ in [*data.train_set.samples, *data.val_set.samples]]  # type: ignore[union-attr]
    assert bomb not in kept and len(kept) == 18


def test_with_strict_a_decompression_bomb_stops_setup_naming_it(tmp_path: Path) -> None:
    write_image_folder(tmp_path)
    bomb = write_blank_png(tmp_path / "dog" / "huge.png", 20_000, 20_000)
    data = ImageFolderDataModule(str(tmp_path), image_size=16, strict=True)

    with pytest.raises(ImageFolderError, match=re.escape(f"cannot read image {bomb}: Image size (400000000")):
        data.setup("fit")


def test_a_truncated_png_is_found_without_decoding_it(tmp_path: Path) -> None:
    whole = write_blank_png(tmp_path / "whole.png", 300, 200).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) - 20])  # the IEND chunk and the end of IDAT are gone

    with pytest.warns(UnreadableImageWarning, match=f"skipping unreadable image {cut}"):
        kept = readable([tmp_path / "whole.png", cut], strict=False)

    assert kept == [tmp_path / "whole.png"]


def peak_kib() -> int:
    """This process's peak resident memory since the last ``reset_peak()`` (Linux's VmHWM)."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # "5": reset the peak to the current size


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc peak reset")
def test_checking_large_pngs_does_not_decode_their_pixels(tmp_path: Path) -> None:
    # 169 million pixels each: under PIL's refusal limit, so a full decode would take 169 MB apiece.
    large = [write_blank_png(tmp_path / f"{n}.png", 13_000, 13_000) for n in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # PIL's note above 89 M pixels
        reset_peak()
        before = peak_kib()
        kept = readable(large, strict=False)
        grown_mib = (peak_kib() - before) / 1024

    assert kept == large
    assert grown_mib < 64, f"checking grew the peak memory by {grown_mib:.0f} MiB"
